"""Operator-facing settings, password hashes and `kura mirror-config` output."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from proxy.__main__ import main
from proxy.api.access import ClientAuthenticator, check_repository
from proxy.config import ClientSettings, ConfigError, Secret, UpstreamSettings, load_settings
from proxy.errors import Denied
from proxy.passwords import hash_password, verify_password

# Made by passlib.hash.pbkdf2_sha256.hash("s3cret"): kura must verify passlib's hashes.
PASSLIB_HASH = "$pbkdf2-sha256$29000$q3XOOQdgbC2llNI6B4CQ0g$UhtbwwLOBsQ/VDnQlJeHLjUtQtBipJw/di0uxYn/6Yk"


def test_passlib_hashes_verify_and_new_hashes_use_its_format() -> None:
    assert verify_password("s3cret", PASSLIB_HASH) and not verify_password("s3cret!", PASSLIB_HASH)
    made = hash_password("pw", rounds=1000)
    assert made.startswith("$pbkdf2-sha256$1000$") and verify_password("pw", made)
    assert not verify_password("pw", "$pbkdf2-sha256$x$y$z") and not verify_password("pw", "plain")


def test_clients_from_toml_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "k.toml"
    config.write_text(f'[clients]\ntokens = ["t1"]\nusers = {{ ci = "{PASSLIB_HASH}" }}\n')
    clients = load_settings(config, env={}).clients
    assert clients.enabled and [t.value for t in clients.tokens] == ["t1"] and "ci" in clients.users
    env = {"KURA_CLIENTS_TOKENS": "a, b", "KURA_CLIENTS_USERS": f"ops:{PASSLIB_HASH}"}
    clients = load_settings(config, env=env).clients
    assert [t.value for t in clients.tokens] == ["a", "b"] and list(clients.users) == ["ops"]
    assert "t1" not in repr(load_settings(config, env={}))
    assert not load_settings(env={}).clients.enabled


def test_allow_and_deny_lists_from_toml_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "k.toml"
    config.write_text('[upstreams."docker.io"]\nallow = ["library/*"]\n')
    assert load_settings(config, env={}).default_upstream.allow == ("library/*",)
    env = {"KURA_UPSTREAMS_DOCKER_IO_DENY": "library/secret*, evil/*"}
    assert load_settings(config, env=env).default_upstream.deny == ("library/secret*", "evil/*")


@pytest.mark.parametrize("text,needle", [
    ("[server]\nlog_format = 'xml'\n", "log_format"),
    ("[server]\ntls_cert_file = '/nonexistent.pem'\n", "together"),
    ("[server]\ntls_cert_file = '/nonexistent.pem'\ntls_key_file = '/nonexistent.key'\n", "does not exist"),
    ("[server]\nmax_headers = 0\n", "max_headers"),
    ("[clients]\nusers = { a = 'plaintext' }\n", "hash-password"),
    ("[clients]\nbogus = 1\n", "clients.bogus"),
])
def test_invalid_serving_config_fails_with_one_clear_line(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "k.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_repository_rules_deny_wins_and_empty_allow_allows_all() -> None:
    upstream = UpstreamSettings("docker.io", allow=("library/*", "myorg/*"), deny=("myorg/secret",))
    check_repository(upstream, "library/nginx")
    check_repository(upstream, "myorg/app")
    for repo in ("myorg/secret", "other/app"):
        with pytest.raises(Denied) as info:
            check_repository(upstream, repo)
        assert repo in info.value.message
    check_repository(UpstreamSettings("docker.io"), "anyone/anything")


async def test_authenticator_accepts_tokens_users_and_token_as_basic_password() -> None:
    import base64
    auth = ClientAuthenticator(ClientSettings((Secret("tok"),), {"ci": PASSLIB_HASH}))

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    for header in ("Bearer tok", basic("ci", "s3cret"), basic("x", "tok")):
        assert await auth.verify(header)
    for header in ("Bearer nope", basic("ci", "wrong"), "Basic !!!", "Digest x", ""):
        assert not await auth.verify(header)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_containerd_hosts_toml_per_upstream_with_tls_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "k.toml"
    config.write_text('[upstreams."docker.io"]\n[upstreams."ghcr.io"]\nurl = "https://ghcr.io"\n')
    out = _run(capsys, "mirror-config", "containerd", "--config", str(config), "--url", "https://kura.example:5000",
               "--out", str(tmp_path / "certs.d"), "--ca", "/etc/kura/ca.crt")
    for registry, server in (("docker.io", "https://registry-1.docker.io"), ("ghcr.io", "https://ghcr.io")):
        hosts = tomllib.loads((tmp_path / "certs.d" / registry / "hosts.toml").read_text())
        assert hosts["server"] == server
        assert hosts["host"]["https://kura.example:5000"] == {
            "capabilities": ["pull", "resolve"], "ca": "/etc/kura/ca.crt"}
    assert out.count('config_path = "/etc/containerd/certs.d"') == 2
    assert 'io.containerd.grpc.v1.cri".registry' in out and 'io.containerd.cri.v1.images".registry' in out
    printed = _run(capsys, "mirror-config", "containerd", "--config", str(config), "--url", "http://k:5000",
                   "--registry", "ghcr.io", "--skip-verify")
    assert "ghcr.io/hosts.toml" in printed and "docker.io/hosts.toml" not in printed and "skip_verify = true" in printed


def test_docker_and_podman_fragments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert json.loads(_run(capsys, "mirror-config", "docker", "--url", "http://kura.internal:5000")) == {
        "registry-mirrors": ["http://kura.internal:5000"], "insecure-registries": ["kura.internal:5000"]}
    assert json.loads(_run(capsys, "mirror-config", "docker", "--url", "https://kura.internal")) == {
        "registry-mirrors": ["https://kura.internal"]}
    config = tmp_path / "k.toml"
    config.write_text('[upstreams."docker.io"]\n[upstreams."quay.io"]\nurl = "https://quay.io"\n')
    conf = tomllib.loads(_run(capsys, "mirror-config", "podman", "--config", str(config), "--url", "http://kura:5000"))
    registries = {r["prefix"]: r for r in conf["registry"]}
    assert registries["docker.io"]["location"] == "registry-1.docker.io"
    assert registries["docker.io"]["mirror"] == [{"location": "kura:5000", "insecure": True}]
    assert registries["quay.io"]["mirror"] == [{"location": "kura:5000/quay.io", "insecure": True}]


@pytest.mark.parametrize("argv", [
    ["--url", "ftp://x"], ["--url", "http://k:5000/path"], ["--url", "http://k", "--registry", "nope.io"],
    ["--url", "http://k", "--server", "bogus"],
])
def test_mirror_config_rejects_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mirror-config", "containerd", *argv]) == 2
    assert "kura:" in capsys.readouterr().err


def test_hash_password_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2\n"))
    hashed = _run(capsys, "hash-password", "--stdin").strip()
    assert verify_password("hunter2", hashed)
