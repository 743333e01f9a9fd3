import base64
import json
from pathlib import Path

import pytest

from proxy.config import ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_listen_on_5000_cache_in_data_anonymous_docker_hub() -> None:
    settings = load_settings(env={})
    assert settings.listen_port == 5000 and settings.listen_host == "0.0.0.0"
    assert settings.cache_dir == Path("data")
    assert settings.default_upstream.url == "https://registry-1.docker.io"
    assert settings.default_upstream.credential is None


def test_shipped_config_file_equals_the_built_in_defaults() -> None:
    assert load_settings(REPO / "config" / "kura.toml", env={}) == Settings()


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = tmp_path / "k.toml"
    config.write_text('[cache]\ntag_ttl_s = 5\n[upstreams."ghcr.io"]\nurl = "https://ghcr.io"\n'
                      '[upstreams."docker.io"]\n')
    settings = load_settings(config, env={"KURA_CACHE_TAG_TTL_S": "7", "KURA_SERVER_LISTEN": "127.0.0.1:9",
                                          "KURA_UPSTREAMS_GHCR_IO_URL": "http://127.0.0.1:1"})
    assert settings.tag_ttl_s == 7.0
    assert settings.listen == "127.0.0.1:9"
    assert settings.upstreams["ghcr.io"].url == "http://127.0.0.1:1"


def test_credential_precedence(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text("from-file\n")
    docker_config = tmp_path / "config.json"
    docker_config.write_text(json.dumps(
        {"auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"dock:from-docker").decode()}}}))
    config = tmp_path / "k.toml"
    config.write_text(f'[upstreams."docker.io"]\nusername = "cfg"\npassword = "from-config"\n'
                      f'password_file = "{secret_file}"\ndocker_config = "{docker_config}"\n')
    env = {"KURA_UPSTREAM_USERNAME": "envuser", "KURA_UPSTREAM_PASSWORD": "from-env"}
    assert load_settings(config, env=env).default_upstream.credential.password.value == "from-env"
    assert load_settings(config, env={}).default_upstream.credential.password.value == "from-file"
    config.write_text(f'[upstreams."docker.io"]\ndocker_config = "{docker_config}"\n')
    credential = load_settings(config, env={}).default_upstream.credential
    assert (credential.username, credential.password.value) == ("dock", "from-docker")


def test_secrets_do_not_show_in_repr(tmp_path: Path) -> None:
    settings = load_settings(env={"KURA_UPSTREAM_USERNAME": "u", "KURA_UPSTREAM_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.default_upstream.credential)


@pytest.mark.parametrize(
    "text,needle",
    [
        ("[server]\nlisten = 'nope'\n", "server.listen"),
        ("[cache]\ntag_ttl_s = 'x'\n", "tag_ttl_s"),
        ("[cache]\nbogus = 1\n", "cache.bogus"),
        ("[whatever]\n", "[whatever]"),
        ("[upstreams.'docker.io']\nurl = 'ftp://x'\n", "invalid url"),
        ("[upstream]\ndefault = 'quay.io'\n", "upstream.default"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_invalid_config_fails_with_one_clear_line(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "k.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    assert needle in str(info.value) and "\n" not in str(info.value)
