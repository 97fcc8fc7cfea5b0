"""The monthly PDF report, rendered from a MonthData built here: a PDF, with the Japanese font embedded."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mamori.model import Alert, Severity
from mamori.reports.monthly import FONT_CANDIDATES, MonthData, render_pdf
from mamori.storage import LedgerEntry

if not any(path.exists() for path in FONT_CANDIDATES):
    pytest.skip("no Japanese font: apt-get install fonts-ipaexfont-gothic", allow_module_level=True)

JST = dt.timezone(dt.timedelta(hours=9))
START = dt.datetime(2026, 11, 1, tzinfo=JST)
END = dt.datetime(2026, 12, 1, tzinfo=JST)


def _alert(uid: str, rule: str, severity: Severity, day: int, summary_ja: str) -> Alert:
    ts = dt.datetime(2026, 11, day, 9, 20, tzinfo=JST).timestamp()
    return Alert(
        uid,
        rule,
        f"key-{uid}",
        severity,
        ts,
        ts + 120,
        1001,
        summary_ja,
        f"{rule} ({uid})",
        src_mac="02:66:00:00:be:ef",
        src_ip="192.168.10.200",
        system="検査システム",
    )


def _month(alerts: int = 3) -> MonthData:
    data = MonthData(site="デモ病院", year=2026, month=11, start=START, end=END)
    kinds = [
        ("port-scan", Severity.HIGH, "ポートスキャン（SYN スキャン）: 192.168.10.200 が 1001 ポートを調べています。"),
        ("ip-mac-conflict", Severity.CRITICAL, "ARP 詐称の疑い: 登録済みルータ core-router の IP を名乗っています。"),
        ("unregistered-terminal", Severity.MEDIUM, "未登録端末 192.168.10.200 が接続しようとしました。"),
    ]
    for i in range(alerts):
        rule, severity, summary = kinds[i % len(kinds)]
        data.alerts.append(_alert(f"a{i}", rule, severity, 1 + i % 28, summary))
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


def test_the_report_reads_in_japanese(tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "report.pdf"
    path.write_bytes(render_pdf(_month(), generated=dt.datetime(2026, 12, 1, 8, 0, tzinfo=JST)))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
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
