"""Wrong Basic passwords must not stall the event loop (PBKDF2 runs in bounded threads),
a repeated wrong password is refused from memory, and the right one still works."""

from __future__ import annotations

import asyncio
import base64
import threading
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from proxy import passwords
from proxy.api import access
from proxy.config import ClientSettings, ConfigError, Secret, load_settings
from proxy.passwords import MAX_ROUNDS, hash_password, verify_password
from tests.support.kura import kura_settings, running_kura
from tests.support.registry_client import fetch

# Slow enough that a few dozen verifications take seconds of CPU: the attack below
# outlasts a /healthz request by orders of magnitude, on any machine.
SLOW_ROUNDS = 150_000
RIGHT = "right-password"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Verifications:
    """Counts PBKDF2 runs, and how many ran at once."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.on_loop_thread = 0
        self._lock = threading.Lock()

    def __call__(self, password: str, hashed: str) -> bool:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            if threading.current_thread() is threading.main_thread():
                self.on_loop_thread += 1
        try:
            return verify_password(password, hashed)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Iterator[Verifications]:
    spy = Verifications()
    monkeypatch.setattr(access, "verify_password", spy)
    yield spy


def settings_with_user(cache_dir: Path, rounds: int):  # type: ignore[no-untyped-def]
    clients = ClientSettings(tokens=(Secret("tok"),), users={"bob": hash_password(RIGHT, rounds=rounds)})
    return replace(kura_settings(cache_dir, "http://127.0.0.1:9"), clients=clients)


async def test_wrong_passwords_do_not_stall_healthz(
    cache_dir: Path, client: aiohttp.ClientSession, verifications: Verifications
) -> None:
    attempts = 40
    async with running_kura(settings_with_user(cache_dir, SLOW_ROUNDS)) as kura:
        done: list[int] = []

        async def attack(i: int) -> None:
            reply = await fetch(client, "GET", kura.url + "/v2/", basic("bob", f"wrong{i}"))
            done.append(reply.status)

        tasks = [asyncio.create_task(attack(i)) for i in range(attempts)]
        while verifications.calls == 0:  # the attack has reached PBKDF2
            await asyncio.sleep(0.005)
        health = await fetch(client, "GET", kura.url + "/healthz")
        answered_before_health = len(done)
        await asyncio.gather(*tasks)
    assert health.status == 200
    # Ordering, not timing: /healthz is answered while most of the attack still waits
    # for its verification (before the fix, it waited for every one of them).
    assert answered_before_health < attempts // 2
    assert done == [401] * attempts
    assert verifications.on_loop_thread == 0
    assert verifications.most_at_once <= access.VERIFY_CONCURRENCY


async def test_repeated_wrong_password_is_refused_from_memory_and_right_one_still_works(
    cache_dir: Path, client: aiohttp.ClientSession, verifications: Verifications
) -> None:
    async with running_kura(settings_with_user(cache_dir, 1000)) as kura:
        for _ in range(10):
            assert (await fetch(client, "GET", kura.url + "/v2/", basic("bob", "wrong"))).status == 401
        assert verifications.calls == 1  # one PBKDF2 run for ten identical attempts
        # The cached refusal is of that header only: the right password is verified.
        assert (await fetch(client, "GET", kura.url + "/v2/", basic("bob", RIGHT))).status == 200
        assert verifications.calls == 2
        assert (await fetch(client, "GET", kura.url + "/v2/", basic("bob", RIGHT))).status == 200
        assert (await fetch(client, "GET", kura.url + "/v2/", basic("bob", "wrong"))).status == 401
        assert verifications.calls == 2
        # Tokens, as Bearer or as a Basic password, never reach PBKDF2.
        assert (await fetch(client, "GET", kura.url + "/v2/", {"Authorization": "Bearer tok"})).status == 200
        assert (await fetch(client, "GET", kura.url + "/v2/", basic("anyone", "tok"))).status == 200
        assert verifications.calls == 2


async def test_concurrent_identical_wrong_attempts_share_one_verification(
    verifications: Verifications,
) -> None:
    clients = ClientSettings(tokens=(), users={"bob": hash_password(RIGHT, rounds=50_000)})
    authenticator = access.ClientAuthenticator(clients)
    header = basic("bob", "wrong")["Authorization"]
    verdicts = await asyncio.gather(*(authenticator.verify(header) for _ in range(20)))
    assert verdicts == [False] * 20
    # The first few hold the slots; the rest find the verdict when their turn comes.
    assert verifications.calls <= access.VERIFY_CONCURRENCY


def test_hashes_with_absurd_rounds_are_refused_by_config_and_by_verification(tmp_path: Path) -> None:
    salt_and_key = hash_password("pw", rounds=1000).split("$", 3)[3]
    absurd = f"$pbkdf2-sha256${MAX_ROUNDS + 1}${salt_and_key}"
    config = tmp_path / "k.toml"
    config.write_text(f'[clients]\nusers = {{ ci = "{absurd}" }}\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config, env={})
    message = str(info.value)
    assert "rounds" in message and str(MAX_ROUNDS) in message and "\n" not in message
    with pytest.raises(ConfigError):
        load_settings(env={"KURA_CLIENTS_USERS": f"ops:{absurd}"})
    with pytest.raises(ConfigError) as info:
        load_settings(env={"KURA_CLIENTS_USERS": "ops:$pbkdf2-sha256$many$x$y"})
    assert "malformed" in str(info.value)
    assert not verify_password("pw", absurd)  # refused without running PBKDF2
    at_cap = hash_password("pw", rounds=1000).replace("$1000$", f"${passwords.MAX_ROUNDS}$")
    assert passwords.hash_rounds(at_cap) == MAX_ROUNDS
    config.write_text(f'[clients]\nusers = {{ ci = "{hash_password("pw", rounds=1000)}" }}\n')
    assert "ci" in load_settings(config, env={}).clients.users
