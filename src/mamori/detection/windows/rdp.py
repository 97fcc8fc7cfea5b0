"""RDP rules: ``rdp-logon`` (someone logged on over RDP from a host that is not one of the site's admin hosts) and
``rdp-outbound`` (a machine opened an RDP session to another one: the attacker moving on).

The training (the Ministry's 2023 training on the Osaka incident) lists the events to review:
TerminalServices-LocalSessionManager/Operational 21 (session logon), 22 (shell start), 25 (reconnection)
together with Security 4624 of logon type 10, and TerminalServices-RDPClient/Operational 1024 / 1102 for the
addresses a machine connected to. An ``Address`` of ``LOCAL`` (``ローカル``) is a console logon, not RDP.
RemoteConnectionManager 1149 (network authentication succeeded) comes before the logon and names the client's
address too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from mamori.detection.windows.common import (
    SECURITY,
    RuleBase,
    account_of,
    clean,
    logon_type,
    note_listed,
    short_name,
    source_ip,
)
from mamori.model import Severity, WindowsEvent

__all__ = ["RdpLogonRule", "RdpOutboundRule"]

_LSM = "microsoft-windows-terminalservices-localsessionmanager/operational"
_RCM = "microsoft-windows-terminalservices-remoteconnectionmanager/operational"
_CLIENT = "microsoft-windows-terminalservices-rdpclient/operational"
_MAX_LISTED = 50


@dataclass
class RdpLogonRule(RuleBase):
    """4624 type 10, LocalSessionManager 21/25 and RemoteConnectionManager 1149 from a non-admin address."""

    rule: ClassVar[str] = "rdp-logon"
    event_ids: ClassVar[frozenset[int]] = frozenset({4624, 21, 25, 1149})

    def __post_init__(self) -> None:
        super().__post_init__()
        self._networks = tuple(ipaddress.ip_network(n) for n in self.ctx.settings.rdp_admin_hosts)
        self._allowed: dict[str, bool] = {}

    def _is_allowed(self, ip: str) -> bool:
        known = self._allowed.get(ip)
        if known is None:
            address = ipaddress.ip_address(ip)
            known = any(address in network for network in self._networks)
            if len(self._allowed) < 100_000:
                self._allowed[ip] = known
        return known

    def _who_and_where(self, event: WindowsEvent) -> tuple[str, str | None] | None:
        channel = event.channel.lower()
        f = event.fields
        if event.event_id == 4624:
            if channel != SECURITY or logon_type(event) != 10:
                return None
            return account_of(event), f.get("IpAddress")
        if event.event_id == 1149:
            if channel != _RCM:
                return None
            domain = clean(f.get("Param2"))
            user = (f.get("Param1") or "").strip()
            return (f"{domain}\\{user}" if domain else user), f.get("Param3")
        if channel != _LSM:
            return None
        return (f.get("User") or "").strip(), f.get("Address")

    def on_event(self, event: WindowsEvent) -> bool:
        found = self._who_and_where(event)
        if found is None:
            return False
        user, address = found
        ip = source_ip(address)
        if ip is None or self._is_allowed(ip):
            return False  # a console logon (LOCAL), or an admin host
        state, _ = self.ctx.book.open(
            self.rule,
            f"{event.computer}|{ip}",
            event.ts,
            severity=Severity.HIGH if self._networks else Severity.MEDIUM,
            quiet_period=self.quiet_period,
            src_ip=ip,
        )
        d = state.details
        d.setdefault("computer", event.computer)
        d.setdefault("target_user", user)
        d["allowlist"] = bool(self._networks)
        if event.event_id == 4624:
            d["logon_type"] = 10
        for name, value in (("users", user), ("event_ids", event.event_id)):
            items = d.setdefault(name, set())
            if isinstance(items, set) and len(items) < _MAX_LISTED:
                items.add(value)
        state.add(event, event.ts)
        self.ctx.rdp_suspects.setdefault(event.computer.lower(), lambda: event.ts)
        return True


@dataclass
class RdpOutboundRule(RuleBase):
    """RDPClient 1024 (connecting to) / 1102 (connected to an address) on a machine that is not an admin terminal.
    One alert per machine for a burst, however many machines it connects to (``destinations``): an attacker
    going from one server to the next is one incident."""

    rule: ClassVar[str] = "rdp-outbound"
    event_ids: ClassVar[frozenset[int]] = frozenset({1024, 1102})

    def __post_init__(self) -> None:
        super().__post_init__()
        self._admins = frozenset(short_name(c) for c in self.ctx.settings.rdp_admin_computers)

    def on_event(self, event: WindowsEvent) -> bool:
        if event.channel.lower() != _CLIENT or short_name(event.computer) in self._admins:
            return False
        target = clean(event.fields.get("Value"))
        if target is None:
            return False
        suspect = self.ctx.rdp_suspects.get(event.computer.lower())
        after_logon = suspect is not None and suspect <= event.ts
        state, _ = self.ctx.book.open(
            self.rule,
            event.computer,
            event.ts,
            severity=Severity.HIGH if after_logon else Severity.MEDIUM,
            quiet_period=self.quiet_period,
            dst_ip=source_ip(target),
        )
        d = state.details
        d.setdefault("computer", event.computer)
        d.setdefault("destination", target)
        note_listed(d, "destinations", target, _MAX_LISTED)
        if after_logon:
            d["after_rdp_logon"] = True
            state.severity = Severity.HIGH
        state.add(event, event.ts)
        return True
