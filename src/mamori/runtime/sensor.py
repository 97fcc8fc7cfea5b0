"""The live sensor: interfaces -> decoder -> detection engine -> store, until asked to stop.

One thread captures and detects (libpcap's kernel filter keeps its load small); the store writes in batches on
its own thread. An interface that fails is reopened every few seconds; it never stops the sensor.

Its parts come from the composition root (``mamori.cli``; docs/design.md §11): how to open an interface
(``open_source``: libpcap, or ``mamori.testing.FakeInterfaces``), the action types (the registry), the alert store
(``Store``, or ``mamori.testing.MemoryStore``), the terminal ledger it follows, and the clock. So the whole sensor
runs in a unit test without root, as well as on real interfaces in namespaces.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol

from mamori.alerting import Action, ActionTypes
from mamori.capture.sources import CaptureStats, LiveSource, PacketSource, wait_readable
from mamori.config import Settings
from mamori.detection import Clock, Engine, SystemClock
from mamori.errors import CaptureError, StorageError
from mamori.model import Alert, Site
from mamori.runtime.analyze import capture_filter
from mamori.runtime.assets import StoredDevices
from mamori.runtime.backups import BackupRun, BackupSchedule
from mamori.runtime.blocking import build_block_manager
from mamori.runtime.exposure import stored_services
from mamori.runtime.flow_counts import stored_flows
from mamori.runtime.known_paths import stored_paths
from mamori.runtime.lan import PAYLOAD_SNAPLEN, capture_plan, lan_storage
from mamori.runtime.maintenance import StoredSessions, plans_version
from mamori.runtime.responses import build_dispatcher, log_deliveries
from mamori.runtime.site import effective_site
from mamori.storage import AlertStore, AlertWriter, Ledger, SensorHealth, Store

__all__ = ["LedgerSite", "OpenSource", "Sensor", "SensorReport", "SiteSource", "live_sources"]

log = logging.getLogger(__name__)

_REOPEN_INTERVAL = 5.0
_HEALTH_INTERVAL = 10.0
_FINAL_DRAIN_SECONDS = 30.0  # after a stop signal, keep reading what the kernel buffered for at most this long
_ACTIONS_CLOSE_SECONDS = 15.0  # at stop, pending notifications get this long to go out
_RESTORE_HORIZON = 86400.0
_BACKUP_INTERVAL = 900.0  # backup jobs are checked every 15 minutes (reading a repository takes seconds)

OpenSource = Callable[[str], PacketSource]
"""An interface name -> its packet source (not opened yet)."""


def live_sources(settings: Settings) -> OpenSource:
    """Interfaces captured through libpcap with the kernel filter of these settings (wider, and with more of each
    packet, when a detector reads logins: runtime/lan.py)."""
    plan = capture_plan(settings)
    bpf = capture_filter(settings, plan)
    c = settings.capture
    snaplen = max(c.snaplen, PAYLOAD_SNAPLEN) if plan.reads_payloads else c.snaplen

    def open_source(name: str) -> PacketSource:
        return LiveSource(
            name,
            bpf,
            snaplen=snaplen,
            buffer_bytes=c.buffer_mb * 1024 * 1024,
            promiscuous=c.promiscuous,
            watch=plan.watch,
        )

    return open_source


class SiteSource(Protocol):
    """The site the sensor judges by, and a version that changes when it does (terminals registered or retired in
    the dashboard while the sensor runs)."""

    def version(self) -> Hashable: ...

    def site(self) -> Site: ...


class LedgerSite:
    """The settings file's site plus the ledger's active terminals and the work plans entered on the dashboard, in
    ``store`` (runtime/site.py); its version changes with either."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def version(self) -> Hashable:
        return (Ledger(self.store).version(), plans_version(self.store))

    def site(self) -> Site:
        return effective_site(self.settings, self.store)


@dataclass
class SensorReport:
    interfaces: list[CaptureStats]
    alerts_written: int
    observations: int


