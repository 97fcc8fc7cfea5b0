"""The live sensor: interfaces -> decoder -> detection engine -> store, until asked to stop.

One thread captures and detects (libpcap's kernel filter keeps its load small); the store writes in batches on
its own thread. An interface that fails is reopened every few seconds; it never stops the sensor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mamori.capture.sources import CaptureStats, LiveSource, wait_readable
from mamori.config import Settings
from mamori.detection import Clock, Engine, SystemClock
from mamori.errors import CaptureError, StorageError
from mamori.model import Alert, Site
from mamori.runtime.analyze import capture_filter
from mamori.runtime.exposure import stored_services
from mamori.runtime.known_paths import stored_paths
from mamori.runtime.lan import PAYLOAD_SNAPLEN, capture_plan, lan_storage
from mamori.runtime.maintenance import StoredSessions, plans_version
from mamori.runtime.responses import build_dispatcher, log_deliveries
from mamori.runtime.site import effective_site
from mamori.storage import AlertWriter, Ledger, SensorHealth, Store

__all__ = ["Sensor", "SensorReport"]

log = logging.getLogger(__name__)

_REOPEN_INTERVAL = 5.0
_HEALTH_INTERVAL = 10.0
_FINAL_DRAIN_SECONDS = 30.0  # after a stop signal, keep reading what the kernel buffered for at most this long
_ACTIONS_CLOSE_SECONDS = 15.0  # at stop, pending notifications get this long to go out
_RESTORE_HORIZON = 86400.0


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
        interfaces: list[str] | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
        on_alerts: Callable[[list[Alert]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.store = store
        self._ledger_version: tuple[int, float] | None = None
        self._plans_version: tuple[int, int] | None = None
        names = interfaces or list(settings.capture.interfaces)
        if not names:
            raise CaptureError(
                f"{settings.source}: no interface to capture on; set capture.interfaces or pass --interface"
            )
        self.writer = AlertWriter(store, interval=settings.storage.batch_interval) if store is not None else None
        paths = stored_paths(settings, store, self.writer)  # the new-path rule's memory, saved by the writer
        services = stored_services(settings, store, self.writer)  # the exposure rule's services seen answering
        sessions = StoredSessions(store, self.writer) if store is not None else None
        salt, logins = lan_storage(settings, store, self.writer)  # cleartext-credentials: salt, evidence
        self.engine = Engine(
            self._site(),
            settings.detection,
            clock=self.clock,
            known_paths=paths,
            known_services=services,
            sessions=sessions,
            salt=salt,
            logins=logins,
        )
        plan = capture_plan(settings)
        bpf = capture_filter(settings, plan)
        c = settings.capture
        # Reading logins needs more of each packet than its headers.
        snaplen = max(c.snaplen, PAYLOAD_SNAPLEN) if plan.reads_payloads else c.snaplen
        self.sources = [
            LiveSource(
                n,
                bpf,
                snaplen=snaplen,
                buffer_bytes=c.buffer_mb * 1024 * 1024,
                promiscuous=c.promiscuous,
                watch=plan.watch,
            )
            for n in names
        ]
        self.on_alerts = on_alerts
        # With a syslog collector running beside it, the collector's detector sends the heartbeat (once per box).
        self.dispatcher = build_dispatcher(
            settings,
            self.writer.submit_deliveries if self.writer else log_deliveries,
            heartbeat=settings.syslog is None,
        )
        self._started = self.clock.now()
        self._errors: dict[str, str] = {}
        self._next_reopen: dict[str, float] = {}

    def _site(self) -> Site:
        """The settings file's site plus the ledger's active terminals (registered in the dashboard, imported)."""
        if self.store is None:
            return self.settings.site
        try:
            self._ledger_version = Ledger(self.store).version()
            self._plans_version = plans_version(self.store)
            return effective_site(self.settings, self.store)
        except StorageError as exc:
            log.error("cannot read the terminal ledger (using the settings file's terminals): %s", exc)
            return self.settings.site

    def _follow_ledger(self) -> None:
        """Pick up terminals registered or retired while running, without losing any detection state."""
        if self.store is None:
            return
        try:
            version = Ledger(self.store).version()
        except StorageError as exc:
            log.error("cannot read the terminal ledger: %s", exc)
            return
        if version != self._ledger_version or plans_version(self.store) != self._plans_version:
            self.engine.update_site(self._site())
            log.info(
                "terminal ledger changed: now %d registered terminal(s)",
                sum(len(s.terminals) for s in self.engine.index.site.systems),
            )

    def _open(self, source: LiveSource, now: float) -> None:
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
        now = self.clock.now()
        for source in self.sources:
            self._open(source, now)
        if not any(s.is_open for s in self.sources):
            raise CaptureError("; ".join(self._errors.values()))
        next_tick = time.monotonic() + 1.0
        next_health = time.monotonic()
        engine = self.engine
        while not stop.is_set():
            for source in wait_readable(self.sources, 0.2):
                self._drain(source)
            mono = time.monotonic()
            if mono >= next_tick:
                next_tick = mono + 1.0
                self._tick()
            if mono >= next_health:
                next_health = mono + _HEALTH_INTERVAL
                self._record_health()
                self._follow_ledger()
        deadline = time.monotonic() + _FINAL_DRAIN_SECONDS
        for source in self.sources:  # what the kernel still holds
            while self._drain(source) and time.monotonic() < deadline:
                pass
        self._tick()
        self._record_health()
        for source in self.sources:
            source.close()
        if self.dispatcher is not None:
            self.dispatcher.close(timeout=_ACTIONS_CLOSE_SECONDS)
        written = 0
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            written = self.writer.written
        return SensorReport([s.refresh_stats() for s in self.sources], written, engine.observations)

    def _drain(self, source: LiveSource, max_batches: int = 16) -> bool:
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
        changes = self.engine.collect_changes()
        if changes:
            if self.writer is not None:
                self.writer.submit(changes)
            if self.dispatcher is not None:
                self.dispatcher.submit(changes)
            if self.on_alerts is not None:
                self.on_alerts(changes)
        if self.dispatcher is not None:
            self.dispatcher.tick()

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
