"""The hourly counts of flows between segments on a real SQLite file: added up across saves and writers, read back
per period, bounded; and an engine whose zone detector hands them to the store through the runtime's wiring."""

from __future__ import annotations

from pathlib import Path

from mamori.detection import Engine
from mamori.model import SYN, ConnectionAttempt, FlowCount
from mamori.runtime.flow_counts import stored_flows
from mamori.storage import AlertWriter, FlowTable, Store
from tests.conftest import make_settings

HOUR = 3600.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % HOUR


def test_counts_are_added_to_the_stored_ones_and_read_back_per_period(tmp_path: Path) -> None:
    table = FlowTable(Store(tmp_path / "m.db"))
    table.add([FlowCount(T0, "公開系", "電子カルテ", "tcp", 3389, True, 5, 1, 1)])
    # Another process (the log collector) counted the same flow in the same hour, and the next hour.
    table.add(
        [
            FlowCount(T0, "公開系", "電子カルテ", "tcp", 3389, True, 2, 2, 0),
            FlowCount(T0 + HOUR, "公開系", "電子カルテ", "tcp", 3389, True, 1, 0, 0),
            FlowCount(T0 + HOUR, "事務系", "電子カルテ", "tcp", 1433, False, 4, 0, 1),
            FlowCount(T0 + 30 * HOUR, "事務系", "電子カルテ", "tcp", 1433, False, 9, 0, 0),
        ]
    )
    assert sorted(table.totals(T0, T0 + 2 * HOUR)) == [
        FlowCount(T0, "公開系", "電子カルテ", "tcp", 3389, True, 8, 3, 1),
        FlowCount(T0 + HOUR, "事務系", "電子カルテ", "tcp", 1433, False, 4, 0, 1),
    ]
    assert sorted(table.totals(T0 + HOUR, T0 + 2 * HOUR)) == [
        FlowCount(T0 + HOUR, "事務系", "電子カルテ", "tcp", 1433, False, 4, 0, 1),
        FlowCount(T0 + HOUR, "公開系", "電子カルテ", "tcp", 3389, True, 1, 0, 0),
    ]
    assert [f.connections for f in table.totals(T0, T0 + 31 * HOUR) if f.port == 1433] == [13]


def test_the_table_forgets_old_hours_and_stays_within_its_rows(tmp_path: Path) -> None:
    table = FlowTable(Store(tmp_path / "m.db"))
    table.add([FlowCount(T0 + h * HOUR, "a", "b", "tcp", 445, False, 1) for h in range(100)])
    assert table.prune(T0 + 100 * HOUR, keep_days=2, max_rows=1000) == 100 - 48
    assert table.prune(T0 + 100 * HOUR, keep_days=2, max_rows=10) == 38
    hours = sorted(f.hour for f in table.totals(0, T0 + 200 * HOUR))
    assert hours == [T0 + 90 * HOUR]  # totals per flow: the first hour left is the 90th


def test_an_engine_hands_its_counts_to_the_store_on_the_writers_thread(tmp_path: Path) -> None:
    settings = make_settings(
        f"""\
storage: {{path: {tmp_path / "m.db"}}}
segments:
  - {{name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}}
  - {{name: 公開系, cidrs: [10.3.0.0/24], zone: dmz}}
""",
        tmp_path,
    )
    store = Store(tmp_path / "m.db")
    writer = AlertWriter(store, interval=0.05)
    engine = Engine(settings.site, settings.detection, flow_counts=stored_flows(settings, store, writer))
    syn = ConnectionAttempt(T0, "02:00:00:00:00:01", None, "10.3.0.30", "10.1.0.10", "tcp", 40000, 3389, SYN, 40)
    engine.feed([syn, syn._replace(ts=T0 + 1, src_port=40001)])
    engine.tick(T0 + 2)
    assert writer.flush(10)
    writer.close()
    assert FlowTable(Store(tmp_path / "m.db")).totals(T0, T0 + HOUR) == [
        FlowCount(T0, "公開系", "電子カルテ", "tcp", 3389, True, 2, 0, 1)
    ]
