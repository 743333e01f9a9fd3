from pathlib import Path

import pytest

from proxy.config import ConfigError, load_settings
from proxy.errors import NameInvalid
from proxy.reference import ImageRef, parse_image


def test_admin_api_is_off_by_default() -> None:
    settings = load_settings(env={})
    assert settings.admin_token is None and settings.max_cache_bytes == 0 and settings.unused_ttl_s == 0


def test_admin_token_from_environment_wins_over_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    config = tmp_path / "k.toml"
    config.write_text(f'[admin]\ntoken_file = "{token_file}"\n[cache]\nmax_cache_bytes = 1000\n')
    assert load_settings(config, env={}).admin_token.value == "from-file"
    settings = load_settings(config, env={"KURA_ADMIN_TOKEN": "from-env", "KURA_CACHE_MAX_CACHE_BYTES": "5"})
    assert settings.admin_token.value == "from-env" and settings.max_cache_bytes == 5
    assert "from-env" not in repr(settings)


@pytest.mark.parametrize("text,needle", [
    ("[admin]\ntoken_file = '/nonexistent/token'\n", "admin.token_file"),
    ("[admin]\nlisten = 'nope'\n", "admin.listen"),
    ("[cache]\nmax_cache_bytes = -1\n", "max_cache_bytes"),
])
def test_invalid_admin_config_fails_with_one_line(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "k.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert needle in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text,expected", [
    ("nginx", ImageRef("docker.io", "library/nginx", "latest")),
    ("nginx:1.27", ImageRef("docker.io", "library/nginx", "1.27")),
    ("docker.io/bitnami/redis:7", ImageRef("docker.io", "bitnami/redis", "7")),
    ("ghcr.io/o/r:t", ImageRef("ghcr.io", "o/r", "t")),
    ("nginx@sha256:" + "a" * 64, ImageRef("docker.io", "library/nginx", "sha256:" + "a" * 64)),
])
def test_parse_image(text: str, expected: ImageRef) -> None:
    assert parse_image(text, ["docker.io", "ghcr.io"]) == expected


def test_parse_image_refuses_unconfigured_registry() -> None:
    with pytest.raises(NameInvalid):
        parse_image("quay.io/x/y:1", ["docker.io"])
