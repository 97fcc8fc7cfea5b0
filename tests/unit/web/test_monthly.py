"""The monthly PDF report, rendered from a MonthData built here: a PDF, with the Japanese font embedded."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mamori.model import Alert, Severity
from mamori.reports.monthly import BUNDLED_FONT, FontMissing, MonthData, render_pdf
from mamori.storage import LedgerEntry

JST = dt.timezone(dt.timedelta(hours=9))
START = dt.datetime(2026, 11, 1, tzinfo=JST)
END = dt.datetime(2026, 12, 1, tzinfo=JST)


def _alert(uid: str, rule: str, severity: Severity, day: int, details: dict[str, object]) -> Alert:
    ts = dt.datetime(2026, 11, day, 9, 20, tzinfo=JST).timestamp()
    return Alert(
        uid,
        rule,
        f"key-{uid}",
        severity,
        ts,
        ts + 120,
        1001,
        src_mac="02:66:00:00:be:ef",
        src_ip="192.168.10.200",
        dst_ip="192.168.10.11",
        dst_port=6000,
        system="検査システム",
        details=details,
    )


def _month(alerts: int = 3) -> MonthData:
    data = MonthData(site="デモ病院", year=2026, month=11, start=START, end=END)
    kinds = [
        ("port-scan", Severity.HIGH, {"scan_types": {"syn": 1001}, "ports": list(range(1, 1002)), "hosts": ["x"]}),
        (
            "ip-mac-conflict",
            Severity.CRITICAL,
            {"reason": "registered-binding", "role": "gateway", "name": "core-router", "registered_mac": "02:10::01"},
        ),
        ("unregistered-terminal", Severity.MEDIUM, {"reason": "unregistered-mac"}),
    ]
    for i in range(alerts):
        rule, severity, details = kinds[i % len(kinds)]
        data.alerts.append(_alert(f"a{i}", rule, severity, 1 + i % 28, details))
        data.status[f"a{i}"] = ("open", "resolved", "acknowledged")[i % 3]
    data.handling["a1"] = [(START + dt.timedelta(days=3), "kanri", "resolve", "保守業者の PC を LAN から外した")]
    laptop = LedgerEntry("透析システム", "保守業者ノートPC", "02:66:00:00:be:ef", "192.168.10.200", source="web")
    data.added.append(laptop)
    data.retired.append(LedgerEntry("検査システム", "検査端末-9", "02:10:00:00:03:09", None))
    data.uptime_hours = {"eth0": 700, "syslog": 720}
    return data


def test_the_report_is_a_pdf_with_the_japanese_font_embedded() -> None:
    pdf = render_pdf(_month(), generated=dt.datetime(2026, 12, 1, 8, 0, tzinfo=JST))
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    fonts = set(re.findall(rb"/BaseFont\s*/([A-Za-z0-9+\-]+)", pdf))
    assert any(re.fullmatch(rb"[A-Z]{6}\+(IPAexGothic|NotoSansCJK\w*)", f) for f in fonts), fonts  # a subset
    assert b"/FontFile2" in pdf  # the font's glyphs are in the file: it prints without the font installed
    assert b"/ToUnicode" in pdf  # and the Japanese text can be searched and copied


def _text(pdf: bytes, tmp_path: Path, *, layout: bool = True) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    command = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_the_report_reads_in_japanese(tmp_path: Path) -> None:
    text = _text(render_pdf(_month(), generated=dt.datetime(2026, 12, 1, 8, 0, tzinfo=JST)), tmp_path)
    for words in (
        "デモ病院 セキュリティ監視 月次報告",
        "2026年11月",
        "1. 概要",
        "検知したアラート / Alerts: 3 件",
        "緊急 1",
        "高 1",
        "中 1",
        "ポートスキャン",
        "ARP 詐称の疑い",
        "対応済みにした 保守業者の PC を LAN",  # the handling: what was done, by whom (the cell wraps)
        "3. 端末台帳の変更",
        "保守業者ノートPC",
        "検査端末-9",
        "4. センサーの稼働",
        "eth0",
        "97.2 %",
        "100.0 %",
    ):
        assert words in text, words
    # a medium alert is counted, but only high and critical ones are listed with their handling
    assert "未登録端末 192.168.10.200" not in text


def test_an_empty_month_and_a_long_one(tmp_path: Path) -> None:
    empty = MonthData(site="", year=2026, month=2, start=START, end=END)
    assert render_pdf(empty).startswith(b"%PDF-")
    many = render_pdf(_month(alerts=700))  # 467 high or critical: 300 listed, the rest counted
    pages = re.search(rb"/Type /Pages[^>]*/Count (\d+)", many) or re.search(rb"/Count (\d+)", many)
    assert pages is not None
    assert int(pages.group(1)) > 5
    if shutil.which("pdftotext"):
        path = tmp_path / "long.pdf"
        path.write_bytes(many)
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        assert "ほか 167 件" in text


def test_the_font_shipped_in_the_package_is_enough(tmp_path: Path) -> None:
    """Only the package's own font is looked at: no system font path (Debian's) is needed."""
    assert BUNDLED_FONT.is_file()
    assert (BUNDLED_FONT.parent / "IPA_Font_License_Agreement_v1.0.txt").is_file()  # the licence travels with it
    pdf = render_pdf(_month(), generated=dt.datetime(2026, 12, 1, 8, 0, tzinfo=JST), fonts=[BUNDLED_FONT])
    assert re.search(rb"/BaseFont\s*/[A-Z]{6}\+IPAexGothic", pdf)
    text = _text(pdf, tmp_path)
    assert "デモ病院 セキュリティ監視 月次報告" in text
    assert "ARP 詐称の疑い" in text


def test_no_font_at_all_is_a_japanese_error_with_the_fix(tmp_path: Path) -> None:
    missing = [tmp_path / "ipaexg.ttf", tmp_path / "NotoSansCJK-Regular.ttc"]
    with pytest.raises(FontMissing) as caught:
        render_pdf(_month(), fonts=missing)
    message = str(caught.value)
    assert "日本語フォントが見つかりません" in message
    assert "pip install --force-reinstall mamori" in message
    assert "fonts-ipaexfont-gothic" in message
    assert str(missing[0]) in message


def test_a_month_under_way_counts_only_the_hours_it_has_had(tmp_path: Path) -> None:
    data = _month()
    data.now = dt.datetime(2026, 11, 2, 0, 30, tzinfo=JST)  # the 2nd, half past midnight: 25 hours have begun
    data.uptime_hours = {"eth0": 25, "syslog": 1}
    assert data.hours == 25
    text = _text(render_pdf(data), tmp_path)
    assert "25 / 25" in text
    assert "100.0 %" in text
    assert "1 / 25" in text
    assert "4.0 %" in text
    assert "/ 720" not in text
    assert "作成時点までの 25 時間" in text
    data.now = END + dt.timedelta(days=3)  # a past month: all of it
    assert data.hours == 720
    data.now = START - dt.timedelta(days=3)  # a month to come: none
    assert data.hours == 0


ZONE_SITE = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: "<b>事務系</b> & <img src=x>", cidrs: [10.2.0.0/24], zone: sz}
  - {name: 公開系, cidrs: [10.3.0.0/24], zone: dmz}
"""


