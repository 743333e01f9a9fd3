"""Client password hashes in passlib's `$pbkdf2-sha256$<rounds>$<salt>$<hash>` format.

Salt and hash use passlib's "adapted base64" (`.` instead of `+`, no padding), so hashes
made here verify with passlib and the other way round. Only the stdlib is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

SCHEME = "pbkdf2-sha256"
DEFAULT_ROUNDS = 29000  # passlib's default for this scheme
# Each wrong password costs one PBKDF2 run: a hash with absurd rounds would make every
# login attempt a CPU-seconds job. Config validation refuses more (see clients_from).
MAX_ROUNDS = 2_000_000
_KEY_BYTES = 32


def _ab64_encode(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=").replace("+", ".")


def _ab64_decode(text: str) -> bytes:
    text = text.replace(".", "+")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, rounds: int = DEFAULT_ROUNDS, salt: bytes | None = None) -> str:
    """A new hash of `password` with a random 16-byte salt."""
    salt = os.urandom(16) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds, _KEY_BYTES)
    return f"${SCHEME}${rounds}${_ab64_encode(salt)}${_ab64_encode(key)}"


def hash_rounds(hashed: str) -> int | None:
    """The PBKDF2 rounds of a `$pbkdf2-sha256$<rounds>$<salt>$<hash>` hash; None if malformed."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != SCHEME or not parts[2].isdigit():
        return None
    return int(parts[2])


def verify_password(password: str, hashed: str) -> bool:
    """True when `password` matches `hashed`; False for a wrong password or a malformed
    hash (rounds over MAX_ROUNDS included). CPU-bound for milliseconds: call it off the
    event loop (it releases the GIL)."""
    rounds = hash_rounds(hashed)
    if rounds is None or not 0 < rounds <= MAX_ROUNDS:
        return False
    parts = hashed.split("$")
    try:
        salt, expected = _ab64_decode(parts[3]), _ab64_decode(parts[4])
    except ValueError:
        return False
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds, len(expected))
    return hmac.compare_digest(key, expected)
