"""The block manager: makes blocks after the safety rules, keeps them in the block book, lifts them by hand, by their
timer, or when the device is registered. It lives in the sensor (``mamori watch``), where ARP isolation sends its
frames; the dashboard only asks for a release (a flag in the book), which the manager's thread carries out within
a second. Its timer runs on the model's Clock, so tests move time instead of sleeping."""

from __future__ import annotations

import ipaddress
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mamori.blocking.arp import ArpLink, Binding, IsolationPlan, Isolator, RawLink
from mamori.blocking.records import BlockBook, BlockRecord
from mamori.blocking.safety import SiteFacts, refusal
from mamori.blocking.snmp import PortFound, SnmpError, SwitchClient
from mamori.config import ArpIsolateAction, SnmpPortAction
from mamori.model import Alert, Clock, Site

__all__ = ["BlockEvent", "BlockManager"]

log = logging.getLogger(__name__)

_LOOP = 1.0  # seconds between looks at the book (release requests, timers)
_RETRY = 10.0  # seconds before a failed release is tried again


@dataclass(frozen=True)
class BlockEvent:
    """A block made, recorded in dry run, refused, failed, or released."""

    record: BlockRecord
    event: str  # blocked | dry-run | refused | failed | released | release-failed


class BlockManager:
    def __init__(
        self,
        site: Site,
        book: BlockBook,
        *,
        clock: Clock,
        on_event: Callable[[BlockEvent], None] | None = None,
        link_factory: Callable[[str], ArpLink] = RawLink,
        switch_client: Callable[[Any], SwitchClient] = SwitchClient,
    ) -> None:
        self.book = book
        self.clock = clock
        self.on_event = on_event
        self._link_factory = link_factory
        self._switch_client = switch_client
        self._facts = SiteFacts(site)
        self._isolators: dict[str, Isolator] = {}
        self._retry_at: dict[str, float] = {}
        self._lock = threading.RLock()
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    # -- the site ----------------------------------------------------------------------------------------------------

    @property
    def site(self) -> Site:
        return self._facts.site

    def update_site(self, site: Site) -> None:
        """A new site (a terminal registered): a block on a device now registered is lifted at once."""
        with self._lock:
            self._facts = SiteFacts(site)
            for record in self.book.active():
                if self._facts.protected_mac(record.mac):
                    self._release(record, "registered")

    # -- blocking ----------------------------------------------------------------------------------------------------

    def _new(self, alert: Alert, method: str, action: str, mac: str | None) -> BlockRecord:
        return BlockRecord(
            id=uuid.uuid4().hex[:16],
            method=method,
            action=action,
            alert_uid=alert.uid,
            rule=alert.rule,
            mac=mac or "",
            ip=alert.src_ip,
            state="refused",
            created_at=self.clock.now(),
        )

    def _finish(self, record: BlockRecord, event: str) -> BlockRecord:
        self.book.save(record)
        log.warning(
            "block %s: %s %s %s (%s) %s", record.id, event, record.method, record.mac, record.place, record.reason
        )
        if self.on_event is not None:
            try:
                self.on_event(BlockEvent(record, event))
            except Exception:
                log.exception("block %s: recording the event failed", record.id)
        return record

    def _precheck(self, alert: Alert, method: str, action: str) -> tuple[BlockRecord, BlockRecord | None]:
        """The new record, and the record to return at once (refused, or the block already in force)."""
        mac = alert.src_mac.lower() if alert.src_mac else None
        record = self._new(alert, method, action, mac)
        no = refusal(self._facts, alert.rule, alert.severity, mac, alert.src_ip)
        if no is not None:
            return record, self._finish(replace(record, reason=no.code, detail=no.detail), "refused")
        for active in self.book.active():
            if active.mac == mac and active.method == method:
                return record, active
        return record, None

    def _release_at(self) -> float | None:
        after = self.site.blocking.release_after
        return self.clock.now() + after if after > 0 else None

    def block_port(self, alert: Alert, settings: SnmpPortAction) -> BlockRecord:
        """Shut the access port of ``alert``'s source (or record what would be done)."""
        with self._lock:
            record, done = self._precheck(alert, "snmp-port", settings.name)
            if done is not None:
                return done
            switches = [s for s in self.site.switches if settings.switches is None or s.name in settings.switches]
            if not switches:
                return self._finish(replace(record, reason="no-switch"), "refused")
            found: list[PortFound] = []
            errors: list[str] = []
            for switch in switches:
                try:
                    port = self._switch_client(switch).locate(record.mac)
                except SnmpError as exc:
                    errors.append(str(exc))
                    continue
                if port is not None:
                    found.append(port)
            if not found:
                code = "snmp-error" if errors else "not-found"
                return self._finish(
                    replace(record, state="failed" if errors else "refused", reason=code, detail="; ".join(errors)),
                    "failed" if errors else "refused",
                )
            by_name = {s.name: s for s in switches}
            access = [p for p in found if not p.is_named(by_name[p.switch].uplinks)]
            port = access[0] if access else found[0]
            switch = by_name[port.switch]
            record = replace(
                record,
                place=f"{switch.name} {port.name or port.descr or port.if_index} (ifIndex {port.if_index})",
                port_name=port.name or port.descr,
                port_descr=port.alias,
            )
            reason = self._port_refusal(port, switch.uplinks, switch.protect, switch.max_macs, record.mac)
            if reason is not None:
                return self._finish(replace(record, reason=reason[0], detail=reason[1]), "refused")
            if settings.dry_run or self.site.blocking.dry_run:
                dry = replace(record, state="dry-run", release_at=self._release_at(), restore={"dry_run": True})
                return self._finish(dry, "dry-run")
            try:
                restore = self._switch_client(switch).shut(port)
            except SnmpError as exc:
                return self._finish(replace(record, state="failed", reason="snmp-error", detail=str(exc)), "failed")
            record = replace(record, state="active", restore=restore, release_at=self._release_at())
            return self._finish(record, "blocked")

    def _port_refusal(
        self, port: PortFound, uplinks: Sequence[str], protect: Sequence[str], max_macs: int, mac: str
    ) -> tuple[str, str] | None:
        if port.is_named(uplinks):
            return "uplink", port.name
        if port.is_named(protect):
            return "protected", port.name
        if len(port.macs) > max_macs:
            return "too-many-macs", f"{len(port.macs)} > {max_macs}"
        for other in port.macs:
            if other != mac and self._facts.protected_mac(other):
                return "shared-port", other
        return None

    def isolate(self, alert: Alert, settings: ArpIsolateAction) -> BlockRecord:
        """Cut ``alert``'s source off by ARP from the peers on its segment (or record what would be done)."""
        with self._lock:
            record, done = self._precheck(alert, "arp-isolate", settings.name)
            if done is not None:
                return done
            ip = alert.src_ip
            if not ip or ipaddress.ip_address(ip).version != 4:
                return self._finish(replace(record, reason="no-targets", detail="IPv4 only"), "refused")
            peers = self._peers(alert, ip)
            if not peers:
                return self._finish(replace(record, reason="no-targets"), "refused")
            record = replace(
                record,
                place=f"{settings.interface}: " + ", ".join(p.ip for p in peers),
                restore={"interface": settings.interface, "peers": [[p.ip, p.mac] for p in peers]},
            )
            duration_end = self.clock.now() + settings.duration
            release_at = self._release_at()
            release_at = duration_end if release_at is None else min(release_at, duration_end)
            if settings.dry_run or self.site.blocking.dry_run:
                restore = {**record.restore, "dry_run": True}
                dry = replace(record, state="dry-run", release_at=release_at, restore=restore)
                return self._finish(dry, "dry-run")
            try:
                link = self._link_factory(settings.interface)
            except OSError as exc:
                return self._finish(replace(record, state="failed", reason="link-error", detail=str(exc)), "failed")
            plan = IsolationPlan(
                Binding(ip, record.mac), tuple(peers), settings.sink_mac, settings.interval, settings.max_rate
            )
            isolator = Isolator(plan, link, deadline=self.clock.monotonic() + settings.duration)
            self._isolators[record.id] = isolator
            isolator.start()
            return self._finish(replace(record, state="active", release_at=release_at), "blocked")

    def _peers(self, alert: Alert, ip: str) -> list[Binding]:
        """The servers (of the alert's system, else every system) and gateways on the stranger's segment whose MAC
        is known; never one on a medical segment."""
        facts = self._facts
        systems = [s for s in self.site.systems if s.name == alert.system] or list(self.site.systems)
        candidates = [(v.ip, v.mac) for s in systems for v in s.servers if v.mac]
        candidates += [(g.ip, g.mac) for g in self.site.gateways if g.ip]
        segment = facts.segment_of(ip)
        peers: dict[str, Binding] = {}
        for peer_ip, peer_mac in candidates:
            if peer_mac is None or ipaddress.ip_address(peer_ip).version != 4 or facts.medical(peer_ip):
                continue
            if segment is not None and facts.segment_of(peer_ip) != segment:
                continue
            peers.setdefault(peer_ip, Binding(peer_ip, peer_mac))
        return list(peers.values())

    # -- releasing ---------------------------------------------------------------------------------------------------

    def release(self, block_id: str, by: str) -> BlockRecord | None:
        """Lift one block now (``by``: a user name, ``auto``, ``registered``)."""
        with self._lock:
            for record in self.book.active():
                if record.id == block_id:
                    return self._release(record, by)
        return None

    def _release(self, record: BlockRecord, by: str) -> BlockRecord:
        if record.state == "active":
            try:
                if record.method == "snmp-port":
                    switch = next(s for s in self.site.switches if s.name == record.restore.get("switch"))
                    self._switch_client(switch).restore(dict(record.restore))
                else:
                    self._stop_isolation(record)
            except (SnmpError, StopIteration) as exc:
                detail = f"release failed: {exc}" if isinstance(exc, SnmpError) else "release failed: switch gone"
                self._retry_at[record.id] = self.clock.monotonic() + _RETRY
                failed = replace(record, detail=detail)
                self.book.save(failed)
                if self.on_event is not None:
                    self.on_event(BlockEvent(failed, "release-failed"))
                return failed
        self._retry_at.pop(record.id, None)
        released = replace(record, state="released", released_at=self.clock.now(), released_by=by)
        return self._finish(released, "released")

    def _stop_isolation(self, record: BlockRecord) -> None:
        isolator = self._isolators.pop(record.id, None)
        if isolator is not None:
            isolator.stop()
            return
        # Isolated by an earlier run of the sensor: its frames stopped with it; tell the true bindings again.
        peers = [Binding(str(ip), str(mac)) for ip, mac in record.restore.get("peers", [])]
        if record.ip and peers:
            try:
                link = self._link_factory(str(record.restore.get("interface", "")))
            except OSError as exc:
                log.error("block %s: cannot restore the ARP bindings: %s", record.id, exc)
                return
            plan = IsolationPlan(Binding(record.ip, record.mac), tuple(peers), "02:00:00:00:00:00")
            Isolator(plan, link, deadline=0.0).restore()

    def check(self) -> None:
        """Carry out release requests and due timers (the manager's thread calls this every second)."""
        now = self.clock.now()
        mono = self.clock.monotonic()
        with self._lock:
            requested = {r.id: r for r in self.book.release_requests()}
            for record in self.book.active():
                if self._retry_at.get(record.id, 0.0) > mono:
                    continue
                isolator = self._isolators.get(record.id)
                expired = (
                    record.method == "arp-isolate"
                    and record.state == "active"
                    and (isolator is None or not isolator.running)
                )
                if record.id in requested:
                    self._release(record, requested[record.id].release_requested_by or "dashboard")
                elif expired or (record.release_at is not None and now >= record.release_at):
                    self._release(record, "auto")

    # -- the thread --------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mamori-blocks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closing:
                    return
                self.clock.wait(self._cond, _LOOP)
                if self._closing:
                    return
            try:
                self.check()
            except Exception:
                log.exception("blocks: checking releases failed")

    def close(self) -> None:
        """Stop the thread. ARP isolation ends with the process, so it is lifted (true bindings told); a port
        shut over SNMP stays shut until its release (by hand, its timer, or registration) in a later run."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)
        with self._lock:
            for record in self.book.active():
                if record.method == "arp-isolate":
                    self._release(record, "stopped")
