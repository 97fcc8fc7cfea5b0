"""Detection on received logs: follow the evidence archive, parse each line, feed the connections to the engine.

The collector's receiving process only receives and archives; this part runs in a child process (the second
core) and reads what the archive writer has written, like ``tail -f`` across day files. So detection can never
slow down or lose evidence: if it falls behind under a burst, it catches up from the file, holding one chunk in
memory. Lines go through the syslog parser and the vendor parsers; their ConnectionAttempts go to the same
:class:`~mamori.detection.Engine` the packet sensor uses, and alert changes to the store and the actions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import logging
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mamori.config import Settings
from mamori.detection import Engine
from mamori.errors import MamoriError, StorageError
from mamori.ingest.syslog_parse import SyslogParser
from mamori.ingest.vendors import ParserSet, load_parsers
from mamori.model import Alert, ConnectionAttempt, VpnEvent
from mamori.runtime.flow_counts import stored_flows
from mamori.runtime.incidents import incident_rules
from mamori.runtime.known_paths import stored_paths
from mamori.runtime.maintenance import StoredSessions, plans_version
from mamori.runtime.responses import build_dispatcher, log_deliveries
from mamori.runtime.site import effective_site
from mamori.storage import AlertWriter, SensorHealth, Store
from mamori.storage.archive_format import list_day_files, parse_header, unescape

__all__ = [
    "ArchiveTail",
    "LogDetector",
    "TailStart",
    "detector_main",
    "load_position",
    "received_time",
    "save_position",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_ROTATION_CHECK = 0.5
_STOP_DRAIN_SECONDS = 30.0
_PLANS_CHECK = 5.0  # seconds between looks at the dashboard's work plans


@dataclass(frozen=True)
class TailStart:
    """Where to start following: the open day file and the offset of its end when the collector started, or
    (no open day) the first sequence number to read."""

    root: Path
    day: str | None
    offset: int
    next_seq: int


_POSITION_FILE = ".detector-position.json"


def save_position(root: Path, day: str, offset: int, next_seq: int) -> None:
    """Where detection has got to in the archive, so that a restart (after kill -9 too) goes on from there and
    no archived line goes unanalysed. Written atomically (a rename); losing the last second only re-reads it."""
    path = root / _POSITION_FILE
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({"day": day, "offset": offset, "next_seq": next_seq}), encoding="ascii")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot save the detection position: %s", exc)


def load_position(root: Path) -> TailStart | None:
    """The saved position, if it still points into an existing day file of the archive."""
    from mamori.storage.archive_format import list_day_files

    try:
        saved = json.loads((root / _POSITION_FILE).read_text(encoding="ascii"))
        day, offset, next_seq = str(saved["day"]), int(saved["offset"]), int(saved["next_seq"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    plain = [p for p in list_day_files(root).get(day, []) if p.name.endswith(".log")]
    if not plain or offset > plain[0].stat().st_size:
        return None  # compressed or gone since: start as usual
    return TailStart(root, day, offset, next_seq)


_time_cache: dict[bytes, float] = {}


def received_time(stamp: bytes) -> float:
    """``2026-11-23T10:15:02.123456+09:00`` -> POSIX seconds, cached per second."""
    key = stamp[:19] + stamp[26:]
    base = _time_cache.get(key)
    if base is None:
        base = dt.datetime.fromisoformat((stamp[:19] + stamp[26:]).decode("ascii")).timestamp()
        if len(_time_cache) > 4096:
            _time_cache.clear()
        _time_cache[key] = base
    return base + int(stamp[20:26]) / 1_000_000


Row = tuple[int, float, str, str, int, bytes]
"""(seq, received_at, transport, sender, sender port, raw)."""


class ArchiveTail:
    """Reads the records appended to the archive, following it from one day file to the next."""

    def __init__(self, start: TailStart) -> None:
        self.root = start.root
        self.next_seq = start.next_seq
        self.day: str | None = None
        self._stream: IO[bytes] | None = None
        self._partial = b""
        self._next_check = 0.0
        if start.day is not None:
            self._open(start.day, start.offset)

    def _open(self, day: str, offset: int = 0) -> bool:
        files = list_day_files(self.root).get(day, [])
        plain = [p for p in files if p.name.endswith(".log")]
        path = plain[0] if plain else (files[0] if files else None)
        if path is None:
            return False
        if self._stream is not None:
            self._stream.close()
        stream: IO[bytes] = (  # kept open while following the day; closed by _open/close
            gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")  # type: ignore[assignment]  # noqa: SIM115
        )
        if offset:
            stream.seek(offset)
        else:
            header = parse_header(stream.readline().rstrip(b"\n"))
            if header is not None and header.first_seq > self.next_seq:
                log.warning(
                    "archive %s starts at record %d; records from %d were not analysed",
                    day,
                    header.first_seq,
                    self.next_seq,
                )
        self._stream = stream
        self._partial = b""
        self.day = day
        return True

    def _newer_day(self) -> str | None:
        days = [d for d in list_day_files(self.root) if self.day is None or d > self.day]
        return days[0] if days else None

    def read(self, limit: int = 20000) -> list[Row]:
        """Records appended since the last call (at most about ``limit``)."""
        rows: list[Row] = []
        while len(rows) < limit:
            data = self._stream.read(_CHUNK) if self._stream is not None else b""
            if data:
                self._take(data, rows)
                continue
            now = time.monotonic()
            if now < self._next_check:
                break
            self._next_check = now + _ROTATION_CHECK
            newer = self._newer_day()
            if newer is None:
                break
            if self._stream is not None:
                rest = self._stream.read()
                if rest:
                    self._take(rest, rows)
                    continue
            self._open(newer)
        return rows

    def _take(self, data: bytes, rows: list[Row]) -> None:
        if self._partial:
            data = self._partial + data
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
            return
        self._partial = data[end + 1 :]
        next_seq = self.next_seq
        for line in data[: end + 1].splitlines():
            parts = line.split(b"\t")
            if len(parts) != 7 or not parts[0].isdigit():
                continue  # the header of a day file, or a damaged line (the verifier reports it)
            seq = int(parts[0])
            if seq < next_seq:
                continue
            next_seq = seq + 1
            try:
                rows.append(
                    (
                        seq,
                        received_time(parts[1]),
                        parts[2].decode(),
                        parts[3].decode(),
                        int(parts[4]),
                        unescape(parts[5]),
                    )
                )
            except ValueError:
                continue
        self.next_seq = next_seq

    def position(self) -> tuple[str, int, int] | None:
        """(day, byte offset of the first record not yet read, its sequence number), or None."""
        if self._stream is None or self.day is None:
            return None
        return self.day, self._stream.tell() - len(self._partial), self.next_seq

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


class LogDetector:
    """Parses archived lines and runs the detectors on the connections they report."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        on_alerts: Callable[[list[Alert]], None] | None = None,
        parsers: ParserSet | None = None,
    ) -> None:
        syslog = settings.syslog
        if syslog is None:
            raise MamoriError(f"{settings.source}: no syslog: section")
        self.settings = settings
        self.parser = SyslogParser(timezone=syslog.timezone, fallback=syslog.charset_fallback)
        self.parsers = parsers or load_parsers(syslog.parsers)
        # The settings file's terminals plus the ledger's (log lines without MACs are judged by registered IPs).
        self.writer = AlertWriter(store, interval=settings.storage.batch_interval, origin="syslog") if store else None
        self.store = store
        self._plans = plans_version(store)
        self._next_plans_check = time.monotonic() + _PLANS_CHECK
        self.engine = Engine(
            effective_site(settings, store) if store else settings.site,
            settings.detection,
            known_paths=stored_paths(settings, store, self.writer),
            sessions=StoredSessions(store, self.writer, origin="syslog") if store else None,
            flow_counts=stored_flows(settings, store, self.writer),
        )
        self.dispatcher = build_dispatcher(settings, self.writer.submit_deliveries if self.writer else log_deliveries)
        if store is not None:
            self._restore(store)
        self.on_alerts = on_alerts
        self.lines = 0
        self.started = time.time()
        self.last_line: float | None = None

    def _restore(self, store: Store) -> None:
        """Continue the open log-derived alerts of before a restart (their actions are not run again)."""
        try:
            alerts = store.recent_open_alerts(time.time() - 86400.0, origin="syslog")
            if self.dispatcher is not None:
                self.dispatcher.restore(store.delivered([a.uid for a in alerts]))
        except StorageError as exc:
            log.error("cannot restore open alerts: %s", exc)
            return
        restored = self.engine.restore(alerts)
        if restored:
            log.info("log detection: continuing %d open alert(s) from before the restart", restored)

    def feed(self, rows: list[Row]) -> None:
        parse = self.parser.parse
        recognise = self.parsers.parse
        attempts: list[ConnectionAttempt | VpnEvent] = []
        for _seq, received_at, transport, sender, port, raw in rows:
            found = recognise(parse(raw, received_at, sender, port, transport))
            if found is not None and found[1]:
                attempts.extend(found[1])
        self.lines += len(rows)
        if rows:
            self.last_line = rows[-1][1]
        if attempts:
            self.engine.feed(attempts)

    def tick(self, now: float | None = None) -> None:
        if self.store is not None and time.monotonic() >= self._next_plans_check:
            self._next_plans_check = time.monotonic() + _PLANS_CHECK
            version = plans_version(self.store)
            if version != self._plans:  # a work plan entered or cancelled on the dashboard
                self._plans = version
                self.engine.update_site(effective_site(self.settings, self.store))
        self.engine.tick(now)
        self.publish(self.engine.collect_changes())
        if self.dispatcher is not None:
            self.dispatcher.tick()

    def publish(self, changes: list[Alert]) -> None:
        if not changes:
            return
        if self.writer is not None:
            self.writer.submit(changes)
        if self.dispatcher is not None:
            self.dispatcher.submit(changes)
        if self.on_alerts is not None:
            self.on_alerts(changes)

    def health(self) -> SensorHealth:
        p = self.parsers
        return SensorHealth(
            name="syslog parsers",
            kind="syslog-parse",
            started_at=self.started,
            last_packet=self.last_line,
            matched=sum(p.recognised.values()),
            decoded=p.connections,
            malformed=p.unknown,
            received=self.lines,
            dropped=0,
            if_dropped=0,
            error=f"parser failures: {p.failed}" if p.failed else "",
        )

    def close(self) -> None:
        self.engine.finish()
        self.tick()
        p = self.parsers
        log.info(
            "log detection: %d line(s) analysed; recognised %s; %d connection(s); %d unknown line(s) (archived)%s",
            self.lines,
            ", ".join(f"{name} {n}" for name, n in p.recognised.items() if n) or "none",
            p.connections,
            p.unknown,
            f"; {p.failed} parser failure(s)" if p.failed else "",
        )
        if self.dispatcher is not None:
            self.dispatcher.close(timeout=15.0)
        if self.writer is not None:
            self.writer.submit_health([self.health()])
            self.writer.flush()
            self.writer.close()


