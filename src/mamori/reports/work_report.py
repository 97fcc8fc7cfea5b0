"""The work report (作業報告) of remote maintenance, and the month's list of all remote access.

Per work plan: its windows in the month, the sessions compared with it (when, from where, which accounts, which
targets and ports) and what differed from the plan; then the sessions no plan covers. The PDF has a place for the
person in charge to confirm it (作業報告の確認), as the Ministry's guideline (system operations 10④) asks that the
vendor's work be reported to the person in charge when it ends. The list of all remote access is the month's
audit record ("VPN 装置へのアクセス記録を定期的に分析"), as CSV or XLSX (spreadsheet formulas escaped).

Every text from logs and packets (vendor, account and computer names) is hostile: the PDF escapes it with
``mamori.escape.pdf_markup``, the spreadsheets with ``mamori.escape.spreadsheet`` (in ``reports.tables``).
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mamori import escape
from mamori.detection.work_plans import windows_between
from mamori.model import WEEKDAYS, MaintenanceSession, Site, WorkPlan
from mamori.reports.monthly import FONT_CANDIDATES, _font
from mamori.rules.maintenance import difference_text
from mamori.storage import SessionTable, Store

__all__ = ["PlanReport", "WorkReport", "access_rows", "collect_work", "plan_text", "render_work_pdf"]

_WEEKDAYS_JA = "月火水木金土日"


@dataclass
class PlanReport:
    vendor: str
    plan: WorkPlan | None  # None: the sessions no plan covers
    windows: list[tuple[float, float]] = field(default_factory=list)
    sessions: list[MaintenanceSession] = field(default_factory=list)

    @property
    def differed(self) -> int:
        return sum(1 for s in self.sessions if s.differences)


@dataclass
class WorkReport:
    site: str
    year: int
    month: int
    zone: str
    since: float
    until: float
    plans: list[PlanReport] = field(default_factory=list)

    @property
    def sessions(self) -> list[MaintenanceSession]:
        return sorted((s for p in self.plans for s in p.sessions), key=lambda s: s.start)


def _month(year: int, month: int, zone: str) -> tuple[float, float]:
    tz = zoneinfo.ZoneInfo(zone)
    start = dt.datetime(year, month, 1, tzinfo=tz)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start.timestamp(), end.timestamp()


def collect_work(store: Store, site: Site, year: int, month: int) -> WorkReport:
    """The month (in the site's time zone) of every vendor's plans and sessions."""
    since, until = _month(year, month, site.time_zone)
    report = WorkReport(site.name, year, month, site.time_zone, since, until)
    by_plan: dict[str, PlanReport] = {}
    for vendor in site.vendors:
        for plan in vendor.work_plans:
            windows = list(windows_between(plan, since, until, site.time_zone))
            entry = PlanReport(vendor.name, plan, windows)
            by_plan[plan.ident] = entry
            if windows:
                report.plans.append(entry)
    unplanned: dict[str, PlanReport] = {}
    for session in SessionTable(store).between(since, until):
        found = by_plan.get(session.plan) if session.plan else None
        if found is None:
            found = unplanned.setdefault(session.vendor, PlanReport(session.vendor, None))
        elif found not in report.plans:
            report.plans.append(found)  # a plan whose window began last month
        found.sessions.append(session)
    report.plans.extend(unplanned[name] for name in sorted(unplanned))
    return report


def local_time(ts: float, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return dt.datetime.fromtimestamp(ts, zoneinfo.ZoneInfo(zone)).strftime(fmt)


def plan_text(plan: WorkPlan | None, zone: str, lang: str) -> str:
    """When the plan allows work, in words."""
    ja = lang == "ja"
    if plan is None:
        return "どの作業計画にも入らないセッション" if ja else "sessions no work plan covers"
    if plan.start is not None and plan.end is not None:
        same_day = local_time(plan.start, zone, "%Y%m%d") == local_time(plan.end, zone, "%Y%m%d")
        return (
            f"{local_time(plan.start, zone)} – {local_time(plan.end, zone, '%H:%M' if same_day else '%Y-%m-%d %H:%M')}"
        )
    hours = plan.duration / 3600
    length = f"{hours:g} 時間" if ja else f"{hours:g} h"
    if plan.every == "day":
        return f"毎日 {plan.time} から {length}" if ja else f"every day at {plan.time} for {length}"
    if plan.every == "week" and plan.weekday is not None:
        day = _WEEKDAYS_JA[plan.weekday] + "曜日" if ja else WEEKDAYS[plan.weekday].capitalize()
        return f"毎週{day} {plan.time} から {length}" if ja else f"every {day} at {plan.time} for {length}"
    return (
        f"毎月 {plan.day} 日 {plan.time} から {length}"
        if ja
        else f"monthly on day {plan.day} at {plan.time} for {length}"
    )


def differences_text(session: MaintenanceSession, lang: str) -> str:
    if not session.differences:
        return "計画どおり" if lang == "ja" else "as planned"
    words = [difference_text(code, lang) for code in session.differences]
    off = [item.partition(":")[2] for item in session.off_plan]
    text = ("、" if lang == "ja" else "; ").join(words)
    return f"{text}（{', '.join(off)}）" if off and lang == "ja" else f"{text} ({', '.join(off)})" if off else text


ACCESS_HEADER = {
    "ja": [
        "開始",
        "終了",
        "業者",
        "接続元",
        "アカウント",
        "接続先",
        "ポート",
        "証拠",
        "作業計画",
        "チケット",
        "計画との違い",
        "接続数",
    ],
    "en": [
        "Start",
        "End",
        "Vendor",
        "Source",
        "Accounts",
        "Targets",
        "Ports",
        "Evidence",
        "Work plan",
        "Ticket",
        "Differences from the plan",
        "Connections",
    ],
}


def access_rows(report: WorkReport, lang: str) -> Iterator[list[object]]:
    """The month's remote access, one row per session (for CSV/XLSX; escaped by ``reports.tables``)."""
    for s in report.sessions:
        yield [
            local_time(s.start, report.zone, "%Y-%m-%d %H:%M:%S"),
            local_time(s.end, report.zone, "%Y-%m-%d %H:%M:%S"),
            s.vendor or ("不明" if lang == "ja" else "unknown"),
            s.source,
            " ".join(s.accounts),
            " ".join(s.targets),
            " ".join(str(p) for p in s.ports),
            " ".join(s.via),
            s.plan,
            s.ticket,
            differences_text(s, lang),
            s.connections,
        ]


def render_work_pdf(  # noqa: PLR0915 - one page flow
    report: WorkReport, *, generated: dt.datetime | None = None, fonts: Sequence[Path] = FONT_CANDIDATES
) -> bytes:
    """The work report as PDF (A4, Japanese with English headings), with the person in charge's confirmation."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _font(fonts)
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, spaceAfter=6)
    heading = ParagraphStyle("heading", fontName=font, fontSize=11, leading=16, spaceBefore=10, spaceAfter=3)
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13)
    small = ParagraphStyle("small", fontName=font, fontSize=7.5, leading=10)

    def text(value: object, limit: int = 500) -> str:
        return escape.pdf_markup(value, limit)

    def table(rows: Sequence[Sequence[object]], widths: Sequence[float], header: bool = True) -> Table:
        cells = [[Paragraph(text(c), small) for c in row] for row in rows]
        t = Table(cells, colWidths=[w * mm for w in widths], repeatRows=1 if header else 0)
        style = [("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")))
        t.setStyle(TableStyle(style))
        return t

    zone = report.zone
    generated = generated or dt.datetime.now(zoneinfo.ZoneInfo(zone))
    story: list[object] = [
        Paragraph(
            f"{text(report.site or 'mamori', 200)} リモートメンテナンス作業報告 / Remote maintenance work report",
            title,
        ),
        Paragraph(
            f"{report.year} 年 {report.month} 月（{text(zone)}） / {report.year}-{report.month:02d} ({text(zone)})。"
            f"作成 / made {generated.strftime('%Y-%m-%d %H:%M')}",
            body,
        ),
    ]
    total = len(report.sessions)
    differed = sum(1 for s in report.sessions if s.differences)
    story.append(
        Paragraph(
            f"セッション {total} 件、うち作業計画と違うもの {differed} 件 / {total} sessions, {differed} differing "
            "from their work plan",
            body,
        )
    )
    for n, entry in enumerate(report.plans, start=1):
        plan = entry.plan
        head = f"{n}. {text(entry.vendor or '不明な接続元 / unknown', 200)} — "
        head += text(plan_text(plan, zone, "ja")) + " / " + text(plan_text(plan, zone, "en"))
        story.append(Paragraph(head, heading))
        if plan is not None:
            facts = [
                ["チケット / Ticket", plan.ticket or "-"],
                ["接続先 / Targets", " ".join(plan.targets) or "（業者の保守対象 / the vendor's devices）"],
                ["ポート / Ports", " ".join(str(p) for p in plan.ports) or "（すべて / any）"],
                [
                    "この月の時間帯 / Windows this month",
                    ", ".join(f"{local_time(a, zone)}–{local_time(b, zone, '%H:%M')}" for a, b in entry.windows[:12])
                    + (
                        f" ほか {len(entry.windows) - 12} / +{len(entry.windows) - 12}"
                        if len(entry.windows) > 12
                        else ""
                    ),
                ],
            ]
            story.append(table(facts, (45, 130), header=False))
            story.append(Spacer(1, 2 * mm))
        if entry.sessions:
            rows: list[list[object]] = [
                [
                    "時刻 / Time",
                    "接続元 / Source",
                    "アカウント / Accounts",
                    "接続先・ポート / Targets, ports",
                    "計画との違い / Differences",
                ]
            ]
            for s in entry.sessions[:300]:
                rows.append(
                    [
                        f"{local_time(s.start, zone)}–{local_time(s.end, zone, '%H:%M')}",
                        s.source,
                        " ".join(s.accounts) or "-",
                        " ".join(s.targets) + (" / " + " ".join(str(p) for p in s.ports) if s.ports else ""),
                        differences_text(s, "ja") + " / " + differences_text(s, "en"),
                    ]
                )
            story.append(table(rows, (30, 25, 30, 40, 50)))
        else:
            story.append(Paragraph("接続はありませんでした / No session.", body))
    if not report.plans:
        story.append(Paragraph("この月の作業計画と接続はありません / No work plan or session this month.", body))
    story.append(Spacer(1, 8 * mm))
    story.append(Paragraph("作業報告の確認 / Confirmation of the work report", heading))
    story.append(
        Paragraph(
            "上記の作業が作業計画と照合され、違いについて業者に確認したことを確認しました。 / I confirm that the work "
            "above was compared with the work plans and that the differences were checked with the vendors.",
            body,
        )
    )
    story.append(Spacer(1, 3 * mm))
    sign = [
        ["確認日 / Date", "", "担当者 / Person in charge", ""],
        ["所属 / Department", "", "署名・印 / Signature", ""],
    ]
    t = Table(
        [[Paragraph(text(c), body) for c in row] for row in sign],
        colWidths=[32 * mm, 50 * mm, 40 * mm, 53 * mm],
        rowHeights=[14 * mm, 14 * mm],
    )
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story.append(t)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm
    )
    doc.title = f"remote maintenance {report.year}-{report.month:02d}"
    doc.build(story)
    return out.getvalue()
