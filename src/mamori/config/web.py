"""The ``web:`` section: where the dashboard listens, HTTPS, sessions and the login lockout.

```yaml
web:
  listen: 127.0.0.1:8080            # default
  tls: {cert: /etc/mamori/web.crt, key: /etc/mamori/web.key}   # HTTPS; without it, plain HTTP
  allowed_hosts: [mamori.hospital.local]                       # host names the browser uses besides the address
  session_age: 8h
  lockout: {failures: 5, address_failures: 20, cooloff: 30m}
```

A user name is locked after ``failures`` failed logins *from one address* (someone else on the LAN cannot lock the
administrator out); an address is throttled after ``address_failures`` failures over all user names (a password
sprayed over every account).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mamori.config.values import Duration, Strict

__all__ = ["LockoutSettings", "WebSettings", "WebTls", "parse_listen"]


def parse_listen(value: str) -> tuple[str, int]:
    """``127.0.0.1:8080`` / ``[::1]:8080`` / ``0.0.0.0:443`` -> (host, port)."""
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(
            f"{value!r}: 127.0.0.1:8080 のように アドレス:ポート で書いてください / "
            f"{value!r}: expected ADDRESS:PORT such as 127.0.0.1:8080"
        )
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{value!r}: {host!r} は待ち受けられる IP アドレスではありません（例: 127.0.0.1 や 0.0.0.0） / "
            f"{value!r}: {host!r} is not an IP address to listen on (e.g. 127.0.0.1 or 0.0.0.0)"
        ) from None
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"{value!r}: ポート {port} は範囲外です / {value!r}: port {port} is out of range")
    return host, port


class WebTls(Strict):
    cert: Path
    key: Path


class LockoutSettings(Strict):
    failures: int = Field(5, ge=1, le=100, description="failed logins of one user name from one address: locked")
    address_failures: int = Field(
        20, ge=1, le=10_000, description="failed logins from one address over all user names: the address throttled"
    )
    cooloff: Duration = Field(1800.0, gt=0, description="how long a lockout lasts")

    @model_validator(mode="after")
    def _address_at_least_account(self) -> LockoutSettings:
        if self.address_failures < self.failures:
            raise ValueError(
                f"address_failures ({self.address_failures}) must be at least failures ({self.failures}): "
                "one account's failures would throttle its whole address first"
            )
        return self


class WebSettings(Strict):
    listen: str = "127.0.0.1:8080"
    tls: WebTls | None = None
    allowed_hosts: tuple[str, ...] = ()
    session_age: Duration = Field(8 * 3600.0, ge=300, description="a login lasts this long without activity")
    language: Literal["ja", "en"] = "ja"
    lockout: LockoutSettings = LockoutSettings()
    secret_key_file: Path | None = Field(None, description="default: web-secret.key in the data directory")
    page_size: int = Field(50, ge=10, le=500)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value
