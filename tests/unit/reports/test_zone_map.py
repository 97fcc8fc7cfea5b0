"""The zone map and the dangerous-port matrix from stored hourly counts: the periods, the arrows' colours, the
matrix's cells (dangerous ports only, forbidden marked), the CSV rows, and drawings that escape hostile names."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mamori.model import FlowCount
from mamori.reports import zone_map
from mamori.reports.tables import to_csv
from mamori.storage import FlowTable, Store
from tests.conftest import make_settings

HOUR = 3600.0
NOW = 1_800_000_000.0 + 1234.0  # within an hour
THIS_HOUR = NOW - NOW % HOUR
SEGMENTS = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: バックアップ, cidrs: [10.4.0.0/24], zone: hsz, role: backup}
  - {name: 事務系, cidrs: [10.2.0.0/24], zone: sz, proxies: [10.2.0.5]}
  - {name: 公開系, cidrs: [10.3.0.0/24], zone: dmz}
"""


def stored(tmp_path: Path) -> Store:
    store = Store(tmp_path / "m.db")
    FlowTable(store).add(
        [
            FlowCount(THIS_HOUR, "公開系", "電子カルテ", "tcp", 3389, True, 12, 0, 1),  # now
            FlowCount(THIS_HOUR - 5 * HOUR, "公開系", "電子カルテ", "tcp", 445, True, 3, 3, 0),
            FlowCount(THIS_HOUR - 3 * 24 * HOUR, "事務系", "電子カルテ", "tcp", 1433, False, 40, 0, 1),  # 3 days ago
            FlowCount(THIS_HOUR - 3 * 24 * HOUR, "事務系", "電子カルテ", "tcp", 8080, False, 7, 0, 0),  # not dangerous
            FlowCount(THIS_HOUR - 20 * 24 * HOUR, "電子カルテ", "バックアップ", "tcp", 445, False, 200, 0, 0),
            FlowCount(THIS_HOUR - 40 * 24 * HOUR, "電子カルテ", "", "tcp", 443, True, 9, 9, 0),  # too old for a month
            FlowCount(THIS_HOUR - 2 * HOUR, "電子カルテ", "", "tcp", 443, True, 2, 2, 0),
        ]
    )
    return store


def test_periods_end_with_the_hour_under_way() -> None:
    since, until = zone_map.period_bounds("day", NOW)
    assert (since, until) == (THIS_HOUR - 23 * HOUR, THIS_HOUR + HOUR)
    assert zone_map.period_bounds("week", NOW)[0] == THIS_HOUR - (7 * 24 - 1) * HOUR
    assert zone_map.period_bounds("month", NOW)[0] == THIS_HOUR - (30 * 24 - 1) * HOUR


def test_the_matrix_of_a_day_week_and_month(tmp_path: Path) -> None:
    site = make_settings(SEGMENTS, tmp_path).site
    store = stored(tmp_path)
    day = zone_map.collect(store, site, "day", NOW)
    assert set(day.matrix.cells) == {("公開系", "電子カルテ")}
    cell = day.matrix.cell("公開系", "電子カルテ")
    forbidden = frozenset({("tcp", 3389), ("tcp", 445)})
    assert cell == zone_map.Cell(15, 15, 3, 1, (("tcp", 3389, 12), ("tcp", 445, 3)), forbidden)
    week = zone_map.collect(store, site, "week", NOW)
    assert set(week.matrix.cells) == {("公開系", "電子カルテ"), ("事務系", "電子カルテ")}
    assert week.matrix.cell("事務系", "電子カルテ") == zone_map.Cell(40, 0, 0, 1, (("tcp", 1433, 40),))  # no 8080
    month = zone_map.collect(store, site, "month", NOW)
    assert month.matrix.cell("電子カルテ", "バックアップ") == zone_map.Cell(200, 0, 0, 0, (("tcp", 445, 200),))
    # Rows and columns: every segment from the outside inwards (DMZ, SZ, HSZ in the site's order), outside last.
    assert month.segments == ("公開系", "事務系", "電子カルテ", "バックアップ", "")
    # The arrows cover every port; forbidden first, then by connections.
    assert [(a.src, a.dst, a.kind, a.count) for a in month.arrows] == [
        ("公開系", "電子カルテ", "forbidden", 15),
        ("電子カルテ", "", "forbidden", 2),
        ("電子カルテ", "バックアップ", "allowed", 200),
        ("事務系", "電子カルテ", "new", 47),
    ]
    outside = next(a for a in month.arrows if a.dst == "")
    assert outside.all_blocked and outside.ports == (("tcp", 443, 2),)


def test_the_matrix_as_csv_rows(tmp_path: Path) -> None:
    site = make_settings(SEGMENTS, tmp_path).site
    week = zone_map.collect(stored(tmp_path), site, "week", NOW)
    header, rows = zone_map.matrix_table(week, "ja")
    assert header[:5] == ["送信元セグメント", "送信元ゾーン", "宛先セグメント", "宛先ゾーン", "接続数"]
    assert rows == [
        ["公開系", "DMZ", "電子カルテ", "高セキュアゾーン", 15, 15, 3, 1, "3389 RDP ×12（禁止）, 445 SMB ×3（禁止）"],
        ["事務系", "セキュアゾーン", "電子カルテ", "高セキュアゾーン", 40, 0, 0, 1, "1433 SQL Server ×40"],
    ]
    assert zone_map.matrix_table(week, "en")[1][0][1] == "DMZ"


HOSTILE = ["=cmd|'/c calc'!A1", "<script>alert(1)</script>", 'a"b&c', "tab\there\x07"]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_drawings_escape_hostile_segment_names(tmp_path: Path, lang: str) -> None:
    lines = "\n".join(f"  - {{name: {json.dumps(n)}, cidrs: [10.9.{i}.0/24], zone: sz}}" for i, n in enumerate(HOSTILE))
    site = make_settings("segments:\n" + lines + "\n", tmp_path).site
    names = [s.name for s in site.segments]
    flows = [
        FlowCount(THIS_HOUR, names[0], names[1], "tcp", 445, True, 5),
        FlowCount(THIS_HOUR, names[2], "", "tcp", 3389, False, 1, 0, 1),
    ]
    view = zone_map.build_view(site, flows, "day", THIS_HOUR, THIS_HOUR + HOUR)
    svg = zone_map.to_svg(zone_map.layout(view, lang))
    root = ET.fromstring(svg)  # noqa: S314 - our own drawing: well-formed XML whatever the names
    assert "<script>" not in svg and root.find(".//{http://www.w3.org/2000/svg}script") is None
    texts = "".join(root.itertext())
    assert "<script>alert(1)</script>" in texts and 'a"b&c' in texts
    assert not any(k.startswith("on") for e in root.iter() for k in e.attrib)
    png = zone_map.to_png(zone_map.layout(view, lang), scale=1.0)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    header, rows = zone_map.matrix_table(view, lang)
    text = to_csv(header, rows).decode("utf-8-sig")
    assert "'=cmd|'/c calc'!A1" in text and "\n=cmd" not in text and ",=cmd" not in text


def test_the_map_says_when_nothing_flowed(tmp_path: Path) -> None:
    site = make_settings(SEGMENTS, tmp_path).site
    view = zone_map.build_view(site, [], "week", THIS_HOUR, THIS_HOUR + HOUR)
    svg = zone_map.to_svg(zone_map.layout(view, "en"))
    assert "No flows between segments in this period" in svg
    assert "Flows between zones – last 7 days" in svg
    assert view.matrix.cells == {}
