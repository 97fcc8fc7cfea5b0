"""The ``windows:`` settings section: thresholds of the Windows event log rules, the site's allowed RDP admin hosts,
extra attack-tool names, Sigma rule files, and the time zone of forwarded logs that carry local times."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from mamori.config.lateral import LateralMovementWindowsSettings
from mamori.config.values import Duration, Strict, Zone
from mamori.rules import catalogue

__all__ = [
    "BruteForceSettings",
    "LogonAfterFailuresSettings",
    "PasswordSpraySettings",
    "WindowsSettings",
    "normalize_network",
    "windows_rule_ids",
]


def windows_rule_ids() -> tuple[str, ...]:
    """The Windows event log rules of the catalogue (``sigma`` is the loaded Sigma rules, not one to disable)."""
    return tuple(r for r in catalogue().ids("windows") if r != "sigma")


def normalize_network(value: Any) -> str:
    """``192.168.10.5`` -> ``192.168.10.5/32``; ``10.20.0.0/24`` stays; host bits are cleared."""
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError:
        raise ValueError(
            f"{value!r} は IP アドレスでもネットワークでもありません（例: 192.168.10.5 や 10.20.0.0/24） / "
            f"{value!r} is not an IP address or network (e.g. 192.168.10.5 or 10.20.0.0/24)"
        ) from None


Network = Annotated[str, BeforeValidator(normalize_network)]


class BruteForceSettings(Strict):
    """Failed logons (Security 4625) per source and per target account, in two sliding windows."""

    burst_failures: int = Field(10, ge=2, description="failures within burst_window: a tool at work (27 in 10 s)")
    burst_window: Duration = Field(60.0, gt=0)
    slow_failures: int = Field(30, ge=2, description="failures within slow_window: slow guessing (5 a minute)")
    slow_window: Duration = Field(3600.0, gt=0)
    quiet_period: Duration = Field(3600.0, gt=0, description="after this much silence the next burst is a new alert")


class PasswordSpraySettings(Strict):
    """Many distinct accounts tried from one source (4625, and 4648 explicit credentials)."""

    accounts: int = Field(10, ge=2, description="distinct accounts from one source within the window")
    window: Duration = Field(3600.0, gt=0)
    quiet_period: Duration = Field(3600.0, gt=0)


class LogonAfterFailuresSettings(Strict):
    """A successful logon (4624) of an account or from a source that failed just before: the attack worked."""

    min_failures: int = Field(5, ge=1, description="failures before the success, within the window")
    window: Duration = Field(3600.0, gt=0)


class WindowsSettings(Strict):
    rdp_admin_hosts: tuple[Network, ...] = Field(
        (), description="IP addresses or networks allowed to log on over RDP (administrators' terminals)"
    )
    rdp_admin_computers: tuple[str, ...] = Field(
        (), description="computer names allowed to open RDP sessions to other machines (admin terminals)"
    )
    attack_tools: tuple[str, ...] = Field(
        (), description="extra tool names to look for in installs, processes and services (case-insensitive)"
    )
    sigma_rules: tuple[Path, ...] = Field((), description="Sigma rule files or folders (relative to this file)")
    log_timezone: Zone | None = Field(
        None, description="time zone of forwarded logs whose times carry none (NXLog EventTime): e.g. Asia/Tokyo"
    )
    disabled_rules: tuple[str, ...] = Field((), description="built-in Windows rules to switch off")
    brute_force: BruteForceSettings = BruteForceSettings()
    password_spray: PasswordSpraySettings = PasswordSpraySettings()
    logon_after_failures: LogonAfterFailuresSettings = LogonAfterFailuresSettings()
    lateral_movement: LateralMovementWindowsSettings = LateralMovementWindowsSettings()
    quiet_period: Duration = Field(3600.0, gt=0, description="the other rules: silence that ends an alert")
    max_tracked: int = Field(20_000, ge=100, description="sources and accounts tracked per rule; oldest evicted")
    max_open_alerts: int = Field(
        5_000, ge=100, description="alerts kept open in memory (each with up to 10 sample events); oldest closed"
    )

    @field_validator("rdp_admin_hosts", "rdp_admin_computers", "attack_tools", "sigma_rules", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("attack_tools", "rdp_admin_computers")
    @classmethod
    def _not_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not item.strip():
                raise ValueError("空の名前は使えません / names cannot be empty")
        return value

    @field_validator("disabled_rules")
    @classmethod
    def _known_rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for rule in value:
            if rule not in windows_rule_ids():
                known = ", ".join(windows_rule_ids())
                raise ValueError(
                    f"Windows のルール {rule!r} はありません。あるもの: {known} / "
                    f"unknown Windows rule {rule!r}; known: {known}"
                )
        return value
