"""Response actions: what mamori does when an alert is raised or grows (``actions:`` in the settings file).

Every action has a name, a type and a choice of alerts (``rules``, ``min_severity``); updates of an ongoing alert
are throttled, and failed deliveries are retried with back-off. Secrets (SMTP password, Zabbix PSK, a webhook's
token header) are never written in the settings file: they are read from a file only root can read
(``password_file``, ``psk_file``, ``header_files``). A Slack or Teams webhook URL is itself the secret: it is shown
everywhere as its host and a hint (:func:`redact_url`), never whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from mamori.config.values import Duration, Mac, Port, Strict

__all__ = [
    "BUILTIN_ACTION_OPTIONS",
    "ActionOptionTypes",
    "ActionSettings",
    "ArpIsolateAction",
    "EmailAction",
    "ScriptAction",
    "SnmpPortAction",
    "SyslogAction",
    "WebhookAction",
    "ZabbixAction",
    "redact_secrets",
    "redact_url",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP token (RFC 9110)
# Headers that carry credentials: their values come from header_files, never from the settings file.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
_HINT = 4  # characters of the end of a secret URL shown, to tell two apart
Severity = Literal["info", "low", "medium", "high", "critical"]


class ActionSettings(Strict):
    """What every ``actions:`` entry has: its name, its type, the alerts it takes, throttling and retries. Each
    action type's options are a subclass with ``type: Literal["its-name"]`` and its own fields: the built-in ones
    below, a plugin's in its package (docs/design.md §8)."""

    name: str
    type: str
    rules: tuple[str, ...] | None = Field(None, description="only these rules (default: all)")
    min_severity: Severity = "info"
    throttle: Duration = Field(300.0, ge=0, description="at most one update of an ongoing alert per this time")
    retries: int = Field(5, ge=0, le=100, description="attempts after the first one fails")
    backoff: Duration = Field(2.0, gt=0, description="first wait before a retry; doubles up to max_backoff")
    max_backoff: Duration = Field(300.0, gt=0)
    timeout: Duration = Field(10.0, gt=0, le=600)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r}: 英数字と '-'、'_'、'.' だけで 64 文字までにしてください / "
                f"{value!r}: use letters, digits, '-', '_' or '.' (at most 64)"
            )
        return value


