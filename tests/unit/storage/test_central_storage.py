"""The sensor's outbox (SQLite triggers) and the central writes (idempotent upserts), on real SQLite stores.

The same paths run against PostgreSQL and NATS in tests/integration/test_central.py."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from mamori.central.messages import BadMessage, decode, encode, message_id, subject
from mamori.model import Alert, Severity
from mamori.storage import Ledger, LedgerEntry, SensorHealth, Store
from mamori.storage.central import CentralMessage, CentralTable
from mamori.storage.outbox import Outbox, OutboxItem
from mamori.storage.postgres import month_partition


def _alert(uid: str, count: int = 1, first: float = 1_800_000_000.0) -> Alert:
    return Alert(
        uid=uid,
        rule="port-scan",
        key="10.231.0.1",
        severity=Severity.HIGH,
        first_seen=first,
        last_seen=first + count,
        count=count,
        src_ip="10.231.0.1",
        dst_ip="10.231.0.2",
        samples=({"ts": first, "dst_port": 22},),
    )


def _outbox_rows(db: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT id, kind, ref FROM mamori_outbox ORDER BY id").fetchall()


def test_nothing_is_queued_until_the_outbox_is_enabled(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.upsert_alerts([_alert("a1")])
    assert _outbox_rows(tmp_path / "s.db") == []
    Outbox(store).enable("site-a", backlog=False)
    assert _outbox_rows(tmp_path / "s.db") == []
    store.upsert_alerts([_alert("a2")])
    assert [r[1:] for r in _outbox_rows(tmp_path / "s.db")] == [("alert", "a2")]


def test_the_backlog_is_queued_once_when_enabled(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.upsert_alerts([_alert("a1"), _alert("a2")])
    outbox = Outbox(store)
    outbox.enable("site-a")
    outbox.enable("site-a")  # enabling again queues nothing twice
    assert sorted(r[2] for r in _outbox_rows(tmp_path / "s.db")) == ["a1", "a2"]


def test_every_change_is_queued_in_its_transaction_one_row_per_thing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    outbox = Outbox(store)
    outbox.enable("site-a")
    store.upsert_alerts([_alert("a1", 1)])
    first = _outbox_rows(db)
    store.upsert_alerts([_alert("a1", 5)])  # the upsert's update path (ON CONFLICT DO UPDATE) fires the trigger too
    second = _outbox_rows(db)
    assert len(first) == len(second) == 1
    assert second[0][0] > first[0][0]  # a newer change: a new, higher sequence
    store.record_health([SensorHealth("eth1", "interface", 1.0, 2.0, 1, 1, 0, 1, 0, 0)])
    Ledger(store).upsert([LedgerEntry("透析システム", "pc-1", "02:00:00:00:0c:01", "10.231.0.3")], "import")
    kinds = [r[1] for r in _outbox_rows(db)]
    assert kinds == ["alert", "health", "terminal"]
    items = outbox.pending()
    assert [i.kind for i in items] == kinds
    assert items[0].data["count"] == 5 and items[0].data["uid"] == "a1"
    assert items[2].data["name"] == "pc-1" and items[2].data["local_id"] >= 1


def test_acknowledged_entries_go_and_newer_ones_stay(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    outbox = Outbox(store)
    outbox.enable("site-a")
    store.upsert_alerts([_alert("a1", 1), _alert("a2", 1)])
    items = outbox.pending()
    store.upsert_alerts([_alert("a1", 2)])  # changed after it was read: its entry gets a new sequence
    outbox.acknowledge([i.seq for i in items])
    left = outbox.pending()
    assert [(i.ref, i.data["count"]) for i in left] == [("a1", 2)]
    status = outbox.status()
    assert status is not None and status.acked_seq == max(i.seq for i in items) and status.published == 2
    assert len(status.box) == 32  # this database's own id in the message ids
    other = Outbox(Store(tmp_path / "other.db"))
    other.enable("site-a")
    assert other.status().box != status.box  # type: ignore[union-attr]


def test_a_terminal_removed_from_the_ledger_is_published_as_deleted(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    outbox = Outbox(store)
    outbox.enable("site-a")
    Ledger(store).upsert([LedgerEntry("透析システム", "pc-1", "02:00:00:00:0c:01")], "import")
    outbox.acknowledge([i.seq for i in outbox.pending()])
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM mamori_terminal")
    (item,) = outbox.pending()
    assert item.kind == "terminal" and item.data["deleted"] is True and item.data["local_id"] >= 1


def test_messages_carry_site_sequence_and_kind_and_refuse_mismatches() -> None:
    item = OutboxItem(7, "alert", "a1", {"uid": "a1"})
    body = encode("site-a", item)
    assert subject("site-a", "alert") == "mamori.site-a.alert"
    assert message_id("site-a", "b0x", 7) == "site-a:b0x:7"
    message = decode("mamori.site-a.alert", body)
    assert (message.site, message.seq, message.kind, message.data) == ("site-a", 7, "alert", {"uid": "a1"})
    for subj, data in (
        ("mamori.site-b.alert", body),  # the body says site-a: refused
        ("mamori.site-a.health", body),
        ("mamori.site-a.alert", b"\xff not json"),
        ("other.site-a.alert", body),
        ("mamori.site-a.alert", b'{"v": 1, "site": "site-a", "kind": "alert", "seq": 0, "data": {}}'),
    ):
        with pytest.raises(BadMessage):
            decode(subj, data)


def _messages(sensor: Store, site: str) -> list[CentralMessage]:
    """The sensor's outbox as the consumer decodes it."""
    out = []
    for item in Outbox(sensor).pending(10_000):
        out.append(decode(subject(site, item.kind), encode(site, item)))
    return out


