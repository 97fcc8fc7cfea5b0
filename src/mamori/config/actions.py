"""Response actions: what mamori does when an alert is raised or grows (``actions:`` in the settings file).

Every action has a name, a type and a choice of alerts (``rules``, ``min_severity``); updates of an ongoing alert
are throttled, and failed deliveries are retried with back-off. Secrets (SMTP password, Zabbix PSK) are never
written in the settings file: they are read from a file only root can read (``password_file``, ``psk_file``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from mamori.config.values import Duration, Port, Strict

__all__ = [
    "ActionSettings",
    "EmailAction",
    "ScriptAction",
    "SyslogAction",
    "WebhookAction",
    "ZabbixAction",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
Severity = Literal["info", "low", "medium", "high", "critical"]


class _Action(Strict):
    name: str
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


class ScriptAction(_Action):
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


class ZabbixAction(_Action):
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


class SyslogAction(_Action):
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


class EmailAction(_Action):
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


class WebhookAction(_Action):
    type: Literal["webhook"]
    url: str
    format: Literal["json", "teams", "slack"] = "json"
    headers: dict[str, str] = Field(default_factory=dict)
    ca_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r}: http:// か https:// の URL を書いてください / "
                f"{value!r}: expected an http:// or https:// URL"
            )
        return value


ActionSettings = Annotated[
    ScriptAction | ZabbixAction | SyslogAction | EmailAction | WebhookAction, Field(discriminator="type")
]
