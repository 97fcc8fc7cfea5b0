"""``remote-maintenance``: vendors' sessions compared with their work plans (docs/design.md §10).

Evidence of a vendor at work comes from four places, each turned into a *contact* (time, vendor, where from,
target, port, account):

- a SYN on the wire from one of the vendor's ``sources`` (the VPN pool, the bastion), or a firewall line that
  *allowed* such a connection (a denied one did not get in, and is not a session);
- a VPN gateway's line (``VpnEvent``): a user's login, the address it was given, its logout; a tunnel up;
- a Windows logon (4624 types 3 and 10; 1149, the RDP authentication) from a vendor address or with a vendor
  account.

Contacts from the same vendor and the same place (the address inside the VPN when the gateway said which, else the
source address, else the account) are one **session** until they stop for ``idle`` (30 minutes) or the VPN says the
session ended. Each contact is judged against the vendor's work plans in the site's time zone: no plan at all,
outside every window, a target, port or account the plan does not list. A session with any difference is **one**
alert (its later connections count into it); a session within its plan gives none. Every session, alert or not,
goes to a :class:`SessionSink` (the store, wired by ``runtime``) for the work report.

VPN sessions not tied to a vendor (no vendor account, address or peer): when some work plan is open at that time
the session is recorded (the vendor is expected now) without an alert; when none is, it is a ``vpn-no-plan`` alert.
A Yamaha ``IP Tunnel[n] Up`` counts as a VPN tunnel only when an IKE peer was seen on the same router just before
(otherwise it is the provider's IPIP/MAP-E tunnel coming up, which is not remote access).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mamori.config import RemoteMaintenanceSettings
from mamori.detection.book import AlertBook, AlertState
from mamori.detection.site_index import SiteIndex
from mamori.detection.work_plans import Targets, VendorIndex, account_key, window_at
from mamori.model import ConnectionAttempt, MaintenanceSession, Severity, Site, Vendor, VpnEvent, WindowsEvent, WorkPlan

__all__ = ["RULE", "MaintenanceTracker", "RemoteMaintenanceDetector", "SessionSink", "logon_contact"]

RULE = "remote-maintenance"
_PEER_WAIT = 120.0  # an IKE/L2TP peer names the login or tunnel that follows within this long on the same device
_LISTED = 64  # targets, ports and accounts listed per session


class SessionSink(Protocol):
    """Where sessions go: the store (``runtime`` wires it) or ``mamori.testing.MemorySessions``. ``save`` receives
    the sessions new or changed since the last call, and must not block for long."""

    def save(self, sessions: Sequence[MaintenanceSession]) -> None: ...


@dataclass(eq=False)
class _Session:
    uid: str
    vendor: Vendor | None
    source: str
    start: float
    end: float
    remote_ip: str = ""
    accounts: dict[str, None] = field(default_factory=dict)
    targets: dict[str, None] = field(default_factory=dict)
    ports: dict[int, None] = field(default_factory=dict)
    via: dict[str, None] = field(default_factory=dict)
    differences: dict[str, None] = field(default_factory=dict)
    off_plan: dict[str, None] = field(default_factory=dict)
    plan: WorkPlan | None = None
    connections: int = 0
    alert: AlertState | None = None
    ended: bool = False

    def frozen(self) -> MaintenanceSession:
        return MaintenanceSession(
            uid=self.uid,
            vendor=self.vendor.name if self.vendor else "",
            source=self.source,
            start=self.start,
            end=self.end,
            accounts=tuple(self.accounts),
            targets=tuple(self.targets),
            ports=tuple(self.ports),
            via=tuple(self.via),
            plan=self.plan.ident if self.plan else "",
            ticket=self.plan.ticket if self.plan else "",
            differences=tuple(self.differences),
            off_plan=tuple(self.off_plan),
            connections=self.connections,
            alert_uid=self.alert.uid if self.alert else "",
            ended=self.ended,
        )


def _note(items: dict[str, None] | dict[int, None], value: object) -> None:
    if value is not None and value != "" and len(items) < _LISTED:
        items[value] = None  # type: ignore[index]


class MaintenanceTracker:
    """Groups contacts into sessions, judges them against the work plans, raises one alert per session."""

    def __init__(
        self,
        site: Site,
        settings: RemoteMaintenanceSettings,
        book: AlertBook,
        sink: SessionSink | None = None,
        new_uid: Callable[[], str] | None = None,
    ) -> None:
        self.settings = settings
        self.book = book
        self.sink = sink
        self._new_uid = new_uid or (lambda: uuid.uuid4().hex)
        self.use_site(site)
        self._sessions: OrderedDict[tuple[str, str], _Session] = OrderedDict()
        self._aliases: dict[str, tuple[str, str]] = {}  # address inside the VPN -> session key
        self._tunnels: dict[tuple[str, str], tuple[str, str]] = {}  # (device, tunnel) -> session key
        self._peers: dict[str, tuple[float, str]] = {}  # device -> (when, peer address)
        self._dirty: dict[str, _Session] = {}

    def use_site(self, site: Site) -> None:
        self.site = site
        self.vendors = VendorIndex(site.vendors)
        self._targets: dict[tuple[str, str], Targets] = {}

    # -- judging --------------------------------------------------------------------------------------------------

    def _allowed(self, vendor: Vendor, plan: WorkPlan) -> Targets:
        key = (vendor.name, plan.ident)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = Targets(plan.targets or vendor.devices)
        return found

    def _judge(
        self, vendor: Vendor | None, ts: float, target: str | None, port: int | None, account: str | None
    ) -> tuple[WorkPlan | None, list[str], list[str]]:
        """(the plan compared with, the differences, what the plan does not list)."""
        zone = self.site.time_zone
        if vendor is None:
            for other in self.site.vendors:
                for plan in other.work_plans:
                    if window_at(plan, ts, zone) is not None:
                        return plan, [], []
            return None, ["vpn-no-plan"], []
        if not vendor.work_plans:
            return None, ["no-plan"], []
        open_plans = [p for p in vendor.work_plans if window_at(p, ts, zone) is not None]
        if not open_plans:
            return None, ["outside-window"], []
        best: tuple[WorkPlan | None, list[str], list[str]] = (None, [], [])
        for plan in open_plans:
            codes: list[str] = []
            off: list[str] = []
            targets = self._allowed(vendor, plan)
            if target is not None and not targets.empty and target not in targets:
                codes.append("target")
                off.append(f"target:{target}")
            if port is not None and plan.ports and port not in plan.ports:
                codes.append("port")
                off.append(f"port:{port}")
            accounts = plan.accounts or vendor.accounts
            if account and accounts and account_key(account) not in {account_key(a) for a in accounts}:
                codes.append("account")
                off.append(f"account:{account}")
            if not codes:
                return plan, [], []
            if best[0] is None:
                best = (plan, codes, off)
        return best

    # -- sessions -------------------------------------------------------------------------------------------------

    def _session(self, key: tuple[str, str], vendor: Vendor | None, source: str, ts: float) -> _Session:
        session = self._sessions.get(key)
        if session is not None and (ts - session.end > self.settings.idle or session.ended):
            self._finish(key, session)
            session = None
        if session is None:
            if len(self._sessions) >= self.settings.max_sessions:
                old_key, old = next(iter(self._sessions.items()))
                self._finish(old_key, old)
            session = _Session(self._new_uid(), vendor, source, ts, ts)
            self._sessions[key] = session
        else:
            self._sessions.move_to_end(key)
        return session

    def _finish(self, key: tuple[str, str], session: _Session) -> None:
        session.ended = True
        self._dirty[session.uid] = session
        self._sessions.pop(key, None)
        for alias in [a for a, k in self._aliases.items() if k == key]:
            del self._aliases[alias]
        for tunnel in [t for t, k in self._tunnels.items() if k == key]:
            del self._tunnels[tunnel]

    def contact(
        self,
        obs: object,
        ts: float,
        vendor: Vendor | None,
        client: str,
        via: str,
        *,
        target: str | None = None,
        port: int | None = None,
        account: str | None = None,
        remote_ip: str | None = None,
    ) -> tuple[tuple[str, str], _Session]:
        """One piece of evidence of a vendor at work (``client``: where the session comes from)."""
        alias = self._aliases.get(client)
        key = alias if alias is not None else (vendor.name if vendor else "", client)
        session = self._session(key, vendor, client, ts)
        session.end = max(session.end, ts)
        session.start = min(session.start, ts)
        session.connections += 1
        _note(session.via, via)
        _note(session.targets, target)
        _note(session.ports, port)
        _note(session.accounts, account)
        if remote_ip and not session.remote_ip:
            session.remote_ip = remote_ip
        plan, codes, off = self._judge(vendor, ts, target, port, account)
        if session.plan is None and plan is not None:
            session.plan = plan
        for code in codes:
            session.differences[code] = None
        for item in off:
            _note(session.off_plan, item)
        if codes or session.alert is not None:
            self._alert(session, obs, ts)
        self._dirty[session.uid] = session
        return key, session

    def _alert(self, session: _Session, obs: object, ts: float) -> None:
        state = session.alert
        if state is None or self.book.get(RULE, session.uid) is not state:
            state, _ = self.book.open(
                RULE,
                session.uid,
                ts,
                severity=Severity.HIGH,
                quiet_period=self.settings.idle,
                src_ip=session.source if _is_ip(session.source) else None,
            )
            session.alert = state
        first_target = next(iter(session.targets), None)
        if state.dst_ip is None and first_target is not None and _is_ip(first_target):
            state.dst_ip = first_target
        if state.dst_port is None and session.ports:
            state.dst_port = next(iter(session.ports))
        state.details.update(
            session=session.uid,
            vendor=session.vendor.name if session.vendor else "",
            source=session.source,
            remote_ip=session.remote_ip,
            accounts=list(session.accounts),
            targets=list(session.targets),
            ports=list(session.ports),
            differences=list(session.differences),
            off_plan=list(session.off_plan),
            plan=session.plan.ident if session.plan else "",
            ticket=session.plan.ticket if session.plan else "",
            via=list(session.via),
        )
        state.add(obs, ts)

    # -- the observations -----------------------------------------------------------------------------------------

    def on_attempt(self, obs: ConnectionAttempt) -> None:
        if obs.action == "deny":
            return
        vendor = self.vendors.by_address(obs.src_ip)
        if vendor is None:
            alias = self._aliases.get(obs.src_ip)
            if alias is None:
                return
            session = self._sessions.get(alias)
            vendor = session.vendor if session else None
            if session is None:
                return
        via = "firewall" if obs.action is not None else "wire"
        self.contact(obs, obs.ts, vendor, obs.src_ip, via, target=obs.dst_ip, port=obs.dst_port)

    def on_vpn(self, event: VpnEvent) -> None:
        kind = event.kind
        if kind == "peer":
            if event.remote_ip:
                self._peers[event.device] = (event.ts, event.remote_ip)
            return
        tunnel = (event.device, event.tunnel or "")
        if kind in ("logout", "tunnel-down"):
            key = self._tunnels.get(tunnel)
            session = self._sessions.get(key) if key else None
            if session is not None and key is not None:
                session.end = max(session.end, event.ts)
                self._finish(key, session)
            return
        if kind == "address":
            key = self._tunnels.get(tunnel)
            if key is not None and event.assigned_ip:
                self._aliases[event.assigned_ip] = key
                session = self._sessions.get(key)
                if session is not None:  # the connections inside the VPN come from this address
                    session.source = event.assigned_ip
                    if session.alert is not None:
                        session.alert.details["source"] = event.assigned_ip
                    self._dirty[session.uid] = session
            return
        remote = event.remote_ip
        peer = self._peers.get(event.device)
        if remote is None and peer is not None and event.ts - peer[0] <= _PEER_WAIT:
            remote = peer[1]
        if kind == "tunnel-up" and remote is None and event.user is None:
            return  # no peer named: not known to be remote access (see the module's docstring)
        vendor = (
            self.vendors.by_account(event.user)
            or self.vendors.by_address(event.assigned_ip)
            or self.vendors.by_address(remote)
        )
        client = event.assigned_ip or remote or f"{event.device} {event.tunnel or ''}".strip()
        key, session = self.contact(event, event.ts, vendor, client, "vpn", account=event.user, remote_ip=remote)
        self._tunnels[tunnel] = key
        if event.assigned_ip:
            self._aliases[event.assigned_ip] = key
            session.source = event.assigned_ip

    def on_logon(self, event: WindowsEvent, src_ip: str | None, account: str | None, port: int | None) -> bool:
        """A logon from a vendor address or with a vendor account; whether it was one."""
        vendor = self.vendors.by_address(src_ip) or self.vendors.by_account(account)
        if vendor is None and src_ip is not None and src_ip in self._aliases:
            session = self._sessions.get(self._aliases[src_ip])
            vendor = session.vendor if session else None
        if vendor is None:
            return False
        client = src_ip or f"account:{account_key(account or '')}"
        self.contact(event, event.ts, vendor, client, "windows", target=event.computer, port=port, account=account)
        return True

    # -- time -------------------------------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Sessions silent for ``idle`` are over (a later connection starts a new one)."""
        idle = self.settings.idle
        for key, session in list(self._sessions.items()):
            if now - session.end > idle:
                self._finish(key, session)
        for device, (when, _) in list(self._peers.items()):
            if now - when > _PEER_WAIT:
                del self._peers[device]

    def flush(self) -> None:
        if self._dirty and self.sink is not None:
            self.sink.save([s.frozen() for s in self._dirty.values()])
        self._dirty.clear()

    def finish(self) -> None:
        for key, session in list(self._sessions.items()):
            self._finish(key, session)
        self.flush()

    def sessions(self) -> Iterable[MaintenanceSession]:
        """The sessions still open (for tests and the CLI)."""
        return [s.frozen() for s in self._sessions.values()]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# 4624 logon types that are remote access: 3 (network: SMB, WinRM...) and 10 (RemoteInteractive: RDP).