def test_central_writes_are_idempotent_and_never_go_back(tmp_path: Path) -> None:
    sensor = Store(tmp_path / "sensor.db")
    Outbox(sensor).enable("site-a")
    sensor.upsert_alerts([_alert("a1", 1), _alert("a2", 1)])
    old = _messages(sensor, "site-a")
    sensor.upsert_alerts([_alert("a1", 9)])
    new = _messages(sensor, "site-a")
    central_store = Store(tmp_path / "central.db")
    table = CentralTable(central_store)
    first = table.apply(new)
    assert (first.alerts, first.new_alerts) == (2, 2)
    again = table.apply(new)  # redelivered after a crash between commit and ack
    assert again.new_alerts == 0
    table.apply(old)  # an older state arriving late changes nothing
    with sqlite3.connect(tmp_path / "central.db") as c:
        rows = c.execute("SELECT uid, count, site FROM mamori_alert ORDER BY uid").fetchall()
        hourly = c.execute("SELECT SUM(count) FROM mamori_alert_hourly").fetchone()[0]
        site = c.execute("SELECT site, messages FROM mamori_central_site").fetchall()
    assert rows == [("a1", 9, "site-a"), ("a2", 1, "site-a")]
    assert hourly == 2
    assert site == [("site-a", len(new) * 2 + len(old))]


def test_a_newer_status_from_the_site_wins_an_older_one_does_not(tmp_path: Path) -> None:
    sensor = Store(tmp_path / "sensor.db")
    Outbox(sensor).enable("site-a")
    sensor.upsert_alerts([_alert("a1")])
    table = CentralTable(Store(tmp_path / "central.db"))
    table.apply(_messages(sensor, "site-a"))
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    with sqlite3.connect(tmp_path / "central.db") as c:  # the group's office resolved it centrally, later
        c.execute("UPDATE mamori_alert SET status='resolved', status_changed_at=?", [when.isoformat(" ")[:26]])
    with sqlite3.connect(tmp_path / "sensor.db") as c:  # the site acknowledged it before that
        c.execute(
            "UPDATE mamori_alert SET status='acknowledged', status_changed_at=?, updated_at=?",
            [(when - dt.timedelta(days=1)).isoformat(" ")[:26], "2031-01-01 00:00:00"],
        )
    table.apply(_messages(sensor, "site-a"))
    with sqlite3.connect(tmp_path / "central.db") as c:
        assert c.execute("SELECT status FROM mamori_alert").fetchone()[0] == "resolved"


def test_a_message_with_unusable_content_is_reported_and_the_rest_written(tmp_path: Path) -> None:
    table = CentralTable(Store(tmp_path / "central.db"))
    times = {"started_at": "2030-01-01T00:00:00+00:00", "updated_at": "2030-01-01T00:01:00+00:00"}
    good = CentralMessage("site-a", 2, "health", {"name": "eth1", "kind": "interface", **times})
    bad = CentralMessage("site-a", 1, "alert", {"uid": "x", "first_seen": "not a time"})
    applied = table.apply([bad, good])
    assert applied.health == 1 and applied.alerts == 0
    assert len(applied.rejected) == 1 and "site-a #1" in applied.rejected[0]


def test_monthly_partition_names_and_bounds() -> None:
    name, start, end = month_partition("mamori_alert", dt.date(2026, 12, 1))
    assert name == "mamori_alert_y2026m12"
    assert (start, end) == (dt.datetime(2026, 12, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
