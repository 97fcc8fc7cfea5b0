"""The ``syslog:`` section: the log collector's listeners, TLS, evidence archive and parsing options.

```yaml
syslog:
  listen: ["udp://0.0.0.0:514", "tcp://0.0.0.0:514", "tls://0.0.0.0:6514", "relp://0.0.0.0:2514"]
  tls: {cert: /etc/mamori/tls.crt, key: /etc/mamori/tls.key}
  archive: {path: /var/lib/mamori/archive, retention_years: 5, key: /etc/mamori/archive.key}
```
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator

from mamori.config.values import Duration, Strict, Zone

__all__ = ["SCHEMES", "ArchiveSettings", "Listener", "SyslogSettings", "TlsSettings", "parse_listener", "resolve_paths"]

SCHEMES = ("udp", "tcp", "tls", "relp", "relp+tls")
_DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514, "relp": 2514, "relp+tls": 2515}


class Listener(Strict):
    """One parsed listen URL."""

    scheme: Literal["udp", "tcp", "tls", "relp", "relp+tls"]
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def uses_tls(self) -> bool:
        return self.scheme in ("tls", "relp+tls")


def parse_listener(value: str) -> Listener:
    """``udp://0.0.0.0:514`` -> Listener. The host must be an IP address (a listener binds, it does not resolve)."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{value!r}: 読めません（{exc}） / {value!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        schemes = ", ".join(s + "://" for s in SCHEMES)
        raise ValueError(
            f"{value!r}: {schemes} のどれかに IP:ポート を続けてください / "
            f"{value!r}: expected one of {schemes} followed by IP:port"
        )
    if not parts.hostname:
        raise ValueError(
            f"{value!r}: 待ち受けるアドレスがありません（例: 0.0.0.0 や 127.0.0.1） / "
            f"{value!r}: the address to listen on is missing (e.g. 0.0.0.0 or 127.0.0.1)"
        )
    try:
        host = str(ipaddress.ip_address(parts.hostname))
    except ValueError:
        raise ValueError(
            f"{value!r}: {parts.hostname!r} は IP アドレスではありません（0.0.0.0 ですべてを待ち受けます） / "
            f"{value!r}: {parts.hostname!r} is not an IP address (0.0.0.0 listens on all)"
        ) from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"{value!r}: スキーム://アドレス:ポート だけを書いてください / "
            f"{value!r}: only scheme://address:port is expected"
        )
    if port is None:
        port = _DEFAULT_PORTS[parts.scheme]
    if not 1 <= port <= 65535:
        raise ValueError(f"{value!r}: ポート {port} は範囲外です / {value!r}: port {port} is out of range")
    return Listener.model_validate({"scheme": parts.scheme, "host": host, "port": port})


class TlsSettings(Strict):
    cert: Path = Field(description="server certificate (PEM), with its chain")
    key: Path = Field(description="the certificate's private key (PEM); readable by root only")
    ca: Path | None = Field(None, description="CA certificates: when given, senders must present a certificate")


class ArchiveSettings(Strict):
    path: Path | None = Field(None, description="archive folder; default: archive/ in the data directory")
    retention_years: float = Field(5.0, gt=0, le=100, description="delete day files older than this")
    key: Path | None = Field(
        None,
        description="signing key (mamori archive keygen), kept outside the archive; default: archive.key "
        "beside the settings file",
    )
    public_key: Path | None = Field(None, description="public key used by verify when the signing key is unreadable")
    mirror: Path | None = Field(None, description="second copy of the archive (another disk, or a mounted share)")
    mirror_interval: Duration = Field(5.0, gt=0, le=3600, description="how often the mirror catches up")
    compress: bool = Field(True, description="gzip each day's file once the day is closed")
    checkpoint_interval: Duration = Field(60.0, gt=0, le=3600, description="sign the open day's head this often")


def _listener_item(value: Any) -> Any:
    return parse_listener(value) if isinstance(value, str) else value


class SyslogSettings(Strict):
    listen: tuple[Annotated[Listener, BeforeValidator(_listener_item)], ...] = Field(min_length=1)
    tls: TlsSettings | None = None
    archive: ArchiveSettings = ArchiveSettings()
    flush_interval: Duration = Field(0.2, gt=0, le=0.2, description="received lines reach the archive within this")
    fsync_interval: Duration = Field(1.0, gt=0, le=1.0, description="the archive is synced to disk this often")
    max_message_size: int = Field(65536, ge=480, le=1048576, description="longer messages are cut (and counted)")
    udp_buffer_mb: int = Field(32, ge=1, le=1024, description="kernel receive buffer of each UDP listener")
    charset_fallback: str = Field("latin-1", description="decoding for lines that are neither UTF-8 nor Shift_JIS")
    timezone: Zone | None = Field(None, description="zone of RFC 3164 timestamps (no zone of their own); default local")
    parsers: tuple[str, ...] | None = Field(None, description="vendor parsers to use (default: all, plugins included)")
    max_connections: int = Field(1000, ge=1, le=100000, description="TCP/TLS/RELP senders connected at once")
    max_backlog: int = Field(200_000, ge=1000, description="lines waiting for the archive before TCP is paused")
    stats_interval: Duration = Field(60.0, gt=0, description="log per-source rates and drop counters this often")

    @field_validator("listen", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("charset_fallback")
    @classmethod
    def _charset(cls, value: str) -> str:
        import codecs

        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(
                f"{value!r} は Python の知っている文字コードではありません（例: latin-1、cp932） / "
                f"{value!r} is not a character set Python knows (e.g. latin-1, cp932)"
            ) from None

    @model_validator(mode="after")
    def _consistent(self) -> SyslogSettings:
        seen: set[tuple[str, str, int]] = set()
        for listener in self.listen:
            proto = "udp" if listener.scheme == "udp" else "tcp"
            key = (proto, listener.host, listener.port)
            if key in seen:
                raise ValueError(
                    f"{listener.url}: {proto} ポート {listener.port} は別の待ち受けが使っています / "
                    f"{listener.url}: another listener already uses {proto} port {listener.port}"
                )
            seen.add(key)
            if listener.uses_tls and self.tls is None:
                raise ValueError(
                    f"{listener.url} には tls: {{cert: ファイル, key: ファイル}} が必要です / "
                    f"{listener.url} needs tls: {{cert: FILE, key: FILE}}"
                )
        key_path = self.archive.key
        for folder in (self.archive.path, self.archive.mirror):
            if key_path is not None and folder is not None and _inside(key_path, folder):
                raise ValueError(
                    f"archive.key {key_path} は証跡の保管場所（{folder}）の外に置いてください / "
                    f"archive.key {key_path} must be kept apart from the archive ({folder})"
                )
        return self


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def resolve_paths(settings: SyslogSettings, base: Path) -> SyslogSettings:
    """Relative paths in the section are taken relative to the settings file's folder."""

    def fix(path: Path | None) -> Path | None:
        return path if path is None or path.is_absolute() else (base / path).resolve()

    archive = settings.archive.model_copy(
        update={
            "path": fix(settings.archive.path),
            "key": fix(settings.archive.key),
            "public_key": fix(settings.archive.public_key),
            "mirror": fix(settings.archive.mirror),
        }
    )
    tls = settings.tls
    if tls is not None:
        tls = tls.model_copy(update={"cert": fix(tls.cert), "key": fix(tls.key), "ca": fix(tls.ca)})
    return settings.model_copy(update={"archive": archive, "tls": tls})