class ScriptAction(ActionSettings):
    type: Literal["script"]
    command: tuple[str, ...] = Field(min_length=1, description="argv: program and arguments, never a shell line")
    cwd: Path | None = None

    @field_validator("command", mode="before")
    @classmethod
    def _not_a_shell_line(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError(
                "command はリスト（プログラムと引数）で書いてください。例: [/usr/local/bin/block-port.sh, --dry-run]。"
                "シェルのコマンド行は使えません / "
                "command must be a list (program and arguments), e.g. [/usr/local/bin/block-port.sh, --dry-run]; "
                "a shell command line is not accepted"
            )
        return value


class ZabbixAction(ActionSettings):
    type: Literal["zabbix"]
    server: str
    port: Port = 10051
    host: str = Field(min_length=1, description="the host name of the sensor in Zabbix")
    key_prefix: str = Field("mamori", pattern=r"^[A-Za-z0-9_.-]+$")
    tls_psk_identity: str | None = None
    tls_psk_file: Path | None = None
    heartbeat: Duration = Field(60.0, ge=0, description="send mamori.heartbeat this often (0: never)")

    @model_validator(mode="after")
    def _psk_pair(self) -> ZabbixAction:
        if (self.tls_psk_identity is None) != (self.tls_psk_file is None):
            raise ValueError(
                "tls_psk_identity と tls_psk_file は両方とも指定してください / "
                "tls_psk_identity and tls_psk_file go together"
            )
        return self


class SyslogAction(ActionSettings):
    type: Literal["syslog"]
    target: str = Field(description='"udp://host:514", "tcp://host:514" or "tls://host:6514"')
    facility: int = Field(4, ge=0, le=23, description="syslog facility number (4: security/auth)")
    app_name: str = "mamori"
    ca_file: Path | None = Field(None, description="CA certificates for tls:// (default: the system's)")

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("udp", "tcp", "tls") or not parts.hostname:
            raise ValueError(
                f"{value!r}: udp://ホスト:ポート、tcp://ホスト:ポート、tls://ホスト:ポート のどれかで書いてください / "
                f"{value!r}: expected udp://host:port, tcp://host:port or tls://host:port"
            )
        if parts.port is None:
            raise ValueError(
                f"{value!r}: ポートがありません（例: :514、TLS なら :6514） / "
                f"{value!r}: the port is missing (e.g. :514, or :6514 for TLS)"
            )
        return value


class EmailAction(ActionSettings):
    type: Literal["email"]
    smtp: str = Field(description='"smtp://host:587" (STARTTLS), "smtps://host:465" or "smtp+plain://host:25"')
    to: tuple[str, ...] = Field(min_length=1)
    sender: str | None = Field(None, alias="from")
    username: str | None = None
    password_file: Path | None = None
    subject_prefix: str = "[mamori]"
    ca_file: Path | None = None

    @field_validator("smtp")
    @classmethod
    def _smtp(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("smtp", "smtps", "smtp+plain") or not parts.hostname:
            raise ValueError(
                f"{value!r}: smtp://ホスト:587、smtps://ホスト:465、smtp+plain://ホスト:25 のどれかで書いてください / "
                f"{value!r}: expected smtp://host:587, smtps://host:465 or smtp+plain://host:25"
            )
        return value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if "@" not in address or any(c in address for c in "\r\n,;"):
                raise ValueError(
                    f"{address!r} は 1 つのメールアドレスではありません / {address!r} is not one e-mail address"
                )
        return value


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/abcd1234`` -> ``https://hooks.slack.com/…1234``: the scheme and host
    (and port), which say where it goes, and the last characters, which tell two URLs apart."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(URL hidden)"
    if ":" in host:
        host = f"[{host}]"
    rest = url.split(host, 1)[-1] if host else url
    hint = url[-_HINT:] if len(rest) > 2 * _HINT else ""
    return f"{parts.scheme}://{host}{port}/…{hint}" if parts.scheme and host else "(URL hidden)"


def redact_secrets(text: str, actions: Iterable[object]) -> str:
    """``text`` with every webhook URL of ``actions`` (and its path) replaced by its redacted form: for records
    written before URLs were kept out of them, and for any message that quotes one."""
    for action in actions:
        if isinstance(action, WebhookAction):
            text = action.redact(text)
    return text


class WebhookAction(ActionSettings):
    type: Literal["webhook"]
    url: str = Field(repr=False, description="for Slack and Teams the URL is the secret: shown only redacted")
    format: Literal["json", "teams", "slack"] = "json"
    headers: dict[str, str] = Field(default_factory=dict, description="headers without secrets")
    header_files: dict[str, Path] = Field(
        default_factory=dict, description="header name -> file (chmod 600) whose first line is the value"
    )
    ca_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            hostname = parts.hostname
        except ValueError:
            hostname = None
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not hostname:
            shown = redact_url(value)
            raise ValueError(
                f"{shown}: http:// か https:// の URL を書いてください / {shown}: expected an http:// or https:// URL"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name) or any(c in text for c in "\r\n\0"):
                raise ValueError(f"header {name!r}: not a valid HTTP header name, or a line break in its value")
            if name.lower() in _SECRET_HEADERS:
                raise ValueError(
                    f"header {name!r} carries a credential: put its value in a file only root can read "
                    f"(chmod 600) and name it under header_files: {{{name}: /etc/mamori/{name.lower()}}}"
                )
        return value

    @field_validator("header_files")
    @classmethod
    def _header_names(cls, value: dict[str, Path]) -> dict[str, Path]:
        for name in value:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header_files: {name!r} is not a valid HTTP header name")
        return value

    @model_validator(mode="after")
    def _header_once(self) -> WebhookAction:
        both = {n.lower() for n in self.headers} & {n.lower() for n in self.header_files}
        if both:
            raise ValueError(f"headers and header_files both set {', '.join(sorted(both))}")
        return self

    def redact(self, text: str) -> str:
        """``text`` with this action's URL, and the URL's path, replaced by :func:`redact_url`."""
        shown = redact_url(self.url)
        text = text.replace(self.url, shown)
        parts = urlsplit(self.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if len(path) > 1:
            text = text.replace(path, "/…")
        return text


class SnmpPortAction(ActionSettings):
    """Shut the switch port of an unregistered terminal (or move it to the quarantine VLAN) over SNMP; the switches
    are the site's ``switches:``. What may be blocked is the site's ``blocking:`` (docs/design.md, blocking)."""

    type: Literal["snmp-port"]
    switches: tuple[str, ...] | None = Field(None, description="only these switches (default: every one)")
    dry_run: bool = Field(False, description="only record what would be done")


class ArpIsolateAction(ActionSettings):
    """Cut a stranger off by ARP from the sensor's own port on the segment, for segments whose switches cannot be
    driven. Off unless this action is configured; refused on medical segments and for any registered device."""

    type: Literal["arp-isolate"]
    interface: str = Field(min_length=1, max_length=15, pattern=r"^[A-Za-z0-9_.:@-]+$")
    sink_mac: Mac = Field("02:00:00:00:be:ef", description="the MAC that goes nowhere (a locally administered one)")
    interval: Duration = Field(1.0, ge=0.2, le=10, description="the bindings are told again this often")
    duration: Duration = Field(1800.0, gt=0, le=86400, description="isolation stops by itself after this")
    max_rate: int = Field(50, ge=1, le=500, description="frames a second at most, all targets together")
    dry_run: bool = Field(False, description="only record what would be done")


ActionOptionTypes = Mapping[str, type[ActionSettings]]
"""Action type name -> its options model: what the settings loader accepts under ``actions:``."""

# The options of the built-in action types, which the loader accepts when its caller names no action types (the
# CLI passes the action registry's, plugins included: mamori.alerting.registry).
BUILTIN_ACTION_OPTIONS: ActionOptionTypes = MappingProxyType(
    {
        "script": ScriptAction,
        "zabbix": ZabbixAction,
        "syslog": SyslogAction,
        "email": EmailAction,
        "webhook": WebhookAction,
        "snmp-port": SnmpPortAction,
        "arp-isolate": ArpIsolateAction,
    }
)