def test_the_zone_section_counts_the_rules_and_prints_the_months_pairs_new_paths_and_matrix(tmp_path: Path) -> None:
    from mamori.model import FlowCount
    from mamori.reports.monthly import collect_month
    from mamori.storage import FlowTable, Store
    from tests.conftest import make_settings

    site = make_settings(ZONE_SITE, tmp_path).site
    hostile = site.segments[1].name
    store = Store(tmp_path / "m.db")
    day = dt.datetime(2026, 11, 12, 10, tzinfo=JST).timestamp()
    FlowTable(store).add(
        [
            FlowCount(day, "公開系", "電子カルテ", "tcp", 3389, True, 12, 4, 1),
            FlowCount(day, hostile, "電子カルテ", "tcp", 1433, False, 30, 0, 1),
            FlowCount(day + 86400 * 40, "公開系", "電子カルテ", "tcp", 445, True, 99, 0, 0),  # December: not in it
        ]
    )
    store.upsert_alerts([_alert("z1", "zone-policy", Severity.CRITICAL, 12, {})])
    data = collect_month(store, 2026, 11, zone=JST, now=END, site_model=site)
    assert data.zones is not None and len(data.zones.arrows) == 2
    text = _text(render_pdf(data, generated=dt.datetime(2026, 12, 1, 8, 0, tzinfo=JST)), tmp_path, layout=False)
    flat = " ".join(text.split())
    for words in (
        "5. ゾーン違反・水平展開・新しい経路 / Zone violations, lateral movement, new paths",
        "ゾーン間の禁止された通信 / Connection the zone policy forbids 1 1 1",  # alerts, high or critical, open
        "この月、水平展開は検知されませんでした / No lateral movement was seen this month.",
        "通信の多いセグメントの組",
        "公開系（DMZ）",
        "電子カルテ（高セキュア",  # the cell wraps within the zone name
        "3389 RDP ×12",
        "新しい経路 / New paths",
        "1433 SQL Server",
        "要注意ポートの通信",
        "【禁止】12 件: 3389 RDP ×12",
    ):
        assert words in flat, words
    assert "<b>事務系</b> & <img src=x>" in flat  # the name as written, not read as markup
    assert "×99" not in flat


def test_without_segments_the_zone_section_says_so(tmp_path: Path) -> None:
    text = " ".join(_text(render_pdf(_month()), tmp_path, layout=False).split())
    assert "5. ゾーン違反・水平展開・新しい経路" in text
    assert "No lateral movement was seen this month." in text
    assert "No segments are defined: flows between segments are not counted." in text


def test_the_block_section_lists_blocks_and_releases_with_the_switch_text_escaped(tmp_path: Path) -> None:
    from mamori.blocking import BlockRecord

    data = _month()
    made = dt.datetime(2026, 11, 5, 10, 0, tzinfo=JST).timestamp()
    data.blocks = [
        BlockRecord(
            "b1",
            "snmp-port",
            "sw-block",
            "a0",
            "unregistered-terminal",
            "02:66:00:00:be:ef",
            "192.168.10.200",
            "released",
            made,
            place="floor2-access Gi1/0/7",
            port_name="Gi1/0/7",
            port_descr='<img src="/etc/passwd"/> =HYPERLINK("x")',  # the switch's words: hostile text
            released_at=made + 3600,
            released_by="kanri",
        ),
        BlockRecord(
            "b2", "arp-isolate", "arp", "a0", "unregistered-terminal", "02:66:00:00:be:f0", None, "dry-run", made
        ),
    ]
    text = _text(render_pdf(data, generated=dt.datetime(2026, 12, 1, 8, 0, tzinfo=JST)), tmp_path)
    for words in (
        "6. 遮断と解除",
        "スイッチのポート",
        "Gi1/0/7",
        '<img src="/etc/passwd"/>',
        "解除済み",
        "kanri",
        "試行のみ",
    ):
        assert words in text, words


def test_a_month_without_blocks_says_so(tmp_path: Path) -> None:
    text = _text(render_pdf(_month(), generated=dt.datetime(2026, 12, 1, 8, 0, tzinfo=JST)), tmp_path)
    assert "この月の遮断はありません" in text
