"""The SQLite store through Django: upserts by uid, WAL, batched writer, restart continuity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mamori.detection import Engine
from mamori.model import Alert, Severity
from mamori.storage import AlertFilter, AlertWriter, SensorHealth, Store
from tests.conftest import make_settings
from tests.unit.detection.helpers import SITE, STRANGER, syn


def _alert(uid: str = "a1", count: int = 1, **kw: object) -> Alert:
    fields: dict[str, object] = {
        "uid": uid,
        "rule": "unregistered-terminal",
        "key": f"mac={STRANGER[0]}|system=透析システム",
        "severity": Severity.HIGH,
        "first_seen": 1_800_000_000.0,
        "last_seen": 1_800_000_000.0 + count,
        "count": count,
        "summary_ja": "未登録端末",
        "summary_en": "Unregistered terminal",
        "src_mac": STRANGER[0],
        "src_ip": STRANGER[1],
        "system": "透析システム",
        "details": {"reason": "unregistered-mac", "ports": [6000]},
        "samples": ({"ts": 1_800_000_000.0, "src_ip": STRANGER[1]},),
    }
    fields.update(kw)
    return Alert(**fields)  # type: ignore[arg-type]


def test_round_trip_and_upsert_by_uid(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    store.upsert_alerts([_alert(count=1)])
    store.upsert_alerts([_alert(count=5), _alert(uid="a2", rule="port-scan", severity=Severity.MEDIUM, system=None)])
    alerts = store.alerts()
    assert [(a.uid, a.count) for a in alerts] == [("a1", 5), ("a2", 1)]
    first = alerts[0]
    assert first.details == {"reason": "unregistered-mac", "ports": [6000]}
    assert first.samples[0]["src_ip"] == STRANGER[1]
    assert first.severity is Severity.HIGH
    assert first.last_seen == 1_800_000_005.0
    assert [a.uid for a in store.alerts(AlertFilter(rule="port-scan"))] == ["a2"]
    assert [a.uid for a in store.alerts(AlertFilter(min_severity=Severity.HIGH))] == ["a1"]
    assert [a.uid for a in store.alerts(AlertFilter(system="透析システム"))] == ["a1"]


def test_database_is_in_wal_mode_and_readable_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    Store(path).upsert_alerts([_alert()])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM mamori_alert").fetchone()[0] == 1


def test_writer_batches_and_keeps_the_newest_snapshot(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    writer = AlertWriter(store, interval=60)
    for count in range(1, 101):
        writer.submit([_alert(count=count)])
    writer.submit_health(
        [
            SensorHealth(
                "eth0", "interface", 1.0, 2.0, matched=10, decoded=9, malformed=1, received=10, dropped=0, if_dropped=0
            )
        ]
    )
    assert writer.flush()
    writer.close()
    reader = Store(tmp_path / "m.db")
    (alert,) = reader.alerts()
    assert alert.count == 100
    (health,) = reader.health()
    assert (health.name, health.matched, health.malformed) == ("eth0", 10, 1)


def test_open_alerts_continue_after_a_restart(tmp_path: Path) -> None:
    settings = make_settings(SITE, tmp_path)
    store = Store(tmp_path / "m.db")
    before = Engine(settings.site, settings.detection)
    before.feed([syn(1_800_000_000.0 + i, STRANGER) for i in range(3)])
    store.upsert_alerts(before.collect_changes())
    # The sensor restarts: a new engine picks up the open episode and keeps counting into it.
    after = Engine(settings.site, settings.detection)
    assert after.restore(store.recent_open_alerts(1_800_000_000.0 - 86400)) == 1
    after.feed([syn(1_800_000_100.0, STRANGER)])
    store.upsert_alerts(after.collect_changes())
    (alert,) = store.alerts()
    assert alert.count == 4
    assert alert.first_seen == 1_800_000_000.0
    assert len(alert.samples) == 4
