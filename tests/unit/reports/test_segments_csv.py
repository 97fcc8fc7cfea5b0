"""Segments as CSV for Excel: written from the settings file, read back into YAML the settings file accepts, every
problem placed by row and column."""

from __future__ import annotations

from mamori.config import settings_from_text
from mamori.model import Segment
from mamori.reports import parse_segments, segments_yaml, write_segments

SEGMENTS = (
    Segment("電子カルテ", ("10.1.0.0/24", "fd00:1::/64"), "hsz"),
    Segment("事務系", ("10.2.0.0/24",), "sz", proxies=("10.2.0.5",), note="本館 2 階"),
    Segment('=HYPERLINK("x")', ("10.3.0.0/24",), "dmz"),
    Segment('保守回線: ベンダー "A"', ("172.16.50.0/24",), "external", role="maintenance"),
)


def test_export_then_import_gives_the_same_segments_and_yaml_the_settings_file_accepts() -> None:
    for encoding in ("utf-8-sig", "shift_jis"):
        data = write_segments(SEGMENTS, encoding=encoding)
        assert data.splitlines()[0].decode("utf-8-sig" if encoding == "utf-8-sig" else "cp932") == (
            "セグメント,ゾーン,ネットワーク,プロキシ,役割,備考"
        )
        assert b"'=HYPERLINK" in data  # Excel would run it as a formula
        parsed = parse_segments(data, source="seg.csv")
        assert parsed.problems == [] and parsed.segments == list(SEGMENTS)
        assert parsed.encoding == encoding
    text = segments_yaml(SEGMENTS)
    assert text.splitlines()[1] == "  - {name: 電子カルテ, cidrs: [10.1.0.0/24, 'fd00:1::/64'], zone: hsz}"
    assert settings_from_text(text).site.segments == SEGMENTS


def test_japanese_zone_and_role_names_and_cells_with_several_networks() -> None:
    data = (
        "name,zone,cidrs,proxies,role,note,担当\n"
        '病棟,セキュアゾーン,"10.6.0.0/24、10.7.0.0/24\n10.8.0.0/24",,,,山田\n'
        "バックアップ,高セキュアゾーン,10.4.0.0/24,,バックアップ,,\n"
        "検査機器,医療機器,１０.５.０.０/２４,,,,\n"
        "# 外部の行はまだ,,,,,,\n"
    ).encode()
    parsed = parse_segments(data, source="seg.csv")
    assert parsed.problems == []
    assert [(s.name, s.zone, s.cidrs, s.role) for s in parsed.segments] == [
        ("病棟", "sz", ("10.6.0.0/24", "10.7.0.0/24", "10.8.0.0/24"), None),
        ("バックアップ", "hsz", ("10.4.0.0/24",), "backup"),
        ("検査機器", "medical", ("10.5.0.0/24",), None),
    ]


def test_every_problem_is_placed_by_row_and_column() -> None:
    data = (
        "セグメント,ゾーン,ネットワーク,プロキシ,役割\n"
        "電子カルテ,hsz,10.1.0.5/24,,\n"
        "事務系,office,10.2.0.0/24,10.9.0.5,\n"
        "事務系,sz,10.3.0.0/24,,boss\n"
        "DMZ,dmz,10.3.0.0/24,,\n"
        ",sz,,,\n"
    ).encode("cp932")
    parsed = parse_segments(data, source="seg.csv")
    found = {(p.row, p.column) for p in parsed.problems}
    assert found == {
        (2, "ネットワーク"),
        (3, "ゾーン"),
        (3, "プロキシ"),
        (4, "セグメント"),
        (4, "役割"),
        (5, "ネットワーク"),
        (6, "セグメント"),
        (6, "ネットワーク"),
    }, [str(p) for p in parsed.problems]
    assert parsed.segments == []
    messages = {(p.row, p.column): p.message for p in parsed.problems}
    assert "did you mean 10.1.0.0/24" in messages[(2, "ネットワーク")]
    assert "proxy 10.9.0.5 is outside" in messages[(3, "プロキシ")]
    assert "used twice" in messages[(4, "セグメント")]
    assert "10.3.0.0/24 already belongs to segment '事務系'" in messages[(5, "ネットワーク")]
    assert str(parsed.problems[0]).startswith("seg.csv:2: ネットワーク: ")


def test_a_file_without_the_needed_columns_or_rows_says_so() -> None:
    (problem,) = parse_segments(b"", source="seg.csv").problems
    assert "empty" in problem.message
    problems = parse_segments("名前,ゾーン\nx,hsz\n".encode(), source="seg.csv").problems
    assert [p.message.split(" column")[0] for p in problems] == ["no セグメント / name", "no ネットワーク / cidrs"]
