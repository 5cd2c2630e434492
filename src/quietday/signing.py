"""Signed codes (检查码, 监督码): Ed25519 signatures in the JWS compact form (RFC 7515, `alg`
EdDSA, RFC 8037), so that anyone holding the public keys can check a code offline, with any
JOSE library or a few lines of `cryptography`.

A token is `base64url(header).base64url(payload).base64url(signature)`; the header names the
signing key (`kid`: the first 16 hex digits of the SHA-256 of its raw public key). A keyring
signs with its current key and verifies with it and every retired key it still trusts, so a key
can be rotated without reprinting every code at once; a key dropped from the ring stops every
code it signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["BadTokenError", "Keyring", "key_id", "new_private_pem", "public_pem"]

# A token longer than this is not one of ours: refused before any decoding.
MAX_TOKEN = 1024


class BadTokenError(ValueError):
    """A token that is malformed, signed by a key the ring does not trust, or altered."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or len(text) % 4 == 1:
        raise BadTokenError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadTokenError("not base64url") from exc


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def new_private_pem() -> str:
    """A fresh Ed25519 private key as PKCS#8 PEM (unencrypted: keep it in a secret file)."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )


def _private(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError("签名私钥不是有效的 PEM") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("签名私钥必须是 Ed25519 密钥")
    return key


def _public(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError("验证公钥不是有效的 PEM") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("验证公钥必须是 Ed25519 密钥")
    return key


def public_pem(private_pem: str) -> str:
    return (
        _private(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


@dataclass(frozen=True, slots=True)
class Keyring:
    """The current signing key and the public keys trusted for verification (its own included)."""

    signer: Ed25519PrivateKey
    kid: str
    trusted: Mapping[str, Ed25519PublicKey]

    @classmethod
    def of(cls, private_pem: str, retired_public_pems: Iterable[str] = ()) -> Keyring:
        signer = _private(private_pem)
        kid = key_id(signer.public_key())
        trusted = {key_id(k): k for k in map(_public, retired_public_pems)}
        trusted[kid] = signer.public_key()
        return cls(signer, kid, trusted)

    def sign(self, payload: Mapping[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "EdDSA", "kid": self.kid}, separators=(",", ":")).encode())
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        signature = self.signer.sign(f"{header}.{body}".encode("ascii"))
        return f"{header}.{body}.{_b64(signature)}"

    def verify(self, token: str) -> dict[str, Any]:
        """The payload of a token this ring trusts; `BadTokenError` for anything else."""
        if len(token) > MAX_TOKEN or not token.isascii():
            raise BadTokenError("not a token")
        parts = token.split(".")
        if len(parts) != 3:
            raise BadTokenError("not three parts")
        try:
            header = json.loads(_unb64(parts[0]))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadTokenError("header is not JSON") from exc
        if not isinstance(header, dict) or header.get("alg") != "EdDSA":
            raise BadTokenError("not EdDSA")
        key = self.trusted.get(str(header.get("kid")))
        if key is None:
            raise BadTokenError("unknown key")
        try:
            key.verify(_unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"))
        except InvalidSignature as exc:
            raise BadTokenError("bad signature") from exc
        try:
            payload = json.loads(_unb64(parts[1]))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadTokenError("payload is not JSON") from exc
        if not isinstance(payload, dict):
            raise BadTokenError("payload is not an object")
        return payload

    def jwks(self) -> dict[str, Any]:
        """The trusted public keys as a JWK set (RFC 8037 OKP keys), current key first."""
        order = [self.kid, *sorted(k for k in self.trusted if k != self.kid)]
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": _b64(_raw(self.trusted[kid])),
                    "kid": kid,
                    "use": "sig",
                    "alg": "EdDSA",
                }
                for kid in order
            ]
        }
