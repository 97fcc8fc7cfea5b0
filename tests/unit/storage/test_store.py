"""The SQLite store through Django: upserts by uid, WAL, batched writer, restart continuity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mamori.detection import Engine
from mamori.model import Alert, Severity
from mamori.rules import SCHEMA_KEY, RawDetails
from mamori.rules.network import PortScanDetails, UnregisteredTerminalDetails
from mamori.rules.render import alert_to_dict, summary
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
    assert isinstance(first.details, UnregisteredTerminalDetails)  # read back into the rule's declared type
    assert first.details.reason == "unregistered-mac" and first.details.ports == (6000,)
    assert first.details["ports"] == [6000]  # and still a mapping of its JSON form
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


def test_details_are_stored_as_json_with_their_schema_and_summaries_beside_them(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    Store(path).upsert_alerts([_alert()])
    with sqlite3.connect(path) as db:
        details, summary_ja, summary_en = db.execute(
            "SELECT details, summary_ja, summary_en FROM mamori_alert"
        ).fetchone()
    assert f'"{SCHEMA_KEY}": 1' in details and '"reason": "unregistered-mac"' in details
    [stored] = Store(path).alerts()
    assert (summary_ja, summary_en) == (summary(stored, "ja"), summary(stored, "en"))  # a copy for other readers
    assert summary_ja.startswith("未登録端末") and summary_en.startswith("Unregistered terminal")


def _old_row(db: sqlite3.Connection, uid: str, rule: str, details: str, ja: str, en: str) -> None:
    """A row as mamori wrote it before details were typed: no schema version, the sentences stored."""
    db.execute(
        "INSERT INTO mamori_alert (uid, rule, key, severity, first_seen, last_seen, count, src_mac, src_ip, dst_ip,"
        " dst_port, system, summary_ja, summary_en, details, samples, origin, status, status_by, status_comment,"
        " created_at, updated_at) VALUES (?, ?, 'k', 40, '2026-11-01 00:00:00', '2026-11-01 00:05:00', 1003, NULL,"
        " '10.1.0.66', '10.1.0.2', NULL, '透析システム', ?, ?, ?, '[]', 'sensor', 'open', '', '',"
        " '2026-11-01 00:05:00', '2026-11-01 00:05:00')",
        (uid, rule, ja, en, details),
    )


def test_alerts_stored_before_the_change_still_show(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    Store(path).upsert_alerts([_alert()])  # the tables exist
    with sqlite3.connect(path) as db:
        _old_row(
            db,
            "old-1",
            "port-scan",
            '{"direction": "vertical", "scan_type": "syn", "ports": [22, 23, 80], "hosts": ["10.1.0.2"],'
            ' "scan_types": {"syn": 1003}, "proto": "tcp", "note": "kept"}',
            "古い要約",
            "old summary",
        )
        _old_row(db, "old-2", "rule-of-a-removed-plugin", '{"thing": 1}', "プラグインの要約", "plugin summary")
    store = Store(path)
    old, gone = (next(a for a in store.alerts() if a.uid == uid) for uid in ("old-1", "old-2"))
    assert isinstance(old.details, PortScanDetails) and old.details.ports == (22, 23, 80)
    assert old.details.extra == {"note": "kept"}  # a key the type does not declare is kept
    assert (
        summary(old, "en")
        == "Port scan (SYN scan): 10.1.0.66 probed 3 ports on 10.1.0.2; 1,003 probes (system: 透析システム)"
    )
    assert "ポートスキャン（SYN スキャン）" in summary(old, "ja")
    assert alert_to_dict(old)["ports"] == [22, 23, 80] and alert_to_dict(old)["note"] == "kept"
    # a rule this installation does not know: its facts and the summaries stored with it
    assert isinstance(gone.details, RawDetails) and dict(gone.details) == {"thing": 1}
    assert (summary(gone, "ja"), summary(gone, "en")) == ("プラグインの要約", "plugin summary")
    store.upsert_alerts([gone])  # written back unchanged
    again = next(a for a in Store(path).alerts() if a.uid == "old-2")
    assert summary(again, "en") == "plugin summary" and dict(again.details) == {"thing": 1}
