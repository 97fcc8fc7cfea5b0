"""The group's small certificate authority (docs/design.md §10, central: setup): EC P-256 keys, the NATS server's
certificate, the central consumer's and the sensors' client certificates, made with the ``cryptography`` package
(no openssl command line, so nothing a user typed is ever put in a shell command)."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mamori.errors import MamoriError

__all__ = [
    "CA_DAYS",
    "CLIENT_DAYS",
    "PkiError",
    "csr_for",
    "fingerprint",
    "issue",
    "key_pem",
    "load_cert",
    "load_key",
    "make_ca",
    "new_key",
    "normal_fingerprint",
    "sign_csr",
    "write_file",
]

CA_DAYS = 3650  # the group's CA: ten years
CLIENT_DAYS = 825  # server and client certificates: the CA/Browser Forum's old maximum, renewed by enrolling again
FINGERPRINT_HEX = 32  # 128 bits of the CA certificate's SHA-256, typed by a person (8 groups of 4)


class PkiError(MamoriError):
    """A key, certificate or request that cannot be used (the reason in Japanese and English)."""


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(name: str, *, days: int = CA_DAYS) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(ca=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signatures (ECDHE key exchange signs), and for the CA the signing of certificates and revocation lists."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    cn: str,
    *,
    server_names: Sequence[str] = (),
    server_ips: Sequence[str] = (),
    days: int = CLIENT_DAYS,
) -> x509.Certificate:
    """A certificate for ``cn``: a server's (TLS server use, ``server_names`` and ``server_ips`` as its subject
    alternative names) when names or addresses are given, else a client's (TLS client use)."""
    now = _now()
    server = bool(server_names or server_ips)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(ca=False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        alt: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
        alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in server_ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def csr_for(key: ec.EllipticCurvePrivateKey, cn: str) -> bytes:
    """A certificate signing request (PEM): only the public key and a proof of holding the private key leave."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(cn)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def sign_csr(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, csr_pem: bytes, site: str
) -> x509.Certificate:
    """The client certificate for ``site`` (CN=site, whatever the request asked) over the request's public key,
    after checking the request's signature (the sender holds the private key) and the key's kind and size."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise PkiError(
            f"証明書署名要求（CSR）を読めません（{exc}） / cannot read the certificate signing request ({exc})"
        ) from exc
    try:
        valid = csr.is_signature_valid
        public_key = csr.public_key()
    except (ValueError, InvalidSignature, TypeError) as exc:
        raise PkiError(f"CSR の署名を確かめられません / cannot check the request's signature ({exc})") from exc
    if not valid:
        raise PkiError("CSR の署名が正しくありません / the request's signature is not valid")
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ("secp256r1", "secp384r1"):
            raise PkiError(f"使えない楕円曲線です（{public_key.curve.name}） / unsupported curve")
    elif isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise PkiError("RSA 鍵が短すぎます（2048 ビット以上） / RSA key too short (2048 bits or more)")
    else:
        raise PkiError("EC（P-256）か RSA の鍵が必要です / an EC (P-256) or RSA key is required")
    return issue(ca_key, ca_cert, public_key, site)


def fingerprint(cert: x509.Certificate) -> str:
    """What a person types to pin the CA: the first 128 bits of the SHA-256 of its DER form, as 8 groups of 4."""
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()[:FINGERPRINT_HEX]
    return "-".join(digest[i : i + 4] for i in range(0, FINGERPRINT_HEX, 4))


def normal_fingerprint(text: str) -> str:
    """A typed fingerprint without separators and case; raises when it is not 32 hexadecimal digits."""
    digits = "".join(c for c in text.upper() if c not in "-: ")
    if len(digits) != FINGERPRINT_HEX or any(c not in "0123456789ABCDEF" for c in digits):
        raise PkiError(
            f"フィンガープリントは 16 進 {FINGERPRINT_HEX} 桁です（例 3F9A-…、区切りは任意） / the fingerprint is "
            f"{FINGERPRINT_HEX} hexadecimal digits (e.g. 3F9A-..., separators optional)"
        )
    return digits


def load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PkiError(f"{path}: 証明書を読めません（{exc}） / cannot read the certificate ({exc})") from exc


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PkiError(f"{path}: 鍵を読めません（{exc}） / cannot read the key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path}: EC 鍵ではありません / not an EC key")
    return key


def write_file(path: Path, data: bytes, *, private: bool = False, owner: tuple[int, int] | None = None) -> None:
    """Write ``data`` atomically (a temporary file renamed over ``path``); a private file (a key) is made with mode
    0600 from the start, so it is never readable by others even for a moment. ``owner``: (uid, gid) to give it."""
    mode = 0o600 if private else 0o644
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
