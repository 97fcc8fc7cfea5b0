"""The syslog collector: listeners -> evidence archive (own writer thread) -> detection (child process).

The receiving process does two things only, so that nothing accepted is lost: the event loop (uvloop) receives
and stamps, and the writer thread appends each handed-over batch to the archive at once (``os.write``: a
``kill -9`` loses nothing written) and fsyncs at least every ``fsync_interval``. A maintenance thread compresses
closed days, applies retention and updates the mirror. Detection runs in a child process that follows the
archive (:mod:`mamori.runtime.log_detect`).

When the archive cannot be written (disk full, I/O error) the writer keeps the lines and retries every second,
TCP senders are paused by back-pressure, UDP beyond the backlog limit is dropped and counted, and an
``archive-error`` alert goes to the store and the actions — the collector does not stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import logging
import multiprocessing
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.config import Settings
from mamori.config.syslog import SyslogSettings
from mamori.errors import MamoriError, StorageError
from mamori.ingest.syslog_server import Ack, Item, SyslogReceiver, tls_context, udp_kernel_drops
from mamori.model import Alert, Severity
from mamori.rules.system import ArchiveErrorDetails
from mamori.runtime.log_detect import TailStart, detector_main, load_position, run_detector
from mamori.storage import SensorHealth
from mamori.storage.archive import Archive
from mamori.storage.archive_keys import Signer, generate_key, load_signer
from mamori.storage.archive_maintenance import apply_retention, compress_closed_days, retention_days, sync_mirror

__all__ = ["ArchiveWriterThread", "Collector", "CollectorReport", "archive_root", "key_path", "open_signer"]

log = logging.getLogger(__name__)

_RETRY_SECONDS = 1.0
_DETECTOR_STOP_SECONDS = 45.0


def _section(settings: Settings) -> SyslogSettings:
    if settings.syslog is None:
        raise MamoriError(f"{settings.source}: no syslog: section")
    return settings.syslog


def archive_root(settings: Settings) -> Path:
    return _section(settings).archive.path or settings.data_dir / "archive"


def key_path(settings: Settings) -> Path:
    syslog = _section(settings)
    if syslog.archive.key is not None:
        return syslog.archive.key
    source = Path(settings.source)
    return (source.parent if source.suffix else settings.data_dir) / "archive.key"


def open_signer(settings: Settings, *, create: bool) -> Signer:
    """The archive's signing key; with ``create``, a missing key is generated (and said so loudly)."""
    path = key_path(settings)
    root = archive_root(settings).resolve()
    if path.resolve().is_relative_to(root):
        raise MamoriError(f"the archive key {path} must be kept outside the archive {root}")
    if not path.exists() and create:
        key_id, public = generate_key(path)
        log.warning("generated a new archive signing key %s (id %s); keep a copy of %s elsewhere", path, key_id, public)
    return load_signer(path)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[list[Ack]], None], acks: list[Ack]) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(callback, acks)


