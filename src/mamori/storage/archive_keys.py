"""Signing keys for the archive's manifests and checkpoints: Ed25519 (default) or HMAC-SHA256.

The key lives outside the archive (e.g. /etc/mamori/archive.key, mode 0600), so that whoever can rewrite the
archive cannot re-sign it. An Ed25519 key has a public half (``archive.pub`` beside it) that can be handed to an
auditor: verifying needs only that. An HMAC key is one secret for both signing and verifying.
The key id (first 16 hex digits of a SHA-256 over the public key, or over the HMAC key) is recorded with every
signature, so a manifest names the key that signed it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.errors import StorageError

__all__ = [
    "ALGORITHMS",
    "Signer",
    "Verifier",
    "canonical",
    "generate_key",
    "load_signer",
    "load_verifier",
    "public_key_path",
]

ALGORITHMS = ("ed25519", "hmac-sha256")
_HMAC_PREFIX = "mamori-hmac-sha256:"


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the document without its ``signature``, as sorted compact JSON."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@dataclass(frozen=True)
class Signer:
    algorithm: str
    key_id: str
    _secret: bytes = field(repr=False)  # never in a log line or a traceback's locals

    def sign(self, data: bytes) -> str:
        if self.algorithm == "hmac-sha256":
            return base64.b64encode(hmac.new(self._secret, data, hashlib.sha256).digest()).decode("ascii")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.from_private_bytes(self._secret)
        return base64.b64encode(key.sign(data)).decode("ascii")

    def sign_document(self, document: dict[str, Any]) -> dict[str, Any]:
        signed = {**document, "algorithm": self.algorithm, "key_id": self.key_id}
        signed["signature"] = self.sign(canonical(signed))
        return signed

    def verifier(self) -> Verifier:
        if self.algorithm == "hmac-sha256":
            return Verifier(self.algorithm, self.key_id, self._secret)
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        public = Ed25519PrivateKey.from_private_bytes(self._secret).public_key()
        return Verifier(self.algorithm, self.key_id, _raw_public(public))


@dataclass(frozen=True)
class Verifier:
    algorithm: str
    key_id: str
    _key: bytes = field(repr=False)  # the Ed25519 public key, or the HMAC secret: never shown

    def check(self, document: dict[str, Any]) -> str | None:
        """None when the document's signature is good; otherwise what is wrong with it."""
        signature = document.get("signature")
        if not isinstance(signature, str):
            return "it carries no signature"
        if document.get("key_id") != self.key_id:
            return f"it was signed with key {document.get('key_id')!r}, not the trusted key {self.key_id}"
        if document.get("algorithm") != self.algorithm:
            return f"its algorithm {document.get('algorithm')!r} is not {self.algorithm}"
        try:
            raw = base64.b64decode(signature, validate=True)
        except ValueError:
            return "its signature is not base64"
        data = canonical(document)
        if self.algorithm == "hmac-sha256":
            good = hmac.compare_digest(raw, hmac.new(self._key, data, hashlib.sha256).digest())
        else:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            try:
                Ed25519PublicKey.from_public_bytes(self._key).verify(raw, data)
                good = True
            except InvalidSignature:
                good = False
        return None if good else "its signature does not match its content (altered after signing)"


def _raw_public(public: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    raw: bytes = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw


def _key_id(material: bytes, algorithm: str) -> str:
    return hashlib.sha256(algorithm.encode() + b":" + material).hexdigest()[:16]


def public_key_path(key_path: Path) -> Path:
    return key_path.with_suffix(".pub")


def generate_key(path: Path, *, algorithm: str = "ed25519", overwrite: bool = False) -> tuple[str, Path | None]:
    """Write a new key (mode 0600) and, for Ed25519, its public half beside it. Returns (key id, public path)."""
    if algorithm not in ALGORITHMS:
        raise StorageError(f"unknown signature algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    if path.exists() and not overwrite:
        raise StorageError(f"{path} exists; a new key would make the old manifests unverifiable (use --force)")
    path.parent.mkdir(parents=True, exist_ok=True)
    public_path: Path | None = None
    if algorithm == "hmac-sha256":
        secret = secrets.token_bytes(32)
        text = (_HMAC_PREFIX + secret.hex() + "\n").encode("ascii")
        key_id = _key_id(secret, algorithm)
    else:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        text = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key()
        key_id = _key_id(_raw_public(public), algorithm)
        public_path = public_key_path(path)
        public_path.write_bytes(
            public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return key_id, public_path


def load_signer(path: Path) -> Signer:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StorageError(f"cannot read the archive signing key {path}: {exc.strerror}") from exc
    text = data.decode("ascii", "replace").strip()
    if text.startswith(_HMAC_PREFIX):
        try:
            secret = bytes.fromhex(text[len(_HMAC_PREFIX) :])
        except ValueError:
            raise StorageError(f"{path}: not a valid HMAC key") from None
        return Signer("hmac-sha256", _key_id(secret, "hmac-sha256"), secret)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        raise StorageError(f"{path}: not an Ed25519 private key in PEM (make one with mamori archive keygen)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StorageError(f"{path}: the key is not an Ed25519 key")
    secret = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return Signer("ed25519", _key_id(_raw_public(key.public_key()), "ed25519"), secret)


def load_verifier(path: Path) -> Verifier:
    """A verifier from a signing key (either kind) or from an Ed25519 public key (PEM)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StorageError(f"cannot read the archive key {path}: {exc.strerror}") from exc
    if b"PUBLIC KEY" in data:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            public = serialization.load_pem_public_key(data)
        except ValueError:
            raise StorageError(f"{path}: not a public key in PEM") from None
        if not isinstance(public, Ed25519PublicKey):
            raise StorageError(f"{path}: the public key is not an Ed25519 key")
        raw = _raw_public(public)
        return Verifier("ed25519", _key_id(raw, "ed25519"), raw)
    return load_signer(path).verifier()
