import pytest
from hypothesis import given, strategies as st

from proxy.errors import DigestInvalid, NameInvalid, TagInvalid
from proxy.reference import (
    NAME_RE,
    normalize_name,
    parse_digest,
    validate_reference,
    validate_tag,
)

components = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
names = st.lists(components, min_size=1, max_size=4).map("/".join)


@given(names)
def test_generated_names_are_accepted(name: str) -> None:
    if len(name) <= 255:
        assert normalize_name("quay.io", name) == name


@given(st.text(min_size=1, max_size=60))
def test_any_text_is_either_valid_or_name_invalid(text: str) -> None:
    try:
        normalize_name("quay.io", text)
    except NameInvalid:
        assert NAME_RE.fullmatch(text) is None or len(text) > 255
    else:
        assert NAME_RE.fullmatch(text) is not None


@pytest.mark.parametrize("bad", ["", "..", "a/../b", "A", "a//b", "/a", "a/", "a..b", "-a", "a" * 256])
def test_bad_names_are_rejected(bad: str) -> None:
    with pytest.raises(NameInvalid):
        normalize_name("docker.io", bad)


def test_docker_hub_official_images_live_under_library() -> None:
    assert normalize_name("docker.io", "nginx") == "library/nginx"
    assert normalize_name("docker.io", "bitnami/nginx") == "bitnami/nginx"
    assert normalize_name("ghcr.io", "nginx") == "nginx"


@given(st.binary(min_size=32, max_size=32))
def test_sha256_digests_round_trip(raw: bytes) -> None:
    text = "sha256:" + raw.hex()
    assert str(parse_digest(text)) == text


@pytest.mark.parametrize(
    "bad",
    ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256" + "a" * 64,
     "sha512:" + "a" * 64, "sha256:" + "a" * 65, "sha256:../../etc/passwd"],
)
def test_bad_digests_are_rejected(bad: str) -> None:
    with pytest.raises(DigestInvalid):
        parse_digest(bad)


def test_sha512_is_accepted() -> None:
    assert parse_digest("sha512:" + "b" * 128).algorithm == "sha512"


@pytest.mark.parametrize("tag", ["latest", "1.27", "v1_2-3", "_x", "a" * 128])
def test_good_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a" * 129, "a/b", "a b"])
def test_bad_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)


def test_reference_is_digest_or_tag() -> None:
    assert str(validate_reference("sha256:" + "0" * 64)).startswith("sha256:")
    assert validate_reference("1.0") == "1.0"