class ArchiveWriterThread:
    """Takes batches from the event loop and appends them to the archive on its own thread."""

    def __init__(
        self,
        archive: Archive,
        *,
        flush_interval: float,
        on_written: Callable[[list[Ack]], None],
        on_error: Callable[[StorageError, int], None],
        on_recovered: Callable[[], None],
    ) -> None:
        self.archive = archive
        self.flush_interval = flush_interval
        self.on_written = on_written
        self.on_error = on_error
        self.on_recovered = on_recovered
        self.enqueued = 0  # written by the loop thread only
        self.written = 0  # written by this thread only
        self.failing = False
        self._queue: queue.SimpleQueue[tuple[list[Item], list[Ack]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mamori-archive-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # Sink protocol (called on the loop's thread)
    def put(self, batch: list[Item], acks: list[Ack]) -> None:
        self.enqueued += len(batch)
        self._queue.put((batch, acks))

    def backlog(self) -> int:
        return self.enqueued - self.written

    def stop(self, timeout: float = 60.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        pending: list[tuple[list[Item], list[Ack]]] = []
        retry_at = 0.0
        stopping = False
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval if not pending else _RETRY_SECONDS / 4)
            except queue.Empty:
                item = ([], [])
            while item is not None:
                if item[0]:
                    pending.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if item is None:
                stopping = True
            if pending and (not self.failing or time.monotonic() >= retry_at or stopping):
                if self._write(pending):
                    pending = []
                else:
                    retry_at = time.monotonic() + _RETRY_SECONDS
            self._maintain(idle=not pending)
            if stopping and (not pending or not self._write(pending)):
                break
        try:
            self.archive.close()
        except StorageError as exc:
            log.error("%s", exc)

    def _write(self, pending: list[tuple[list[Item], list[Ack]]]) -> bool:
        items = pending[0][0] if len(pending) == 1 else list(itertools.chain.from_iterable(b for b, _ in pending))
        try:
            self.archive.append(items)
        except StorageError as exc:
            self.failing = True
            self.on_error(exc, sum(len(b) for b, _ in pending))
            return False
        self.written += len(items)
        acks = [a for _, batch_acks in pending for a in batch_acks]
        if acks:
            self.on_written(acks)
        if self.failing:
            self.failing = False
            self.on_recovered()
        return True

    def _maintain(self, *, idle: bool) -> None:
        try:
            self.archive.sync()
            if idle:
                self.archive.roll_over()
        except StorageError as exc:
            self.failing = True
            self.on_error(exc, 0)


class _Maintenance:
    """Compression, retention and the mirror, on their own thread (zlib and file copies release the GIL)."""

    def __init__(self, root: Path, syslog: SyslogSettings) -> None:
        self.root = root
        self.settings = syslog
        self.keep_days = retention_days(syslog.archive.retention_years)
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mamori-archive-maintenance", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()
        self._thread.join(120)

    def run_once(self) -> None:
        archive = self.settings.archive
        try:
            if archive.compress:
                for note in compress_closed_days(self.root):
                    log.info("archive: %s", note)
            today = dt.date.today()
            apply_retention(self.root, self.keep_days, today)
            if archive.mirror is not None:
                result = sync_mirror(self.root, archive.mirror)
                apply_retention(archive.mirror, self.keep_days, today)
                if result.copied:
                    log.info("archive mirror: copied %s", ", ".join(Path(p).name for p in result.copied))
        except OSError as exc:
            log.error("archive maintenance: %s", exc)

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.run_once()
            self.wake.wait(self.settings.archive.mirror_interval)
            self.wake.clear()
        self.run_once()


@dataclass
class CollectorReport:
    received: dict[str, int] = field(default_factory=dict)
    archived: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    truncated: int = 0
    kernel_drops: int = 0
    bound: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Collector:
    """``run(stop)`` receives and archives until ``stop`` is set; detection runs beside it."""

    def __init__(
        self,
        settings: Settings,
        *,
        detector: str = "process",
        on_alerts: Callable[[list[Alert]], None] | None = None,
        verbose: bool = False,
        on_ready: Callable[[list[str]], None] | None = None,
    ) -> None:
        if settings.syslog is None:
            raise MamoriError(f"{settings.source}: no syslog: section; nothing to collect")
        self.settings = settings
        self.syslog: SyslogSettings = settings.syslog
        self.root = archive_root(settings)
        self.detector_mode = detector
        self.on_alerts = on_alerts  # runs in the detection process: must be picklable (a module-level class)
        self.verbose = verbose
        self.on_ready = on_ready
        self.report = CollectorReport()
        self._control: Any = None
        self._child: Any = None
        self._detector_thread: threading.Thread | None = None
        self._error_alert: Alert | None = None
        self._send_lock = threading.Lock()
        self._maintenance = _Maintenance(self.root, self.syslog)

    # -- running --------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> CollectorReport:
        signer = open_signer(self.settings, create=True)
        archive = Archive(
            self.root,
            signer=signer,
            fsync_interval=self.syslog.fsync_interval,
            checkpoint_interval=self.syslog.archive.checkpoint_interval,
            on_day_closed=lambda _day: self._maintenance.wake.set(),
        )
        notes = archive.open()
        for note in notes:
            log.warning("archive: %s", note)
        self.report.notes = list(notes)
        path = archive.open_path
        # Detection goes on where it was (a crash or kill -9 included); without a saved position, from now.
        start = load_position(self.root) or TailStart(
            self.root, archive.open_day, path.stat().st_size if path else 0, archive.seq + 1
        )
        self._start_detector(start)
        self._maintenance.start()
        import uvloop

        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        writer = ArchiveWriterThread(
            archive,
            flush_interval=self.syslog.flush_interval,
            on_written=lambda acks: _call_soon(loop, self._acknowledge, acks),
            on_error=self._archive_error,
            on_recovered=self._archive_recovered,
        )
        writer.start()
        try:
            loop.run_until_complete(self._serve(writer, stop))
        finally:
            writer.stop()
            self.report.archived = writer.written
            loop.close()
            asyncio.set_event_loop(None)
            self._maintenance.stop()
            self._stop_detector()
        return self.report

    async def _serve(self, writer: ArchiveWriterThread, stop: threading.Event) -> None:
        syslog = self.syslog
        self.receiver = SyslogReceiver(
            syslog.listen,
            writer,
            tls=tls_context(syslog.tls) if syslog.tls is not None else None,
            max_message_size=syslog.max_message_size,
            udp_buffer_bytes=syslog.udp_buffer_mb << 20,
            max_connections=syslog.max_connections,
            max_backlog=syslog.max_backlog,
        )
        bound = await self.receiver.start()
        self.report.bound = bound
        log.info("syslog collector listening on %s; archive %s", ", ".join(bound), self.root)
        if self.on_ready is not None:
            self.on_ready(bound)
        stats = _StatsLog(self.receiver, writer)
        next_stats = time.monotonic() + syslog.stats_interval
        while not stop.is_set():
            await asyncio.sleep(0.1)
            if time.monotonic() >= next_stats:
                next_stats = time.monotonic() + syslog.stats_interval
                self._send("health", stats.report())
                self._check_detector()
        log.info("stopping the syslog collector")
        await self.receiver.stop()
        self._send("health", stats.report(final=True))
        self.report.received = dict(self.receiver.stats.received)
        self.report.dropped = dict(self.receiver.stats.dropped)
        self.report.truncated = self.receiver.stats.truncated
        self.report.kernel_drops = stats.kernel_drops()

    def _acknowledge(self, acks: list[Ack]) -> None:
        self.receiver.acknowledge(acks)

    # -- the detection child ----------------------------------------------------------------------------------

    def _start_detector(self, start: TailStart) -> None:
        if self.detector_mode == "none":
            return
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._control = parent
        if self.detector_mode == "thread":
            self._detector_thread = threading.Thread(
                target=run_detector,
                args=(self.settings, start, child),
                kwargs={"on_alerts": self.on_alerts},
                name="mamori-log-detector",
                daemon=True,
            )
            self._detector_thread.start()
            return
        self._child = context.Process(
            target=detector_main,
            args=(self.settings, start, child, self.on_alerts, self.verbose),
            name="mamori-log-detector",
            daemon=True,
        )
        self._child.start()
        child.close()

    def _check_detector(self) -> None:
        if self._child is not None and not self._child.is_alive():
            log.error("the log detection process exited (code %s); restarting it", self._child.exitcode)
            self._child = None
            path = None
            saved = load_position(self.root)
            if saved is not None:
                self._start_detector(saved)
                return
            start = TailStart(self.root, None, 0, 0)
            from mamori.storage.archive_format import list_day_files

            days = list_day_files(self.root)
            if days:
                day, files = list(days.items())[-1]
                path = next((p for p in files if p.name.endswith(".log")), None)
                if path is not None:
                    start = TailStart(self.root, day, path.stat().st_size, 0)
            self._start_detector(start)

    def _send(self, kind: str, payload: Any) -> None:
        if self._control is None:
            return
        try:
            with self._send_lock:  # the loop thread and the writer thread both report
                self._control.send((kind, payload))
        except (OSError, ValueError) as exc:
            log.debug("cannot reach the log detector: %s", exc)

    def _stop_detector(self) -> None:
        self._send("stop", None)
        if self._child is not None:
            self._child.join(_DETECTOR_STOP_SECONDS)
            if self._child.is_alive():
                log.error("the log detector did not stop in time; terminating it")
                self._child.terminate()
                self._child.join(5)
        if self._detector_thread is not None:
            self._detector_thread.join(_DETECTOR_STOP_SECONDS)
        if self._control is not None:
            self._control.close()

    # -- archive errors -> alert ------------------------------------------------------------------------------

    def _archive_error(self, exc: StorageError, pending: int) -> None:
        """On the writer thread: the archive cannot be written. One alert per outage, counting the attempts."""
        now = time.time()
        code = getattr(exc, "errno", None)
        previous = self._error_alert
        alert = Alert(
            uid=previous.uid if previous else f"archive-{uuid.uuid4().hex[:12]}",
            rule="archive-error",
            key=f"archive={self.root}",
            severity=Severity.CRITICAL,
            first_seen=previous.first_seen if previous else now,
            last_seen=now,
            count=(previous.count + 1) if previous else 1,
            details=ArchiveErrorDetails(error=str(exc), errno=code, pending=pending, path=str(self.root)),
        )
        self._error_alert = alert
        if previous is None:
            log.error("archive-error: %s", exc)
        self._send("alerts", [alert])

    def _archive_recovered(self) -> None:
        alert = self._error_alert
        if alert is None:
            return
        log.warning("the archive is writable again; the held lines were written")
        now = time.time()
        recovered = dataclasses.replace(
            alert,
            last_seen=now,
            details=dataclasses.replace(_archive_details(alert), recovered_at=now, pending=0),
        )
        self._send("alerts", [recovered])
        self._error_alert = None


def _archive_details(alert: Alert) -> ArchiveErrorDetails:
    details = alert.details
    return details if isinstance(details, ArchiveErrorDetails) else ArchiveErrorDetails.from_facts(details)


class _StatsLog:
    """Per-source rates and drop counters, logged and sent to the store as health rows."""

    def __init__(self, receiver: SyslogReceiver, writer: ArchiveWriterThread) -> None:
        self.receiver = receiver
        self.writer = writer
        self.started = time.time()
        self._last: dict[str, int] = {}
        self._last_time = time.monotonic()

    def kernel_drops(self) -> int:
        return sum(udp_kernel_drops(sock) or 0 for _, sock in self.receiver.udp_sockets)

    def report(self, *, final: bool = False) -> list[SensorHealth]:
        stats = self.receiver.stats
        now = time.monotonic()
        span = max(now - self._last_time, 1e-6)
        rates = []
        for sender, source in stats.sources.items():
            rates.append((((source.messages - self._last.get(sender, 0)) / span), sender, source))
            self._last[sender] = source.messages
        self._last_time = now
        kernel = self.kernel_drops()
        dropped = sum(stats.dropped.values())
        log.info(
            "syslog: received %s; archived %d (backlog %d); dropped %d%s; kernel UDP drops %d; cut to size %d",
            ", ".join(f"{k} {v}" for k, v in stats.received.items()) or "nothing",
            self.writer.written,
            self.writer.backlog(),
            dropped,
            "".join(f", {reason}: {n}" for reason, n in stats.dropped.items()),
            kernel,
            stats.truncated,
        )
        for rate, sender, source in sorted(rates, key=lambda r: (-r[0], r[1]))[:20]:
            log.info("  source %s: %.1f msg/s, %d messages", sender, rate, source.messages)
        health = [
            SensorHealth(
                name=url,
                kind="syslog",
                started_at=self.started,
                last_packet=None,
                matched=0,
                decoded=0,
                malformed=0,
                received=stats.received.get(url.split("://")[0], 0),
                dropped=dropped,
                if_dropped=kernel,
                error="archive not writable" if self.writer.failing else "",
            )
            for url in self.receiver.bound
        ]
        health.extend(
            SensorHealth(
                name=f"syslog source {sender}",
                kind="syslog-source",
                started_at=source.first_seen,
                last_packet=source.last_seen,
                matched=0,
                decoded=0,
                malformed=0,
                received=source.messages,
                dropped=0,
                if_dropped=0,
            )
            for _, sender, source in rates[:200]
        )
        return health
