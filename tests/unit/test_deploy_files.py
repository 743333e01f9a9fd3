"""The shipped Dockerfile and Kubernetes manifests: structure checked offline.

No base image can be pulled on the test machine, so `buildah bud` cannot run here; these
tests check what a build and `kubectl apply -k` rely on instead.
"""

from __future__ import annotations

import fnmatch
import shlex
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxy.__main__ import main
from proxy.config import load_settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "config" / "kubernetes"
REQUIRED = {
    "Namespace", "Secret", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service",
    "PodDisruptionBudget", "DaemonSet",
}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def last_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (op, _) in enumerate(instructions) if op == "FROM"]
    return instructions[starts[-1]:]


def test_dockerfile_runtime_stage_is_slim_non_root_with_data_volume_port_and_healthcheck() -> None:
    stage = dict(last_stage(dockerfile_instructions()))
    assert stage["FROM"].startswith("python:") and "-slim" in stage["FROM"]
    user = stage["USER"].split(":")[0]
    assert user not in ("root", "0")
    assert '"/data"' in stage["VOLUME"] and stage["EXPOSE"] == "5000"
    assert "/healthz" in stage["HEALTHCHECK"] and "CMD" in stage["HEALTHCHECK"]
    assert stage["STOPSIGNAL"] == "SIGTERM"
    assert '"kura"' in stage["ENTRYPOINT"] and '"serve"' in stage["CMD"]


def test_dockerfile_healthcheck_command_is_valid_python() -> None:
    healthcheck = dict(last_stage(dockerfile_instructions()))["HEALTHCHECK"]
    exec_form = yaml.safe_load(healthcheck.split("CMD", 1)[1].strip())
    assert exec_form[:2] == ["python", "-c"]
    compile(exec_form[2], "healthcheck", "exec")


def test_dockerfile_environment_is_a_valid_kura_configuration() -> None:
    env: dict[str, str] = {}
    for op, args in dockerfile_instructions():
        if op == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    settings = load_settings(REPO / "config" / "kura.toml", env=env)
    assert str(settings.cache_dir) == "/data" and settings.listen_port == 5000
    assert settings.log_format == "json"


def test_dockerfile_copies_only_what_exists_and_is_not_dockerignored() -> None:
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for op, args in dockerfile_instructions():
        if op != "COPY" or args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            assert (REPO / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source


def k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            assert isinstance(document, dict), path
            documents.append(document)
    return documents


def by_kind(kind: str) -> dict[str, Any]:
    (document,) = [d for d in k8s_documents() if d["kind"] == kind]
    return document


def test_every_manifest_has_api_version_kind_name_and_namespace() -> None:
    documents = k8s_documents()
    assert {d["kind"] for d in documents} == REQUIRED
    for document in documents:
        assert document["apiVersion"] and document["metadata"]["name"]
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == "kura"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert kustomization["namespace"] == "kura"


def pod_spec(kind: str) -> dict[str, Any]:
    workload = by_kind(kind)
    selector = workload["spec"]["selector"]["matchLabels"]
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    return workload["spec"]["template"]["spec"]


def test_deployment_probes_resources_cache_volume_and_locked_down_security() -> None:
    spec = pod_spec("Deployment")
    (container,) = spec["containers"]
    # Local readiness only: an upstream outage must not take kura out of its Service.
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz?local=1"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    cache = volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
    assert cache == by_kind("PersistentVolumeClaim")["metadata"]["name"]
    assert volumes[mounts["/etc/kura"]]["configMap"]["name"] == by_kind("ConfigMap")["metadata"]["name"]
    # kura's whole graceful stop fits in shutdown_grace_s; closing needs a little more.
    assert spec["terminationGracePeriodSeconds"] >= load_configmap_settings().shutdown_grace_s + 10


def test_secret_keys_referenced_by_workloads_exist() -> None:
    secret = by_kind("Secret")
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for container in pod_spec("Deployment")["containers"]:
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == secret["metadata"]["name"] and ref["key"] in keys


def load_configmap_settings() -> Any:
    return load_settings_from_text(by_kind("ConfigMap")["data"]["kura.toml"])


def load_settings_from_text(text: str) -> Any:
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as handle:
        handle.write(text)
        handle.flush()
        return load_settings(handle.name, env={})


def test_configmap_holds_a_valid_kura_toml_with_the_cache_on_the_volume() -> None:
    settings = load_configmap_settings()
    assert str(settings.cache_dir) == "/data" and settings.listen_port == 5000


def test_service_and_pdb_select_the_deployment_pods() -> None:
    labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = by_kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    (container,) = pod_spec("Deployment")["containers"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    assert by_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_daemonset_writes_generated_hosts_toml_into_the_node_certs_d() -> None:
    spec = pod_spec("DaemonSet")
    (writer,) = spec["initContainers"]
    assert writer["args"][:2] == ["mirror-config", "containerd"]
    out = writer["args"][writer["args"].index("--out") + 1]
    mounts = {m["mountPath"]: m["name"] for m in writer["volumeMounts"]}
    host = {v["name"]: v for v in spec["volumes"]}[mounts[out]]["hostPath"]["path"]
    assert host == "/etc/containerd/certs.d"
    url = {e["name"]: e["value"] for e in writer["env"]}["KURA_MIRROR_URL"]
    assert url.endswith(f":{by_kind('Service')['spec']['ports'][0]['nodePort']}")


@pytest.mark.parametrize("client", ["containerd", "docker", "podman"])
def test_mirror_config_runs_for_every_client(client: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["mirror-config", client, "--url", "http://kura.example:5000"]
    assert main(args) == 0
    output = capsys.readouterr().out
    assert "kura.example:5000" in output