def run_detector(
    settings: Settings,
    start: TailStart,
    control: multiprocessing.connection.Connection,
    *,
    on_alerts: Callable[[list[Alert]], None] | None = None,
) -> None:
    """Follow the archive until told to stop (or until the collector's end of the pipe closes)."""
    store = Store(settings.database_path, incidents=incident_rules(settings))
    detector = LogDetector(settings, store=store, on_alerts=on_alerts)
    tail = ArchiveTail(start)
    next_tick = time.monotonic() + 1.0
    stopping = False
    deadline = float("inf")
    try:
        while True:
            rows = tail.read()
            if rows:
                detector.feed(rows)
            elif stopping:
                break
            if control.poll(0 if rows else 0.05):
                try:
                    kind, payload = control.recv()
                except EOFError:
                    kind, payload = "stop", None
                stopping = _handle(kind, payload, detector) or stopping
                if stopping:
                    deadline = time.monotonic() + _STOP_DRAIN_SECONDS
            if stopping and time.monotonic() > deadline:
                log.warning("stopping before the end of the archive was analysed")
                break
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + 1.0
                detector.tick()
                _remember(tail)
    finally:
        detector.close()
        _remember(tail)
        tail.close()


def _remember(tail: ArchiveTail) -> None:
    where = tail.position()
    if where is not None:
        save_position(tail.root, *where)


def _handle(kind: str, payload: Any, detector: LogDetector) -> bool:
    """A message from the collector. Returns True when it asks to stop."""
    if kind == "stop":
        return True
    if kind == "alerts":
        detector.publish(payload)
    elif kind == "health" and detector.writer is not None:
        detector.writer.submit_health([*payload, detector.health()])
    return False


def detector_main(
    settings: Settings, start: TailStart, control: Any, on_alerts: Callable[[list[Alert]], None] | None, verbose: bool
) -> None:
    """The child process's entry point."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the collector tells us when to stop, after its last write
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(10)  # evidence first: under load the receiving process gets the CPU, detection catches up later
    from mamori.storage.setup import configure_django

    configure_django(settings.database_path)  # a spawned process: this entry is its composition root
    run_detector(settings, start, control, on_alerts=on_alerts)
