"""Lists as CSV for Excel (UTF-8 with BOM, Shift_JIS) and XLSX; cells an attacker could make into formulas."""

from __future__ import annotations

import csv
import io

import pytest

from mamori.reports.tables import read_xlsx_rows, to_csv, to_xlsx

HEADER = ["初回検知", "重大度", "ルール", "送信元 MAC", "内容", "件数"]
ROWS: list[list[object]] = [
    ["2026-11-22 09:20:00", "high", "port-scan", "02:66:00:00:be:ef", "ポートスキャン（SYN スキャン）", 1001],
    ["2026-11-22 09:36:30", "critical", "unregistered-terminal", None, '未登録の IP "10.20.0.55", 改行\nあり', 2],
]
# What a packet or a log line can carry into a cell (the host name of a syslog sender, a Windows user name...).
FIRST_ROW = ["2026-11-22 09:20:00", "high", "port-scan", "02:66:00:00:be:ef", "ポートスキャン（SYN スキャン）", "1001"]
FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]


def _csv_rows(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def test_csv_utf8_has_a_bom_crlf_and_round_trips() -> None:
    data = to_csv(HEADER, ROWS)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") >= 3  # Excel's line ends (one more inside the quoted cell's own newline is \n)
    rows = _csv_rows(data, "utf-8-sig")
    assert rows[0] == HEADER
    assert rows[1] == FIRST_ROW  # numbers as Excel shows them
    assert rows[2][3] == ""  # None is an empty cell
    assert rows[2][4] == '未登録の IP "10.20.0.55", 改行\nあり'


def test_csv_shift_jis_for_older_excel() -> None:
    data = to_csv(HEADER, [*ROWS, ["x", "y", "z", "", "髙橋さん ① 한국어 😀", 0]], encoding="shift_jis")
    assert not data.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    rows = _csv_rows(data, "cp932")
    assert rows[0] == HEADER
    assert rows[1][4] == "ポートスキャン（SYN スキャン）"
    assert rows[3][4] == "髙橋さん ① ??? ?"  # Windows' Shift_JIS (cp932) has 髙 and ①; the rest cannot be written


@pytest.mark.parametrize("value", FORMULAS)
def test_csv_quotes_what_excel_would_run(value: str) -> None:
    rows = _csv_rows(to_csv(["host"], [[value], ["=ok"], [-5], ["a=b"]]), "utf-8-sig")
    assert rows[1] == ["'" + value]
    assert rows[2] == ["'=ok"]
    assert rows[3] == ["-5"]  # a number is a number, not text that could be a formula
    assert rows[4] == ["a=b"]


def test_xlsx_round_trip() -> None:
    data = to_xlsx(HEADER, ROWS, title="アラート")
    assert data.startswith(b"PK")  # a zip: an Office Open XML workbook
    rows = read_xlsx_rows(data)
    assert rows[0] == HEADER
    assert rows[1] == FIRST_ROW
    assert rows[2][3] == ""
    assert rows[2][4] == '未登録の IP "10.20.0.55", 改行\nあり'


def test_xlsx_cells_are_text_never_formulas() -> None:
    from openpyxl import load_workbook

    data = to_xlsx(["host"], [[v] for v in FORMULAS])
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.data_type for c in cells] == ["s"] * len(FORMULAS)
    expected = ["'" + v.replace("\r", "\n") for v in FORMULAS]  # XML reads a bare CR back as LF
    assert [c.value for c in cells] == expected
    assert read_xlsx_rows(data)[1:] == [[v] for v in expected]


def test_xlsx_sheet_title_and_header() -> None:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(to_xlsx(HEADER, [], title="端末台帳" * 10)))
    sheet = book.worksheets[0]
    assert sheet.title == ("端末台帳" * 10)[:31]  # Excel's limit
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1])


@pytest.mark.parametrize("data", [b"", b"not a workbook", "システム,端末名\n".encode(), b"PK\x03\x04broken"])
def test_read_xlsx_rejects_what_is_not_a_workbook(data: bytes) -> None:
    with pytest.raises(ValueError, match="not an Excel workbook"):
        read_xlsx_rows(data)


def test_xlsx_holds_control_characters_and_long_text() -> None:
    """A workbook cannot carry most control characters (openpyxl refused the whole export): they become U+FFFD;
    a cell longer than Excel's 32,767 characters is cut."""
    data = to_xlsx(["user"], [["nul\x00bel\x07esc\x1b"], ["tab\tlf\ncr"], ["x" * 40_000]])
    rows = read_xlsx_rows(data)
    assert rows[1] == ["nul\ufffdbel\ufffdesc\ufffd"]
    assert rows[2] == ["tab\tlf\ncr"]
    assert len(rows[3][0]) == 32_766 and rows[3][0].endswith("…")
