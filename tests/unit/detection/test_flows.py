"""The hourly counts of connections between segments (detection/flows.py), through the zone detector."""

from __future__ import annotations

from pathlib import Path

from mamori.detection import Engine
from mamori.model import ACK, SYN, FlowCount
from mamori.testing import MemoryFlows
from tests.conftest import make_settings
from tests.unit.detection.test_zones import BACKUP, DMZ, HSZ, OUTSIDE, SEGMENTS, SZ_PROXY, attempt

HOUR = 3600.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % HOUR  # the start of an hour


def build(tmp_path: Path, extra: str = "") -> tuple[Engine, MemoryFlows]:
    settings = make_settings(SEGMENTS + extra, tmp_path)
    flows = MemoryFlows()
    return Engine(settings.site, settings.detection, flow_counts=flows), flows


def rows(flows: MemoryFlows) -> list[tuple[float, str, str, str, int, bool, int, int, int]]:
    return sorted(tuple(f) for f in flows.flows.values())  # type: ignore[misc]


def test_flows_between_segments_are_counted_per_hour_pair_port_and_verdict(tmp_path: Path) -> None:
    engine, flows = build(tmp_path)
    engine.feed(
        [
            *(attempt(T0 + i, DMZ, HSZ, 3389, sport=41000 + i) for i in range(5)),  # forbidden (3-5-1)
            attempt(T0 + 10, DMZ, HSZ, 3389, action="deny"),  # the router's log line for the same: blocked
            attempt(T0 + 20, SZ_PROXY, HSZ, 1433),  # through the proxy: allowed, first on its path
            attempt(T0 + 21, SZ_PROXY, HSZ, 1433, sport=40001),  # the same path again: not new
            attempt(T0 + 30, HSZ, BACKUP, 445),  # inside the High Secure Zone: allowed
            attempt(T0 + HOUR + 5, HSZ, BACKUP, 445),  # the next hour: a row of its own
            attempt(T0 + 40, HSZ, "10.1.0.99", 445),  # within one segment: not a flow between segments
            attempt(T0 + 41, DMZ, HSZ, 3389, flags=SYN | ACK),  # not the start of a connection
            attempt(T0 + 42, HSZ, OUTSIDE, 443),  # to the internet (3-3-2): outside is ""
        ]
    )
    assert flows.saves == 0  # nothing written per packet: the counts go out on tick or at the end
    engine.tick(T0 + 50)
    assert flows.saves == 1
    assert rows(flows) == [
        (T0, "事務系", "電子カルテ", "tcp", 1433, False, 2, 0, 1),
        (T0, "公開系", "電子カルテ", "tcp", 3389, True, 6, 1, 1),
        (T0, "電子カルテ", "", "tcp", 443, True, 1, 0, 0),
        (T0, "電子カルテ", "バックアップ", "tcp", 445, False, 1, 0, 1),
        (T0 + HOUR, "電子カルテ", "バックアップ", "tcp", 445, False, 1, 0, 0),
    ]
    engine.feed([attempt(T0 + 60, DMZ, HSZ, 3389, sport=42000)])
    engine.finish()  # the end of a capture: the rest is handed over, added to what was saved
    assert flows.saves == 2
    assert flows.flows[(T0, "公開系", "電子カルテ", "tcp", 3389, True)].connections == 7


def test_a_scan_between_segments_makes_a_bounded_number_of_rows(tmp_path: Path) -> None:
    engine, flows = build(tmp_path)
    # An allowed flow from the Secure Zone through the proxy over 1,000 ports that are not dangerous.
    engine.feed([attempt(T0 + i / 100, SZ_PROXY, HSZ, 20000 + i, sport=40000 + i % 20000) for i in range(1000)])
    engine.feed([attempt(T0 + 20, SZ_PROXY, HSZ, 445)])  # a dangerous port keeps its own row past the bound
    engine.finish()
    got = rows(flows)
    own = [r for r in got if r[4] not in (0, 445)]
    assert len(own) == 32 and all(r[6] == 1 for r in own)
    assert (T0, "事務系", "電子カルテ", "tcp", 0, False, 1000 - 32, 0, 0) in got
    assert (T0, "事務系", "電子カルテ", "tcp", 445, False, 1, 0, 1) in got
    assert sum(r[6] for r in got) == 1001  # every connection counted once


def test_a_full_table_of_counters_is_handed_over_before_it_grows(tmp_path: Path) -> None:
    engine, flows = build(tmp_path)
    zones = engine.detector("zone-policy")
    zones.flows.max_pending = 10
    engine.feed([attempt(T0 + i * HOUR, DMZ, HSZ, 3389) for i in range(25)])  # one row per hour
    assert flows.saves == 2 and len(flows.flows) == 20  # two batches of ten, without a tick
    engine.finish()
    assert len(flows.flows) == 25
    assert all(isinstance(f, FlowCount) for f in flows.flows.values())


def test_without_a_sink_nothing_is_counted(tmp_path: Path) -> None:
    settings = make_settings(SEGMENTS, tmp_path)
    engine = Engine(settings.site, settings.detection)
    engine.feed([attempt(T0, DMZ, HSZ, 3389)])
    assert engine.detector("zone-policy").flows is None
