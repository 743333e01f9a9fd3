import json

from proxy.mediatypes import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    manifest_children,
    media_type_from_body,
    parse_accept,
)


def test_containerd_accept_set() -> None:
    accept = parse_accept([f"{DOCKER_MANIFEST}, application/vnd.docker.distribution.manifest.list.v2+json, "
                           f"{OCI_MANIFEST}, {OCI_INDEX}, */*"])
    assert accept.accepts_anything and accept.key == "*"


def test_single_type_client_gets_a_narrow_key() -> None:
    accept = parse_accept([DOCKER_MANIFEST])
    assert accept.key == DOCKER_MANIFEST
    assert accept.allows(DOCKER_MANIFEST) and not accept.allows(OCI_INDEX)
    assert accept.upstream_header() == DOCKER_MANIFEST


def test_repeated_accept_headers_and_parameters() -> None:
    accept = parse_accept([f"{OCI_MANIFEST};q=0.9", f"{DOCKER_MANIFEST}"])
    assert accept.types == tuple(sorted([OCI_MANIFEST, DOCKER_MANIFEST]))


def test_children_of_manifest_and_index() -> None:
    manifest = {"config": {"digest": "sha256:c"}, "layers": [{"digest": "sha256:l1"}, {"digest": "sha256:l2"}]}
    assert [(c.digest, c.kind) for c in manifest_children(json.dumps(manifest).encode())] == [
        ("sha256:c", "blob"), ("sha256:l1", "blob"), ("sha256:l2", "blob")]
    index = {"manifests": [{"digest": "sha256:m1"}]}
    assert [(c.digest, c.kind) for c in manifest_children(json.dumps(index).encode())] == [("sha256:m1", "manifest")]
    assert manifest_children(b"not json") == []
    assert media_type_from_body(json.dumps(index).encode()) == OCI_INDEX