class Sensor:
    def __init__(
        self,
        settings: Settings,
        *,
        open_source: OpenSource,
        action_types: ActionTypes,
        interfaces: list[str] | None = None,
        store: AlertStore | None = None,
        ledger: SiteSource | None = None,
        clock: Clock | None = None,
        on_alerts: Callable[[list[Alert]], None] | None = None,
        environ: Mapping[str, str] | None = None,
        backup_interval: float = _BACKUP_INTERVAL,
    ) -> None:
        """``open_source``: how to capture on an interface; ``action_types``: the action registry the settings'
        actions are built from; ``store``: where alerts, health and deliveries go (None: nowhere, deliveries to the
        log); ``ledger``: the site to follow while running (None: the settings file's); ``clock``: the time of
        detection, batches, back-offs and health records."""
        self.settings = settings
        self.clock = clock or SystemClock()
        self.store = store
        self.ledger = ledger
        self._ledger_version: Hashable | None = None
        names = interfaces or list(settings.capture.interfaces)
        if not names:
            raise CaptureError(
                f"{settings.source}: no interface to capture on; set capture.interfaces or pass --interface"
            )
        self.sources = [open_source(n) for n in names]
        self.writer = (
            AlertWriter(store, interval=settings.storage.batch_interval, clock=self.clock)
            if store is not None
            else None
        )
        paths = stored_paths(settings, store, self.writer)  # the new-path rule's memory, saved by the writer
        # Tables beside the alerts, kept by the writer's thread: only a database store has them (not the memory
        # store of the sensor's unit tests).
        db = store if isinstance(store, Store) else None
        services = stored_services(settings, db, self.writer)  # the exposure rule's services seen answering
        sessions = StoredSessions(db, self.writer) if db is not None else None
        flows = stored_flows(settings, db, self.writer)  # hourly counts between segments (the zone map)
        devices = StoredDevices(db, self.writer) if db is not None else None  # the asset ledger (2-①)
        salt, logins = lan_storage(settings, db, self.writer)  # cleartext-credentials: salt, evidence
        self.engine = Engine(
            self._site(),
            settings.detection,
            clock=self.clock,
            known_paths=paths,
            known_services=services,
            sessions=sessions,
            flow_counts=flows,
            devices=devices,
            salt=salt,
            logins=logins,
        )
        self.on_alerts = on_alerts
        # With a syslog collector running beside it, the collector's detector sends the heartbeat (once per box).
        record = self.writer.submit_deliveries if self.writer else log_deliveries
        built: list[Action] = []
        self.dispatcher = build_dispatcher(
            settings,
            record,
            heartbeat=settings.syslog is None,
            action_types=action_types,
            clock=self.clock,
            prepare=built.extend,
        )
        self.blocks = build_block_manager(
            settings,
            self.engine.index.site,
            built,
            store=db,
            writer=self.writer,
            dispatcher=lambda: self.dispatcher,
            record=record,
            clock=self.clock,
        )
        self._started = self.clock.now()
        # The backup jobs are checked on their own thread on this schedule (runtime/backups.py); the alerts they
        # make go out with the packets' at the next tick.
        self.backups = (
            BackupSchedule(
                BackupRun(settings, store=db, clock=self.clock, environ=dict(environ or {})),
                interval=backup_interval,
            )
            if settings.site.backups
            else None
        )
        self._errors: dict[str, str] = {}
        self._next_reopen: dict[str, float] = {}
        self._next_tick = 0.0
        self._next_health = 0.0

    def _site(self) -> Site:
        """The settings file's site plus the ledger's active terminals (registered in the dashboard, imported)."""
        if self.ledger is None:
            return self.settings.site
        try:
            self._ledger_version = self.ledger.version()
            return self.ledger.site()
        except StorageError as exc:
            log.error("cannot read the terminal ledger (using the settings file's terminals): %s", exc)
            return self.settings.site

    def _follow_ledger(self) -> None:
        """Pick up terminals registered or retired while running, without losing any detection state."""
        if self.ledger is None:
            return
        try:
            version = self.ledger.version()
        except StorageError as exc:
            log.error("cannot read the terminal ledger: %s", exc)
            return
        if version != self._ledger_version:
            self.engine.update_site(self._site())
            if self.blocks is not None:
                self.blocks.update_site(self.engine.index.site)
            log.info(
                "terminal ledger changed: now %d registered terminal(s)",
                sum(len(s.terminals) for s in self.engine.index.site.systems),
            )

    def _open(self, source: PacketSource, now: float) -> None:
        try:
            source.open()
        except CaptureError as exc:
            if self._errors.get(source.interface) != str(exc):
                log.error("%s (retrying every %.0f s)", exc, _REOPEN_INTERVAL)
            self._errors[source.interface] = str(exc)
            self._next_reopen[source.interface] = now + _REOPEN_INTERVAL
        else:
            if source.interface in self._errors:
                log.warning("capturing on %s again", source.interface)
            self._errors.pop(source.interface, None)
            log.info("capturing on %s", source.interface)

    def restore(self) -> int:
        """Continue the open alerts of before a restart, without notifying their actions again."""
        if self.store is None:
            return 0
        try:
            alerts = self.store.recent_open_alerts(self.clock.now() - _RESTORE_HORIZON, origin="sensor")
            if self.dispatcher is not None:
                self.dispatcher.restore(self.store.delivered([a.uid for a in alerts]))
        except StorageError as exc:
            log.error("cannot restore open alerts: %s", exc)
            return 0
        return self.engine.restore(alerts)

    def run(self, stop: threading.Event) -> SensorReport:
        """Capture until ``stop`` is set, then read what is still buffered, deliver what is due and stop."""
        self.start()
        while not stop.is_set():
            self.step(0.2)
        return self.finish()

    def start(self) -> None:
        """Open the interfaces; fails (CaptureError) when none can be opened."""
        now = self.clock.now()
        for source in self.sources:
            self._open(source, now)
        if not any(s.is_open for s in self.sources):
            raise CaptureError("; ".join(self._errors.values()))
        if self.blocks is not None:
            self.blocks.start()
        self._next_tick = self.clock.monotonic() + 1.0
        self._next_health = self.clock.monotonic()

    def step(self, timeout: float) -> None:
        """One turn of the capture loop: wait up to ``timeout`` real seconds for packets and feed them to the
        engine; about once a second of the clock collect the alerts (store, actions) and reopen failed interfaces;
        every ten, record health and follow the ledger."""
        for source in wait_readable(self.sources, timeout):
            self._drain(source)
        mono = self.clock.monotonic()
        if mono >= self._next_tick:
            self._next_tick = mono + 1.0
            self._tick()
        if mono >= self._next_health:
            self._next_health = mono + _HEALTH_INTERVAL
            self._record_health()
            self._follow_ledger()

    def finish(self) -> SensorReport:
        """Read what the interfaces still hold, collect, deliver what is due and write everything; then close."""
        deadline = self.clock.monotonic() + _FINAL_DRAIN_SECONDS
        for source in self.sources:  # what the kernel still holds
            while self._drain(source) and self.clock.monotonic() < deadline:
                pass
        if self.backups is not None:
            self.backups.join(_FINAL_DRAIN_SECONDS)  # a check under way: its alerts go out with the last tick
        self._tick()
        if self.engine.devices is not None:
            self.engine.devices.flush()
        self._record_health()
        for source in self.sources:
            source.close()
        if self.blocks is not None:
            self.blocks.close()
        if self.dispatcher is not None:
            self.dispatcher.close(timeout=_ACTIONS_CLOSE_SECONDS)
        written = 0
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            written = self.writer.written
        return SensorReport([s.refresh_stats() for s in self.sources], written, self.engine.observations)

    def _drain(self, source: PacketSource, max_batches: int = 16) -> bool:
        """Feed up to ``max_batches`` batches from one interface to the engine, batch by batch (so memory holds one
        batch, not the whole backlog). Returns whether packets may still be waiting."""
        for _ in range(max_batches):
            try:
                batch = source.read_batch()
            except CaptureError as exc:
                log.error("%s", exc)
                self._errors[source.interface] = str(exc)
                self._next_reopen[source.interface] = self.clock.now() + _REOPEN_INTERVAL
                return False
            if batch is None:
                return False
            if batch:
                self.engine.feed(batch)
        return True

    def _tick(self) -> None:
        now = self.clock.now()
        for source in self.sources:
            if not source.is_open and now >= self._next_reopen.get(source.interface, 0.0):
                self._open(source, now)
        self.engine.tick(now)
        if self.backups is not None:
            self.backups.poll(self._deliver)
        self._deliver(self.engine.collect_changes())
        if self.dispatcher is not None:
            self.dispatcher.tick()

    def _deliver(self, changes: list[Alert]) -> None:
        if changes:
            if self.writer is not None:
                self.writer.submit(changes)
            if self.dispatcher is not None:
                self.dispatcher.submit(changes)
            if self.on_alerts is not None:
                self.on_alerts(changes)

    def _record_health(self) -> None:
        if self.writer is None:
            return
        health = []
        for source in self.sources:
            st = source.refresh_stats()
            health.append(
                SensorHealth(
                    name=source.interface,
                    kind="interface",
                    started_at=self._started,
                    last_packet=st.last_packet,
                    matched=st.matched,
                    decoded=st.decoded,
                    malformed=st.malformed,
                    received=st.received,
                    dropped=st.dropped,
                    if_dropped=st.if_dropped,
                    error=self._errors.get(source.interface, ""),
                )
            )
        self.writer.submit_health(health)
