"""The checklist in the official layout: XLSX following the Ministry's form (number, item, はい/いいえ, 確認日,
目標日) with an evidence sheet, and a PDF for the inspector. Every value that may come from the network or a person
is escaped for its format (``mamori.escape.xlsx`` / ``pdf_markup``)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mamori import escape
from mamori.reports.checklist.build import Checklist, Row
from mamori.reports.monthly import FONT_CANDIDATES, _font

__all__ = ["answer_text", "checklist_pdf", "checklist_xlsx"]

_ANSWER = {"yes": "はい", "no": "いいえ"}
UNCONFIRMED = "【文言未確認】"


def answer_text(value: str | None) -> str:
    return _ANSWER.get(value or "", "")


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _made(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def _item_text(row: Row) -> str:
    return (UNCONFIRMED if not row.item.confirmed else "") + row.item.text_ja


def _evidence_text(row: Row, lang: str = "ja") -> str:
    return " / ".join(line.text(lang) for ev in row.evidence for line in ev.lines)


def checklist_xlsx(checklist: Checklist) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    book = Workbook()
    sheet = book.active
    if sheet is None:
        raise RuntimeError("openpyxl created no worksheet")
    sheet.title = "チェックリスト"
    thin = Side(style="thin", color="808080")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(wrap_text=True, vertical="top")
    title = checklist.form.title_ja + (f"（{checklist.vendor}）" if checklist.vendor else "")
    sheet.append([escape.xlsx(title)])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(
        [escape.xlsx(f"施設名: {checklist.site}"), "", "", "", escape.xlsx(f"作成: {_made(checklist.made_at)}")]
    )
    if checklist.form.target_year:
        sheet.append(["「いいえ」の場合は、対策の実施にかかる" + checklist.form.target_year + "中の目標日を記入"])
    else:
        sheet.append([""])
    header = ["番号", "チェック項目", "はい", "いいえ", "確認日", "目標日", "回答者", "mamori の提案", "備考"]
    sheet.append(header)
    head_row = sheet.max_row
    for cell in sheet[head_row]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E8EEF5")
        cell.border = box
    section = ""
    for row in checklist.rows:
        if row.item.section != section:
            section = row.item.section
            sheet.append([escape.xlsx(section)])
            sheet.cell(sheet.max_row, 1).font = Font(bold=True)
        a = row.answer
        sheet.append(
            [
                row.item.number,
                escape.xlsx(_item_text(row)),
                "○" if a and a.answer == "yes" else "",
                "○" if a and a.answer == "no" else "",
                _date(a.checked_on) if a else "",
                _date(a.target_on) if a else "",
                escape.xlsx(a.answered_by) if a else "",
                answer_text(row.proposed) + ("（未確定）" if row.proposed and a is None else ""),
                escape.xlsx((a.note if a else "") + ("" if row.item.confirmed else " " + row.item.note)),
            ]
        )
        for cell in sheet[sheet.max_row]:
            cell.alignment = wrap
            cell.border = box
    for letter, width in zip("ABCDEFGHI", (7, 60, 6, 6, 12, 12, 14, 14, 50), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = f"A{head_row + 1}"
    sheet.print_title_rows = f"{head_row}:{head_row}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    if sheet.sheet_properties.pageSetUpPr is not None:
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    _evidence_sheet(book, checklist)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _evidence_sheet(book: Any, checklist: Checklist) -> None:
    from openpyxl.styles import Alignment, Font

    wrap = Alignment(wrap_text=True, vertical="top")

    ev = book.create_sheet("根拠 Evidence")
    ev.append(["番号", "出典 / Source", "観測", "提案", "根拠（日本語）", "Evidence (English)", "リンク / Link"])
    for cell in ev[1]:
        cell.font = Font(bold=True)
    for row in checklist.rows:
        for e in row.evidence:
            for line in e.lines:
                ev.append(
                    [
                        row.item.number,
                        e.source,
                        "はい" if e.observed else "観測なし",
                        answer_text(e.proposed),
                        escape.xlsx(line.ja),
                        escape.xlsx(line.en),
                        escape.xlsx(line.link),
                    ]
                )
                for cell in ev[ev.max_row]:
                    cell.alignment = wrap
    for letter, width in zip("ABCDEFG", (7, 12, 9, 7, 60, 60, 28), strict=True):
        ev.column_dimensions[letter].width = width


def checklist_pdf(checklist: Checklist, *, fonts: Sequence[Path] = FONT_CANDIDATES) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _font(fonts)
    title = ParagraphStyle("t", fontName=font, fontSize=14, leading=19, spaceAfter=4)
    body = ParagraphStyle("b", fontName=font, fontSize=8.5, leading=12)
    small = ParagraphStyle("s", fontName=font, fontSize=7.5, leading=10)
    heading = ParagraphStyle("h", fontName=font, fontSize=11, leading=15, spaceBefore=8, spaceAfter=3)

    def p(value: object, style: ParagraphStyle = small, limit: int = 800) -> Paragraph:
        return Paragraph(escape.pdf_markup(value, limit), style)

    name = checklist.form.title_ja + (f"（{checklist.vendor}）" if checklist.vendor else "")
    story: list[object] = [
        p(name, title, 300),
        p(
            f"施設名 / Site: {checklist.site}　作成 / Made: {_made(checklist.made_at)}　出典 / Source: "
            f"{checklist.form.source}",
            body,
        ),
        Spacer(1, 3 * mm),
    ]
    rows: list[list[object]] = [
        [p(h) for h in ("番号", "チェック項目", "はい", "いいえ", "確認日", "目標日", "回答者", "mamori の根拠と提案")]
    ]
    for row in checklist.rows:
        a = row.answer
        proposal = answer_text(row.proposed)
        evidence = _evidence_text(row) or "観測なし（手で回答） / not observed: answered by hand"
        if proposal:
            evidence += f"　提案: {proposal}" + ("（未確定）" if a is None else "")
        text = _item_text(row) + ("" if row.item.confirmed else f"　注: {row.item.note}")
        rows.append(
            [
                p(row.item.number),
                p(text),
                p("○" if a and a.answer == "yes" else ""),
                p("○" if a and a.answer == "no" else ""),
                p(_date(a.checked_on) if a else ""),
                p(_date(a.target_on) if a else ""),
                p(a.answered_by if a else "", limit=150),
                p(evidence, limit=1500),
            ]
        )
    table = Table(rows, colWidths=[w * mm for w in (12, 88, 10, 11, 19, 19, 22, 88)], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(table)
    counts = checklist.counts()
    story.append(
        p(
            f"項目 {counts['items']}、回答済み {counts['answered']}（はい {counts['yes']}、いいえ {counts['no']}）。"
            f"【文言未確認】の項目 {counts['unconfirmed_text']}: 厚生労働省の様式の文言で確認してください。"
            "mamori の提案は人が確認するまで確定しません。 / Proposals are not final until a person confirms them.",
            heading,
            600,
        )
    )
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=10 * mm,
        bottomMargin=10 * mm,
        title="mamori checklist",
        author="mamori",
    )
    doc.build(story)
    return out.getvalue()
