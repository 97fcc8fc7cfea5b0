"""Vendors as CSV for Excel: written from the settings file, read back into the `vendors:` block the settings file
accepts (with its work plans carried over), every problem placed by row and column."""

from __future__ import annotations

from mamori.config import settings_from_text
from mamori.reports.vendors_csv import parse_vendors, vendors_yaml, write_vendors

SITE = """\
site: {name: テスト病院, time_zone: Asia/Tokyo}
vendors:
  - name: 透析装置メーカー
    sources: [10.9.0.0/24, 203.0.113.7]
    accounts: [vendor-dia]
    devices: [10.1.0.20, DIA-SRV01]
    work_plans:
      - {start: 2026-11-10T09:00+09:00, end: 2026-11-10T12:00+09:00, targets: [10.1.0.20], ports: [3389],
         ticket: "作業計画 2026-118"}
      - {every: month, day: 1, time: "10:00", duration: 2h, targets: [10.1.0.20]}
      - {every: week, weekday: tue, time: "13:00", duration: 90m}
  - name: '=HYPERLINK("http://x")'
    sources: [198.51.100.0/28]
    note: "+81 保守窓口"
"""


def test_export_then_import_gives_the_same_vendors_and_their_plans_back() -> None:
    site = settings_from_text(SITE).site
    for encoding in ("utf-8-sig", "shift_jis"):
        data = write_vendors(site.vendors, encoding=encoding)
        text = data.decode("utf-8-sig" if encoding == "utf-8-sig" else "cp932")
        assert text.splitlines()[0] == "業者,接続元,アカウント,保守対象機器,作業計画,備考"
        assert "'=HYPERLINK" in text and "'+81 保守窓口" in text  # Excel would run them as formulas
        assert "10.9.0.0/24 203.0.113.7," in text and "3 件 / 3 plan(s)" in text
        parsed = parse_vendors(data, source="vendors.csv")
        assert parsed.problems == [] and parsed.encoding == encoding
        assert [(v.name, v.sources, v.accounts, v.devices, v.note) for v in parsed.vendors] == [
            (v.name, v.sources, v.accounts, v.devices, v.note) for v in site.vendors
        ]
        assert all(v.work_plans == () for v in parsed.vendors)  # the CSV has no plans
    block = vendors_yaml(parsed.vendors, {v.name: v.work_plans for v in site.vendors}, zone="Asia/Tokyo")
    again = settings_from_text("site: {name: テスト病院, time_zone: Asia/Tokyo}\n" + block).site
    assert again.vendors == site.vendors  # sources, devices, plans (one-off and recurring) all the same


def test_every_problem_is_placed_by_row_and_column() -> None:
    data = (
        "業者,接続元,アカウント,保守対象機器\n"
        "透析装置メーカー,10.9.0.0/33,vendor-dia,10.1.0.20\n"
        "画像装置メーカー,vpn.example.com,,10.1.0.30\n"
        "透析装置メーカー,10.9.1.0/24,,\n"
        ",10.9.2.0/24,,\n"
    ).encode("cp932")
    parsed = parse_vendors(data, source="vendors.csv")
    found = {(p.row, p.column) for p in parsed.problems}
    assert found == {(2, "接続元"), (3, "接続元"), (4, "業者"), (5, "業者")}, parsed.problems
    assert parsed.vendors == []
    lines = [str(p) for p in parsed.problems]
    assert lines[0].startswith("vendors.csv:2: 接続元:") and "write a source as a network" in lines[0]
    assert "used twice" in lines[2]


def test_english_header_lists_in_one_cell_and_comment_rows() -> None:
    data = (
        "name,sources,accounts,devices,note\n"
        '保守A,"10.9.0.0/24、203.0.113.7\n198.51.100.9",a1 a2,"10.1.0.20,ＤＩＡ－ＳＲＶ０１",\n'
        "# まだ契約前,,,,\n"
    ).encode()
    parsed = parse_vendors(data, source="v.csv")
    assert parsed.problems == []
    (v,) = parsed.vendors
    assert v.sources == ("10.9.0.0/24", "203.0.113.7/32", "198.51.100.9/32") and v.accounts == ("a1", "a2")
    assert v.devices == ("10.1.0.20", "DIA-SRV01")


def test_an_empty_file_and_a_file_without_the_name_column() -> None:
    assert "empty" in str(parse_vendors(b"", source="v.csv").problems[0])
    (problem,) = parse_vendors("接続元\n10.9.0.0/24\n".encode(), source="v.csv").problems
    assert problem.row == 1 and "業者" in str(problem)
