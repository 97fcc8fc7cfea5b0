"""The collector wired together in one process (detection on a thread): listeners -> archive -> parsers ->
engine -> store, RELP acknowledgements, and the archive-error alert when the disk is full."""

from __future__ import annotations

import errno
import socket
import threading
import time
from pathlib import Path

import pytest

from mamori.config import Settings
from mamori.ingest.framing import RelpFrame, RelpFramer
from mamori.rules.render import summary
from mamori.runtime.collector import Collector
from mamori.storage import AlertFilter, Store
from mamori.storage.archive import Archive, ArchiveWriteError
from mamori.storage.archive_keys import load_verifier
from mamori.storage.archive_verify import verify_archive
from tests.conftest import make_settings


def free_port() -> int:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        port: int = tcp.getsockname()[1]
        udp.bind(("127.0.0.1", port))
    return port


def settings_for(tmp_path: Path, port: int, relp: int) -> Settings:
    return make_settings(
        f"""
        storage: {{path: {tmp_path / "m.db"}}}
        syslog:
          listen: ["udp://127.0.0.1:{port}", "tcp://127.0.0.1:{port}", "relp://127.0.0.1:{relp}"]
          archive: {{path: {tmp_path / "archive"}, key: {tmp_path / "keys" / "archive.key"}}}
          stats_interval: 1s
        """,
        tmp_path,
    )


class Running:
    def __init__(self, settings: Settings) -> None:
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.collector = Collector(settings, detector="thread", on_ready=lambda _bound: self.ready.set())
        self.thread = threading.Thread(target=self.collector.run, args=(self.stop,))
        self.thread.start()
        assert self.ready.wait(20), "the collector did not start"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def wait_for(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def relp_session(port: int, messages: list[bytes]) -> list[RelpFrame]:
    """A minimal RELP client: open, send, wait for every response, close."""
    offer = b"relp_version=0\nrelp_software=test\ncommands=syslog"
    frames = [b"1 open %d %s\n" % (len(offer), offer)]
    frames += [b"%d syslog %d %s\n" % (i + 2, len(m), m) for i, m in enumerate(messages)]
    frames.append(b"%d close 0\n" % (len(messages) + 2))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"".join(frames))
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    return RelpFramer(1 << 20).feed(data)


def test_yamaha_rtx_deny_sequence_of_1000_ports_raises_a_port_scan(tmp_path: Path) -> None:
    port, relp = free_port(), free_port()
    settings = settings_for(tmp_path, port, relp)
    running = Running(settings)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for dport in range(1, 1001):
                line = b"Rejected at IN(2000) filter: TCP 10.1.2.3:51000 > 10.1.9.9:%d" % dport
                udp.sendto(line, ("127.0.0.1", port))
                if dport % 200 == 0:
                    time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port)) as tcp:
            tcp.sendall(b"<13>Nov 23 10:00:00 host app: over tcp\n17 <13>octet counted")
        replies = relp_session(relp, [b"<13>Nov 23 10:00:00 host app: relp %d" % i for i in range(3)])
        assert replies[0].command == "rsp" and replies[0].data.startswith(b"200 OK\n")
        assert b"commands=syslog" in replies[0].data
        assert [(r.txnr, r.data) for r in replies[1:]] == [(2, b"200 OK"), (3, b"200 OK"), (4, b"200 OK"), (5, b"")]
        store = Store(settings.database_path)
        assert wait_for(lambda: store.alerts(AlertFilter(rule="port-scan")), 30)
    finally:
        running.close()
    alert = Store(settings.database_path).alerts(AlertFilter(rule="port-scan"))[0]
    assert alert.src_ip == "10.1.2.3"
    assert len(alert.details["ports"]) == 1000
    assert alert.samples[0]["action"] == "deny"
    assert running.collector.report.archived == 1005
    report = verify_archive(tmp_path / "archive", load_verifier(tmp_path / "keys" / "archive.key"))
    assert report.ok and report.records == 1005


def test_disk_full_raises_an_archive_error_alert_and_nothing_is_lost(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    port, relp = free_port(), free_port()
    settings = settings_for(tmp_path, port, relp)
    real_append = Archive.append
    failures = {"left": 3}

    def full_disk(self: Archive, items) -> None:  # type: ignore[no-untyped-def]
        if failures["left"] > 0:
            failures["left"] -= 1
            raise ArchiveWriteError("cannot write to the archive: No space left on device", errno.ENOSPC)
        real_append(self, items)

    monkeypatch.setattr(Archive, "append", full_disk)
    running = Running(settings)
    try:
        with socket.create_connection(("127.0.0.1", port)) as tcp:
            tcp.sendall(b"".join(b"<13>Nov 23 10:00:00 host app: line %d\n" % i for i in range(100)))
        store = Store(settings.database_path)
        assert wait_for(
            lambda: any(a.details.get("recovered_at") for a in store.alerts(AlertFilter(rule="archive-error")))
        )
    finally:
        running.close()
    alert = Store(settings.database_path).alerts(AlertFilter(rule="archive-error"))[0]
    assert alert.severity.label == "critical"
    assert alert.count == 3
    assert "ディスクの空きがありません" in summary(alert, "ja")
    assert running.collector.report.archived == 100
    assert verify_archive(tmp_path / "archive", None).records == 100


def test_settings_without_syslog_section_are_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no syslog"):
        Collector(make_settings("systems: []", tmp_path))


def test_detection_resumes_where_it_stopped_so_no_archived_line_goes_unanalysed(tmp_path: Path) -> None:
    """After a crash (kill -9 included) the detector goes on from its saved position, not from the end."""
    import datetime as dt
    import zoneinfo

    from mamori.runtime.log_detect import ArchiveTail, TailStart, load_position, save_position
    from mamori.storage.archive import Archive
    from mamori.testing import FakeClock

    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    start = dt.datetime(2026, 11, 23, 9, 0, tzinfo=tokyo).timestamp()
    clock = FakeClock(start)
    root = tmp_path / "archive"
    archive = Archive(root, signer=None, clock=clock.now, zone=tokyo, checkpoint_interval=0.0)
    archive.open()
    archive.append([(start + i, "udp", "192.0.2.1", 514, f"<13>line {i}".encode()) for i in range(30)])
    archive.sync(force=True)
    day = archive.open_day
    assert day is not None

    first = ArchiveTail(TailStart(root, day, 0, 1))
    rows = first.read(limit=10)
    assert rows and rows[0][0] == 1
    where = first.position()
    assert where is not None
    # Read some, saved the position, then died; 20 more lines arrive before the restart.
    read_before = rows[: len(rows)]
    save_position(root, *where)
    first.close()
    archive.append([(start + 100 + i, "udp", "192.0.2.1", 514, f"<13>late {i}".encode()) for i in range(20)])
    archive.sync(force=True)

    resumed = load_position(root)
    assert resumed is not None and resumed.day == day
    tail = ArchiveTail(resumed)
    rest: list = []
    for _ in range(5):
        rest.extend(tail.read())
    tail.close()
    archive.close()
    seqs = [r[0] for r in read_before] + [r[0] for r in rest]
    assert seqs == list(range(1, 51))  # every record once, none skipped, none twice


def test_a_position_that_no_longer_fits_the_archive_is_ignored(tmp_path: Path) -> None:
    from mamori.runtime.log_detect import load_position, save_position

    root = tmp_path / "archive"
    root.mkdir()
    assert load_position(root) is None
    save_position(root, "2026-11-23", 10_000, 5)  # no such day file
    assert load_position(root) is None
    (root / ".detector-position.json").write_text("{not json")
    assert load_position(root) is None