_LOGON_PORTS = {3: None, 10: 3389}


def logon_contact(event: WindowsEvent) -> tuple[str | None, str | None, int | None] | None:
    """(source address, account, port) of a remote logon event, or None when it is not one."""
    from mamori.detection.windows.common import account_of, logon_type, source_ip

    if event.event_id == 4624:
        kind = logon_type(event)
        if kind not in _LOGON_PORTS:
            return None
        return source_ip(event.fields.get("IpAddress")), account_of(event) or None, _LOGON_PORTS[kind]
    if event.event_id == 1149:
        # TerminalServices-RemoteConnectionManager: Param1 user, Param2 domain, Param3 source address.
        fields = event.fields
        user = (fields.get("Param1") or "").strip()
        domain = (fields.get("Param2") or "").strip()
        account = f"{domain}\\{user}" if domain and user else user or None
        return source_ip(fields.get("Param3")), account, 3389
    return None


class RemoteMaintenanceDetector:
    """The network side: SYNs and firewall lines (``on_attempt``), VPN lines (``on_vpn``)."""

    rule = RULE

    def __init__(
        self,
        index: SiteIndex,
        settings: RemoteMaintenanceSettings,
        book: AlertBook,
        sink: SessionSink | None = None,
    ) -> None:
        self.quiet_period = settings.idle
        self.tracker = MaintenanceTracker(index.site, settings, book, sink)
        self.on_attempt = self.tracker.on_attempt
        self.on_vpn = self.tracker.on_vpn

    def use_index(self, index: SiteIndex) -> None:
        self.tracker.use_site(index.site)

    def tick(self, now: float) -> None:
        self.tracker.tick(now)

    def refresh(self) -> None:
        self.tracker.flush()

    def finish(self) -> None:
        self.tracker.finish()
