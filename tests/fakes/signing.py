"""The fake hub's signing identity: one self-signed CA and RS256 JWTs made with it.

Distribution 2.8 accepts a token whose JOSE header carries ``x5c`` = [base64 DER of the
signing certificate] when that certificate is in its ``rootcertbundle``; a self-signed CA
certificate serves as both. The key is made once per process (RSA generation is the slow
part) and the certificate PEM is written to a per-process temp dir removed at exit.
"""

from __future__ import annotations

import atexit
import base64
import datetime
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


class InvalidToken(Exception):
    """A token that is malformed, badly signed, expired or for another audience."""


@dataclass(frozen=True)
class SigningKey:
    """RSA key plus its self-signed certificate (PEM on disk for Distribution)."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    cert_pem_path: Path

    @property
    def x5c(self) -> str:
        # x5c uses standard base64 (not base64url) of the DER certificate.
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    @property
    def kid(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()[:16]


def _self_signed_ca(key: rsa.RSAPrivateKey) -> x509.Certificate:
    """A CA certificate with no extended key usage.

    Go's x509 verification defaults to requiring ServerAuth when an EKU extension is
    present; leaving the extension out makes the certificate acceptable for any usage.
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kura fake hub token CA")])
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )


@functools.cache
def signing_key() -> SigningKey:
    """The process-wide signing key, created on first use."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _self_signed_ca(key)
    directory = Path(tempfile.mkdtemp(prefix="kura-fake-ca-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    pem_path = directory / "token-ca.pem"
    pem_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SigningKey(key=key, cert=cert, cert_pem_path=pem_path)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(claims: dict[str, Any], key: SigningKey) -> str:
    """Sign ``claims`` as a compact RS256 JWT with ``x5c`` and ``kid`` headers."""
    header = {"typ": "JWT", "alg": "RS256", "kid": key.kid, "x5c": [key.x5c]}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = key.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64url(header_b64))
        claims = json.loads(_unb64url(claims_b64))
        signature = _unb64url(signature_b64)
    except ValueError as exc:  # covers bad base64, bad JSON, wrong part count
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("malformed token")
    return header, claims, signature, f"{header_b64}.{claims_b64}".encode()


def decode_jwt(token: str, key: SigningKey) -> dict[str, Any]:
    """Return the claims of ``token`` if ``key`` signed it (RS256); else InvalidToken.

    Only the signature is checked here; issuer, audience and times are the caller's.
    """
    header, claims, signature, signing_input = _split(token)
    if header.get("alg") != "RS256":
        raise InvalidToken("unexpected algorithm")
    try:
        key.key.public_key().verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise InvalidToken("bad signature") from exc
    return claims


def unverified_subject(token: str) -> str | None:
    """The ``sub`` claim without any check: for request records only, never for access."""
    try:
        sub = _split(token)[1].get("sub")
    except InvalidToken:
        return None
    return sub if isinstance(sub, str) else None
