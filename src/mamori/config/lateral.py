"""Lateral movement in the settings file: the hosts registered as reaching many computers by their work, and the
thresholds of the two ``lateral-movement`` detectors (packets and firewall logs; Windows logons).

```yaml
exempt_hosts:                      # left out of lateral movement (site model, like segments)
  - {name: 情シス管理端末, role: admin, ips: [10.2.0.10], computers: [ADMIN-PC01]}
  - {name: WSUS, role: update, ips: 10.4.0.8}
  - {name: バックアップ, role: backup, ips: [10.4.0.0/24], accounts: [svc_backup]}
detection:
  lateral_movement: {window: 10m, medium_hosts: 5, high_hosts: 10, ports: [22, 135, 139, 445, 3389, 5985, 5986]}
windows:
  lateral_movement: {window: 10m, medium_hosts: 5, high_hosts: 10, local_admin_hosts: 2, service_window: 10m}
```

An entry's ``role`` is one of admin, antivirus, update, backup, asset-management; it names at least one of ``ips``
(addresses or networks), ``computers`` (Windows computer names, for logs that name the source by its name) and
``accounts`` (service accounts; an account is exempt from wherever it logs on, so prefer ``ips``). A segment whose
``role`` is one of these five is exempt as a whole (``role: maintenance`` is not: the vendor's line is the way the
Osaka attackers came in).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from mamori.config.messages import bilingual
from mamori.config.values import Duration, Port, Strict
from mamori.model import EXEMPT_ROLES, ExemptHost, Segment

__all__ = [
    "DEFAULT_LATERAL_PORTS",
    "ExemptHostIn",
    "LateralMovementSettings",
    "LateralMovementWindowsSettings",
    "exempt_hosts_of",
]

# Remote administration: SSH, RPC, NetBIOS session/SMB, SMB, RDP, WinRM (HTTP and HTTPS).
DEFAULT_LATERAL_PORTS: tuple[int, ...] = (22, 135, 139, 445, 3389, 5985, 5986)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _network(value: Any) -> str:
    """``10.2.0.10`` -> ``10.2.0.10/32``; ``10.4.0.0/24`` stays; host bits are an error (a typo, not a host)."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        raise ValueError(
            bilingual(
                f"{value!r} は IP アドレスでもネットワークでもありません（例: 10.2.0.10 や 10.4.0.0/24）",
                f"{value!r} is not an IP address or network (e.g. 10.2.0.10 or 10.4.0.0/24)",
            )
        ) from None


def _computer(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text or any(c in text for c in "\\/ "):
        raise ValueError(
            bilingual(
                f"コンピュータ名 {value!r} は ADMIN-PC01 のように書いてください",
                f"write a computer name such as ADMIN-PC01, not {value!r}",
            )
        )
    return text.split(".", 1)[0].upper()


def _account(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError(bilingual("空のアカウント名は使えません", "an account name cannot be empty"))
    return text.rsplit("\\", 1)[-1].split("@", 1)[0].lower()


_Networks = Annotated[tuple[Annotated[str, BeforeValidator(_network)], ...], BeforeValidator(_one_or_many)]
_Computers = Annotated[tuple[Annotated[str, BeforeValidator(_computer)], ...], BeforeValidator(_one_or_many)]
_Accounts = Annotated[tuple[Annotated[str, BeforeValidator(_account)], ...], BeforeValidator(_one_or_many)]


class ExemptHostIn(Strict):
    name: str = Field("", max_length=200)
    role: Literal["admin", "antivirus", "update", "backup", "asset-management"]
    ips: _Networks = ()
    computers: _Computers = ()
    accounts: _Accounts = ()
    note: str = ""

    @model_validator(mode="after")
    def _names_something(self) -> Self:
        if not (self.ips or self.computers or self.accounts):
            raise ValueError(
                bilingual(
                    "ips・computers・accounts の少なくとも 1 つを書いてください",
                    "give at least one of ips, computers, accounts",
                )
            )
        return self


def exempt_hosts_of(items: tuple[ExemptHostIn, ...], segments: tuple[Segment, ...]) -> tuple[ExemptHost, ...]:
    """The registered hosts, then the segments whose role exempts them (their networks)."""
    hosts = [
        ExemptHost(
            role=h.role,
            name=h.name,
            networks=tuple(dict.fromkeys(h.ips)),
            computers=tuple(dict.fromkeys(h.computers)),
            accounts=tuple(dict.fromkeys(h.accounts)),
        )
        for h in items
    ]
    for segment in segments:
        if segment.role in EXEMPT_ROLES:
            networks = tuple(str(ipaddress.ip_network(c, strict=False)) for c in segment.cidrs)
            hosts.append(ExemptHost(role=segment.role, name=segment.name, networks=networks))
    return tuple(hosts)


def _ports(value: Any) -> Any:
    return _one_or_many(value)


class LateralMovementSettings(Strict):
    """One source reaching many hosts on remote-administration ports (SYNs on the wire, firewall log lines)."""

    enabled: bool = True
    window: Duration = Field(600.0, gt=0, description="distinct hosts are counted within this window")
    medium_hosts: int = Field(5, ge=2, description="distinct hosts within the window: a medium alert")
    high_hosts: int = Field(10, ge=2, description="distinct hosts within the window: the alert becomes high")
    ports: Annotated[tuple[Port, ...], BeforeValidator(_ports)] = Field(
        DEFAULT_LATERAL_PORTS, min_length=1, description="remote-administration ports"
    )
    quiet_period: Duration = Field(3600.0, gt=0, description="after this much silence the same source is a new alert")
    max_sources: int = Field(
        50_000, ge=100, description="sources tracked at once (a spoofed storm evicts the oldest, never grows)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.high_hosts < self.medium_hosts:
            raise ValueError(
                bilingual(
                    f"high_hosts（{self.high_hosts}）は medium_hosts（{self.medium_hosts}）以上にしてください",
                    f"high_hosts ({self.high_hosts}) must be at least medium_hosts ({self.medium_hosts})",
                )
            )
        return self


class LateralMovementWindowsSettings(Strict):
    """One account or one source logging on to many computers; admin share then a new service; local Administrator
    over NTLM to several computers."""

    window: Duration = Field(600.0, gt=0, description="distinct computers are counted within this window")
    medium_hosts: int = Field(5, ge=2, description="computers logged on to within the window: a medium alert")
    high_hosts: int = Field(10, ge=2, description="computers within the window: the alert becomes high")
    local_admin_hosts: int = Field(
        2, ge=2, description="computers a local Administrator logs on to over NTLM from one source: high"
    )
    service_window: Duration = Field(
        600.0, gt=0, description="an admin share opened, then a new service on that computer within this time"
    )
    quiet_period: Duration = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.high_hosts < self.medium_hosts:
            raise ValueError(
                bilingual(
                    f"high_hosts（{self.high_hosts}）は medium_hosts（{self.medium_hosts}）以上にしてください",
                    f"high_hosts ({self.high_hosts}) must be at least medium_hosts ({self.medium_hosts})",
                )
            )
        return self
