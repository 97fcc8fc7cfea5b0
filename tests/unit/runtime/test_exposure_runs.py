"""One incident, one alert: a host's exposure found by weekly scans (each `mamori scan` its own process) updates one
alert while the findings persist, and raises a new one only when they change or the old one was resolved. And the
services seen answering on the wire respect the approved baseline, as scans do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mamori.config import settings_from_text
from mamori.detection import Engine
from mamori.detection.book import AlertBook
from mamori.detection.exposure import judge_host, raise_scan_alerts
from mamori.detection.site_index import SiteIndex
from mamori.model import Alert, PortResponse
from mamori.rules.labels import field_label, value_label
from mamori.runtime.exposure import StoredServices, continue_scan_alerts
from mamori.storage import ExposureTable, Store
from mamori.testing import FakeClock, MemoryServices

SITE = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: 事務系, cidrs: [10.2.0.0/24], zone: sz}
systems:
  - {name: 検査, servers: [10.1.0.20], ports: [8443]}
"""
HOST = "10.1.0.30"
WEEK = 7 * 86400.0
T0 = 1_790_000_000.0


class Runs:
    """Scans of one host a week apart, each with a fresh alert book (a new process) on the same store."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.index = SiteIndex(settings_from_text(SITE).site)
        self.number = 0
        self.previous: list[str] | None = None

    def scan(self, *open_ports: str, up: bool = True) -> list[Alert]:
        self.number += 1
        ts = T0 + self.number * WEEK
        book = AlertBook()
        hosts = [HOST] if up else []
        continue_scan_alerts(book, self.store, hosts, ts)
        judged = [judge_host(self.index, HOST, open_ports, previous=self.previous, observer="10.1.0.5")] if up else []
        raise_scan_alerts(book, self.index, judged, scan_id=self.number, ts=ts, observer="10.1.0.5", services={})
        changes = book.collect_changes()
        self.store.upsert_alerts(changes, origin="scan")
        if up:
            self.previous = list(open_ports)
        return changes

    def stored(self) -> list[Alert]:
        return [a for a in self.store.alerts() if a.rule == "exposure"]

    def set_status(self, uid: str, status: str) -> None:
        with sqlite3.connect(self.store.path) as db:  # as the dashboard's "resolve" button does
            db.execute("UPDATE mamori_alert SET status = ? WHERE uid = ?", (status, uid))


@pytest.fixture
def runs(tmp_path: Path) -> Runs:
    r = Runs(tmp_path / "mamori.db")
    yield r
    r.store.close()


def test_a_persisting_finding_updates_one_alert_across_runs(runs: Runs) -> None:
    (first,) = runs.scan("tcp/23", "tcp/80", "tcp/3389")
    (second,) = runs.scan("tcp/23", "tcp/80", "tcp/3389")
    (third,) = runs.scan("tcp/23", "tcp/80", "tcp/3389")
    assert first.uid == second.uid == third.uid
    assert (third.count, third.first_seen, third.last_seen) == (3, T0 + WEEK, T0 + 3 * WEEK)
    d = third.details
    assert (d.scan_id, d.first_scan_id, d.ended_scan_id) == (3, 1, None)
    assert d.unneeded_ports == ("tcp/23", "tcp/3389")
    (stored,) = runs.stored()
    assert stored.uid == first.uid and stored.count == 3 and stored.details.scan_id == 3
    # Acknowledged (someone is on it) still continues; a host down in a run leaves its alert alone.
    runs.set_status(first.uid, "acknowledged")
    assert runs.scan(up=False) == []
    (fourth,) = runs.scan("tcp/23", "tcp/80", "tcp/3389")
    assert fourth.uid == first.uid and fourth.count == 4 and fourth.details.scan_id == 5
    # A port closing (fewer findings) is the same incident; none left ends it.
    (fifth,) = runs.scan("tcp/80", "tcp/3389")
    assert fifth.uid == first.uid and fifth.count == 5 and fifth.details.gone_ports == ("tcp/23",)
    assert fifth.details.unneeded_ports == ("tcp/3389",)
    (sixth,) = runs.scan("tcp/80")
    assert sixth.uid == first.uid and sixth.details.ended == "cleared" and sixth.details.ended_scan_id == 7
    assert sixth.count == 5 and sixth.last_seen == T0 + 6 * WEEK  # last seen with a finding
    assert runs.scan("tcp/80") == []  # nothing to continue, nothing found


def test_a_new_finding_or_a_resolved_alert_gives_a_new_alert(runs: Runs) -> None:
    (first,) = runs.scan("tcp/23")
    (same,) = runs.scan("tcp/23")
    assert same.uid == first.uid
    ended, new = sorted(runs.scan("tcp/23", "tcp/445"), key=lambda a: a.first_seen)
    assert ended.uid == first.uid and (ended.details.ended, ended.details.ended_scan_id) == ("changed", 3)
    assert ended.count == 2 and ended.details.unneeded_ports == ("tcp/23",)  # as it stood: not overwritten
    assert new.uid != first.uid and new.count == 1 and new.details.first_scan_id == 3
    assert new.details.unneeded_ports == ("tcp/23", "tcp/445") and new.details.new_ports == ("tcp/445",)
    (again,) = runs.scan("tcp/23", "tcp/445")  # tcp/445 no longer new, still unneeded: a subset, the same alert
    assert again.uid == new.uid and again.count == 2 and again.details.new_ports == ()
    # The operator resolves it; the next scan that finds the same opens a new alert.
    runs.set_status(new.uid, "resolved")
    (reopened,) = runs.scan("tcp/23", "tcp/445")
    assert reopened.uid not in (first.uid, new.uid) and reopened.count == 1
    # Fixed: the alert ends; the port coming back later is a new alert.
    (cleared,) = runs.scan()
    assert cleared.uid == reopened.uid and cleared.details.ended == "cleared" and cleared.count == 1
    (back,) = runs.scan("tcp/23")
    assert back.uid not in (first.uid, new.uid, reopened.uid) and back.count == 1
    # Not ended by a scan: the resolved one (closed by the operator) and the latest.
    assert sorted(a.uid for a in runs.stored() if a.details.ended_scan_id is None) == sorted([new.uid, back.uid])
    assert len(runs.stored()) == 4


def test_an_approved_host_ends_its_alert(runs: Runs, tmp_path: Path) -> None:
    (first,) = runs.scan("tcp/23", "tcp/3389")
    index = runs.index
    j = judge_host(index, HOST, ["tcp/23", "tcp/3389"], previous=["tcp/23", "tcp/3389"], baseline=["tcp/23"])
    book = AlertBook()
    assert continue_scan_alerts(book, runs.store, [HOST], T0 + 2 * WEEK) == 1
    raise_scan_alerts(book, index, [j], scan_id=2, ts=T0 + 2 * WEEK, observer="", services={})
    (same,) = book.collect_changes()
    assert same.uid == first.uid and same.details.unneeded_ports == ("tcp/3389",)
    j = judge_host(index, HOST, ["tcp/23", "tcp/3389"], baseline=["tcp/23", "tcp/3389"])
    raise_scan_alerts(book, index, [j], scan_id=3, ts=T0 + 3 * WEEK, observer="", services={})
    (ended,) = book.collect_changes()
    assert ended.uid == first.uid and ended.details.ended == "cleared"


def test_the_new_details_have_words() -> None:
    assert field_label("ended_scan_id", "ja") != "ended_scan_id" and field_label("first_scan_id", "en")
    assert value_label("ended", "changed", "en") == "a new finding opened another alert"


# -- the wire: services seen answering respect the approved baseline ----------------------------------------------


def synack(ts: float, host: str, port: int, client: str = "10.2.0.99") -> PortResponse:
    return PortResponse(ts, "synack", "tcp", "02:00:00:00:00:30", host, port, client, 50000)


def _engine(memory: MemoryServices | StoredServices) -> Engine:
    settings = settings_from_text(SITE)
    return Engine(settings.site, settings.detection, clock=FakeClock(T0), known_services=memory)


def test_passive_findings_respect_the_approved_baseline() -> None:
    memory = MemoryServices()
    memory.approve(HOST, "tcp/23")
    engine = _engine(memory)
    engine.feed([synack(T0, HOST, 23), synack(T0 + 1, "10.1.0.31", 23)])
    alerts = [a for a in engine.collect_changes() if a.rule == "exposure"]
    assert [(a.dst_ip, a.details.unneeded_ports) for a in alerts] == [("10.1.0.31", ("tcp/23",))]
    # Approved later (the dashboard): the next refresh reads it, and a port first seen after it is silent.
    memory.approve(HOST, "tcp/3389")
    engine.collect_changes()
    engine.feed([synack(T0 + 2, HOST, 3389), synack(T0 + 3, HOST, 445)])
    alerts = [a for a in engine.collect_changes() if a.rule == "exposure"]
    assert [(a.dst_ip, a.details.unneeded_ports) for a in alerts] == [(HOST, ("tcp/445",))]
    assert {(s.host, s.port) for s in memory.services.values()} >= {(HOST, 23), (HOST, 3389), (HOST, 445)}


def test_the_store_gives_the_sensor_the_baseline_approved_on_the_dashboard(tmp_path: Path) -> None:
    store = Store(tmp_path / "mamori.db")
    now = [100.0]
    services = StoredServices(store, None, 1000, approvals_every=10.0, clock=lambda: now[0])
    table = ExposureTable(store)
    table.save_services([], max_services=1000)
    assert services.approved() == {}
    from mamori.model import KnownService

    table.save_services([KnownService(HOST, "tcp", 23, T0, T0, "10.2.0.99")], max_services=1000)
    assert table.approve([HOST], user="kanri", now=T0) == 1
    assert services.approved() == {}  # read at most every 10 s
    now[0] += 10.0
    assert services.approved() == {HOST: frozenset({"tcp/23"})}
    engine = _engine(services)
    engine.feed([synack(T0 + 5, HOST, 23)])
    assert [a for a in engine.collect_changes() if a.rule == "exposure"] == []
    store.close()
