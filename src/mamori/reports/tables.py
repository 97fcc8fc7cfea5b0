"""Any list as CSV (UTF-8 with BOM, or Shift_JIS, for Excel) or XLSX, and an XLSX sheet read back as rows.

Cells that Excel would take for a formula (starting with = + - @, tab or CR) are prefixed with a quote: values
come from packets and logs, that is from attackers too (CSV injection). A workbook cannot hold most control
characters (openpyxl refuses them): in XLSX they become U+FFFD.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from mamori import escape

__all__ = ["read_xlsx_rows", "to_csv", "to_xlsx"]


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], *, encoding: str = "utf-8-sig") -> bytes:
    """CSV with CRLF line ends as Excel writes; ``shift_jis`` writes cp932 (unmappable characters become '?')."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else escape.spreadsheet(v) for v in row])
    codec = "cp932" if encoding in ("shift_jis", "cp932") else "utf-8-sig"
    return out.getvalue().encode(codec, errors="replace")


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "mamori") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook(write_only=False)
    sheet = book.active
    if sheet is None or not hasattr(sheet, "column_dimensions"):  # a new workbook always has one worksheet
        raise RuntimeError("openpyxl created no worksheet")
    sheet.title = title[:31]
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(str(h)) + 2 for h in header]
    for row in rows:
        values = ["" if v is None else escape.xlsx(v) for v in row]
        sheet.append(values)
        for i, v in enumerate(values[: len(widths)]):
            widths[i] = min(60, max(widths[i], len(str(v)) + 2))
    from openpyxl.utils import get_column_letter

    for i, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(i + 1)].width = width
    sheet.freeze_panes = "A2"
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def read_xlsx_rows(data: bytes) -> list[list[str]]:
    """The first sheet of a workbook as rows of text (empty cells as ""). Raises ValueError for a non-XLSX file."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a file that is not a workbook
        raise ValueError(f"not an Excel workbook (.xlsx): {exc}") from None
    sheet = book.worksheets[0]
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    return rows
