"""``lateral-movement-windows``: an attacker going from computer to computer, as the Windows logs show it.

Three patterns, all in one alert per source (an incident is one alert):

- **Fan-out**: one source logging on to many computers within the window: 4624 of logon type 3 (network) and 10
  (RDP), RemoteConnectionManager 1149 and LocalSessionManager 21/25 (RDP), 5140/5145 on an admin share (C$,
  ADMIN$, IPC$ with svcctl), all logged on the computer reached and naming the source address (or workstation);
  4648 (explicit credentials) is logged on the source and names the target server. When no single source explains
  it but one account reaches the computers from several sources, the alert is the account's.
- **Remote service** (PsExec-style): an admin share opened from a source, then a new service (System 7045) on the
  same computer within ``service_window``. 7045 names no source: the admin share does. Security and System logs
  are often read as separate files, in any order, so a service seen first waits for its share too.
- **Local Administrator over NTLM** to ``local_admin_hosts`` (2) computers from one source: pass-the-hash with a
  password shared between computers. One such logon alone is ``admin-ntlm-logon``.

Sources, accounts and computers are tracked in bounded maps (``max_tracked``), least recently used evicted first.
Registered admin, antivirus, update, backup and asset-management hosts and accounts (``exempt_hosts``) are left out.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from mamori.detection.book import AlertState
from mamori.detection.windows.common import (
    SECURITY,
    SYSTEM,
    Bounded,
    RuleBase,
    account_of,
    clean,
    logon_type,
    short_name,
    source_ip,
)
from mamori.model import Severity, WindowsEvent

__all__ = ["LateralMovementWindowsRule"]

_RCM = "microsoft-windows-terminalservices-remoteconnectionmanager/operational"
_LSM = "microsoft-windows-terminalservices-localsessionmanager/operational"
_LISTED = 64
_SERVICES_LISTED = 50
_SERVICE_ACCOUNTS = frozenset({"system", "local service", "network service", "anonymous logon", ""})
_ADMIN_SHARE = re.compile(r"\\(?:[a-z]\$|admin\$)$", re.IGNORECASE)  # \\*\C$, \\*\ADMIN$
_CLOCK_SLACK = 5.0  # a service logged this many seconds before its share access still pairs with it (same machine)


class _Move(NamedTuple):
    source: str  # an address, or a computer name
    account: str
    target: str  # the computer reached (short name, or an address from 4648)
    method: str  # network-logon | rdp | explicit-credentials | admin-share
    local_admin: bool  # a local Administrator over NTLM (network logon)


@dataclass(slots=True)
class _Spread:
    """Computers reached within the window (oldest first) and, for an account, the sources it came from."""

    targets: OrderedDict[str, tuple[float, str]] = field(default_factory=OrderedDict)  # computer -> (time, method)
    sources: dict[str, float] = field(default_factory=dict)


class _Share(NamedTuple):
    ts: float
    source: str
    account: str
    share: str
    event: WindowsEvent
    counted: bool  # the access went into an alert already (the source's fan-out)


def _is_loopback(ip: str) -> bool:
    return ip == "::1" or ip.startswith("127.")


@dataclass
class LateralMovementWindowsRule(RuleBase):
    rule: ClassVar[str] = "lateral-movement-windows"
    event_ids: ClassVar[frozenset[int]] = frozenset({4624, 4648, 1149, 21, 25, 5140, 5145, 7045})

    def __post_init__(self) -> None:
        s = self.ctx.settings.lateral_movement
        self.quiet_period = s.quiet_period
        self.window = s.window
        self._medium, self._high, self._local_n = s.medium_hosts, s.high_hosts, s.local_admin_hosts
        self._service_window = s.service_window
        cap = self.ctx.settings.max_tracked
        self._by_source: Bounded[str, _Spread] = Bounded(cap)
        self._by_account: Bounded[str, _Spread] = Bounded(cap)
        self._local_admin: Bounded[str, _Spread] = Bounded(cap)
        self._shares: Bounded[str, _Share] = Bounded(cap)  # computer -> the last admin share opened on it
        self._services: Bounded[str, list[WindowsEvent]] = Bounded(cap)  # computer -> services waiting for a share
        self.exempt = self.ctx.exempt

    # -- reading the events ------------------------------------------------------------------------------------

    def _move(self, event: WindowsEvent) -> _Move | None:
        """Who reached which computer, how; None for events that are not a move between computers."""
        eid = event.event_id
        if eid == 4624:
            return self._logon(event)
        if eid == 4648:
            return self._explicit(event)
        if eid in (1149, 21, 25):
            return self._rdp(event)
        return self._admin_share(event)

    def _logon(self, event: WindowsEvent) -> _Move | None:
        kind = logon_type(event)
        if event.channel.lower() != SECURITY or kind not in (3, 10):
            return None
        f, here = event.fields, short_name(event.computer)
        user = (f.get("TargetUserName") or "").strip()
        source = self._source(f.get("IpAddress"), f.get("WorkstationName"), here)
        if source is None or not self._person(user):
            return None
        return _Move(source, account_of(event), here, "rdp" if kind == 10 else "network-logon", self._local(event))

    def _explicit(self, event: WindowsEvent) -> _Move | None:
        """4648 is logged on the source: the target is the server named."""
        if event.channel.lower() != SECURITY:
            return None
        f, here = event.fields, short_name(event.computer)
        subject = (f.get("SubjectUserName") or "").strip()
        target = clean(f.get("TargetServerName"))
        if target is None or not self._person(subject) or target.lower() in ("localhost", "127.0.0.1", "::1"):
            return None
        ip = source_ip(target)
        target = ip if ip is not None else short_name(target)
        if target == here:
            return None
        return _Move(here, account_of(event), target, "explicit-credentials", False)

    def _rdp(self, event: WindowsEvent) -> _Move | None:
        channel, f, here = event.channel.lower(), event.fields, short_name(event.computer)
        if event.event_id == 1149 and channel == _RCM:
            domain, user = clean(f.get("Param2")), (f.get("Param1") or "").strip()
            account, address = (f"{domain}\\{user}" if domain else user), f.get("Param3")
        elif event.event_id != 1149 and channel == _LSM:
            account, address = (f.get("User") or "").strip(), f.get("Address")
        else:
            return None
        source = self._source(address, None, here)
        if source is None or not self._person(account.rsplit("\\", 1)[-1]):
            return None
        return _Move(source, account, here, "rdp", False)

    def _admin_share(self, event: WindowsEvent) -> _Move | None:
        """5140/5145 on C$, ADMIN$ (any drive's share), or IPC$ with the service control manager's pipe."""
        if event.channel.lower() != SECURITY:
            return None
        f, here = event.fields, short_name(event.computer)
        share = (f.get("ShareName") or "").strip()
        named = (f.get("RelativeTargetName") or "").strip().lower()
        admin = _ADMIN_SHARE.search(share) is not None or (share.upper().endswith("\\IPC$") and named == "svcctl")
        user = (f.get("SubjectUserName") or "").strip()
        source = self._source(f.get("IpAddress"), None, here)
        if not admin or source is None or not self._person(user):
            return None
        return _Move(source, account_of(event, "SubjectUserName", "SubjectDomainName"), here, "admin-share", False)

    @staticmethod
    def _person(user: str) -> bool:
        """A person's or a tool's account: not a computer account (``PC01$``) nor a service identity."""
        return not user.endswith("$") and user.lower() not in _SERVICE_ACCOUNTS

    @staticmethod
    def _source(address: str | None, workstation: str | None, here: str) -> str | None:
        ip = source_ip(address)
        if ip is not None:
            return None if _is_loopback(ip) else ip
        name = clean(workstation)
        if name is None:
            return None
        name = short_name(name)
        return None if name == here else name

    @staticmethod
    def _local(event: WindowsEvent) -> bool:
        """A local Administrator (name or RID 500, the computer's own domain) over NTLM, as admin-ntlm-logon reads."""
        f = event.fields
        user = (f.get("TargetUserName") or "").strip().lower()
        if user != "administrator" and not (f.get("TargetUserSid") or "").endswith("-500"):
            return False
        package = (f.get("AuthenticationPackageName") or "").strip().upper()
        if package != "NTLM" and (f.get("LogonProcessName") or "").strip().lower() != "ntlmssp":
            return False
        domain = clean(f.get("TargetDomainName"))
        return domain is None or domain == "." or domain.upper() in (short_name(event.computer), "WORKGROUP")

    def _exempt(self, move: _Move) -> bool:
        exempt = self.exempt
        if not exempt:
            return False
        source = move.source
        found = exempt.address(source) if source_ip(source) is not None else exempt.computer(source)
        return found is not None or exempt.account(move.account) is not None

    # -- rules ---------------------------------------------------------------------------------------------------

    def on_event(self, event: WindowsEvent) -> bool:
        if event.event_id == 7045:
            return self._service(event)
        move = self._move(event)
        if move is None or self._exempt(move):
            return False
        hit = self._spread(event, move)
        if move.method == "admin-share":
            name = (event.fields.get("ShareName") or "").strip()
            share = _Share(event.ts, move.source, move.account, name, event, hit)
            self._shares.put(event.computer.lower(), share)
            hit = self._waiting_services(event.computer.lower(), share, counted=hit) or hit
        return hit

    def _within(self, spread: _Spread, target: str, ts: float, method: str) -> int:
        targets = spread.targets
        if target in targets:
            targets.move_to_end(target)
        else:
            while targets and ts - next(iter(targets.values()))[0] > self.window:
                targets.popitem(last=False)
            if len(targets) >= 4096:
                targets.popitem(last=False)
        targets[target] = (ts, method)
        return len(targets)

    def _spread(self, event: WindowsEvent, move: _Move) -> bool:
        ts = event.ts
        book = self.ctx.book
        by_source = self._by_source.setdefault(move.source, _Spread)
        n = self._within(by_source, move.target, ts, move.method)
        local = self._local_admin.setdefault(move.source, _Spread) if move.local_admin else None
        local_n = self._within(local, move.target, ts, move.method) if local is not None else 0
        account_key = move.account.lower()
        by_account = self._by_account.setdefault(account_key, _Spread)
        account_n = self._within(by_account, move.target, ts, move.method)
        by_account.sources[move.source] = ts
        key = f"source|{move.source}"
        state = self._ongoing(book.get(self.rule, key), ts)
        if state is None and local is not None and local_n >= self._local_n:
            state = self._open(key, event, move, "local-admin", Severity.HIGH, local_n)
            self._earlier(state, local, move.target)
            for target in local.targets:
                self._note(state, "local_admin_ntlm", target)
        elif state is None and n >= self._medium:
            state = self._open(key, event, move, "fan-out", Severity.MEDIUM, n)
            self._earlier(state, by_source, move.target)
        if state is None:
            account = f"account|{account_key}"
            state = self._ongoing(book.get(self.rule, account), ts)
            if state is None:
                recent = [s for s, t in by_account.sources.items() if ts - t <= self.window]
                if account_n < self._medium or len(recent) < 2:
                    return False
                state = self._open(account, event, move, "fan-out", Severity.MEDIUM, account_n)
                state.details["by"] = "account"
                state.details["source"] = None
                state.src_ip = None
                for source in recent[:_LISTED]:
                    self._note(state, "sources", source)
                self._earlier(state, by_account, move.target)
            n = max(n, account_n)
        self._add(state, event, move, n, local_n)
        return True

    def _earlier(self, state: AlertState, spread: _Spread, current: str) -> None:
        """Into a new alert: the computers reached before this event within the window, and how."""
        methods = state.details.get("methods")
        if not isinstance(methods, dict):
            methods = state.details["methods"] = dict(methods or {})
        for target, (_, method) in spread.targets.items():
            if target != current:
                self._target(state, target)
                methods[method] = methods.get(method, 0) + 1

    def _ongoing(self, state: AlertState | None, ts: float) -> AlertState | None:
        if state is None:
            return None
        if ts - state.last_seen <= self.quiet_period and state.first_seen - ts <= self.quiet_period:
            return state
        return None

    def _open(self, key: str, event: WindowsEvent, move: _Move, reason: str, severity: Severity, n: int) -> AlertState:
        state, created = self.ctx.book.open(
            self.rule,
            key,
            event.ts,
            severity=severity,
            quiet_period=self.quiet_period,
            src_ip=source_ip(move.source),
        )
        d = state.details
        if created or "reason" not in d:
            d.update(computer=event.computer, reason=reason, by="source", source=move.source, window=self.window)
            state.count += max(n - 1, 0)  # the moves counted before this one (one event each at least)
        return state

    def _add(self, state: AlertState, event: WindowsEvent, move: _Move, n: int, local_n: int) -> None:
        d = state.details
        self._target(state, move.target)
        self._note(state, "accounts", move.account)
        if d.get("by") == "account":
            self._note(state, "sources", move.source)
        methods = d.get("methods")
        if not isinstance(methods, dict):
            methods = d["methods"] = dict(methods or {})
        methods[move.method] = methods.get(move.method, 0) + 1
        if n > d.get("peak_hosts", 0):
            d["peak_hosts"] = n
        if move.local_admin:
            self._note(state, "local_admin_ntlm", move.target)
        if n >= self._high or local_n >= self._local_n:
            state.severity = max(state.severity, Severity.HIGH)
        state.add(event, event.ts)

    @staticmethod
    def _note(state: AlertState, name: str, value: str) -> None:
        items = state.details.get(name)
        if not isinstance(items, list):
            items = state.details[name] = list(items or ())
        if value not in items and len(items) < _LISTED:
            items.append(value)

    def _target(self, state: AlertState, target: str) -> None:
        d = state.details
        items = d.get("targets")
        if not isinstance(items, list):
            items = d["targets"] = list(items or ())
        if target in items:
            return
        if len(items) < _LISTED:
            items.append(target)
        d["targets_count"] = max(d.get("targets_count", 0), len(items) - 1) + 1

    # -- admin share, then a new service ---------------------------------------------------------------------------

    def _service(self, event: WindowsEvent) -> bool:
        if event.channel.lower() != SYSTEM:
            return False
        computer = event.computer.lower()
        share = self._shares.get(computer)
        if share is not None and -_CLOCK_SLACK <= event.ts - share.ts <= self._service_window:
            self._remote_service(share, event, share.counted)
            self._shares.put(computer, share._replace(counted=True))
            return True
        waiting = self._services.setdefault(computer, list)
        waiting.append(event)
        del waiting[:-8]  # the last few: a share read later pairs with one of them
        return False

    def _waiting_services(self, computer: str, share: _Share, counted: bool) -> bool:
        waiting = self._services.get(computer)
        if not waiting:
            return False
        paired = [e for e in waiting if -_CLOCK_SLACK <= e.ts - share.ts <= self._service_window]
        for service in paired:
            waiting.remove(service)
            self._remote_service(share, service, counted)
        return bool(paired)

    def _remote_service(self, share: _Share, service: WindowsEvent, counted: bool) -> None:
        """Pair a share access with the service it led to (``counted``: the share access is in the alert already)."""
        ev = share.event
        move = _Move(share.source, share.account, short_name(ev.computer), "admin-share", False)
        key = f"source|{share.source}"
        state = self._ongoing(self.ctx.book.get(self.rule, key), service.ts)
        if state is None:
            state = self._open(key, service, move, "remote-service", Severity.HIGH, 1)
        if not counted:
            state.add(ev, ev.ts)  # the share access that led to it
        state.severity = max(state.severity, Severity.HIGH)
        f = service.fields
        entry: dict[str, Any] = {
            "computer": service.computer,
            "service": clean(f.get("ServiceName")) or "?",
            "image_path": clean(f.get("ImagePath")) or "",
            "share": share.share,
        }
        services = state.details.get("remote_services")
        if not isinstance(services, list):
            services = state.details["remote_services"] = list(services or ())
        if entry not in services and len(services) < _SERVICES_LISTED:
            services.append(entry)
        self._target(state, move.target)
        self._note(state, "accounts", move.account)
        methods = state.details.get("methods")
        if not isinstance(methods, dict):
            methods = state.details["methods"] = dict(methods or {})
        methods.setdefault("admin-share", 1)
        state.details["peak_hosts"] = max(state.details.get("peak_hosts", 0), 1)
        state.add(service, service.ts)
