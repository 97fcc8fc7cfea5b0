"""The monthly report: a PDF to print for the director or an on-site inspection (立入検査).

What happened in the month (alerts by rule and severity, each high/critical one with how it was handled), the
terminals registered or retired, and how long the sensor was running. Japanese text needs a CJK font with TrueType
outlines, embedded in the PDF: IPAex Gothic ships inside this package (fonts/ipaexg.ttf, unmodified, with its licence,
the IPA Font License v1.0, which allows redistribution), so no system font is needed. Debian's copies are the
fall-back should the package's file be missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mamori import escape
from mamori.errors import MamoriError
from mamori.model import Alert, Severity, Site
from mamori.reports.names import ACTION_NAMES, rule_label
from mamori.reports.zone_map import ZoneView
from mamori.rules import render
from mamori.storage import BlockTable, Ledger, LedgerEntry, Store

if TYPE_CHECKING:
    from mamori.blocking import BlockRecord

__all__ = [
    "BUNDLED_FONT",
    "FONT_CANDIDATES",
    "FontMissing",
    "MonthData",
    "collect_month",
    "local_time",
    "render_pdf",
]

BUNDLED_FONT = Path(__file__).resolve().parent / "fonts" / "ipaexg.ttf"
FONT_CANDIDATES = (
    BUNDLED_FONT,
    Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"),
    Path("/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)
_STATUS_JA = {"open": "未対応", "acknowledged": "確認済み", "resolved": "対応済み", "false_positive": "誤検知"}
_SEVERITY_JA = {"critical": "緊急", "high": "高", "medium": "中", "low": "低", "info": "情報"}
_CELL_LIMIT = 500  # characters of one table cell: a cell taller than a page cannot be laid out at all


@dataclass
class MonthData:
    site: str
    year: int
    month: int
    start: dt.datetime
    end: dt.datetime
    alerts: list[Alert] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)  # alert uid -> status
    handling: dict[str, list[tuple[dt.datetime, str, str, str]]] = field(default_factory=dict)
    added: list[LedgerEntry] = field(default_factory=list)
    retired: list[LedgerEntry] = field(default_factory=list)
    uptime_hours: dict[str, int] = field(default_factory=dict)
    now: dt.datetime | None = None  # when the report was made: a month under way counts only its hours so far
    zones: ZoneView | None = None  # flows between segments in the month (None: the site has no segments)
    blocks: list[BlockRecord] = field(default_factory=list)  # blocks made or released in the month
    central_site: str | None = None  # one site's report on the central server: what is only on its sensor is said

    @property
    def hours(self) -> int:
        """The hours of the month that have begun (all of them for a past month, none for a future one)."""
        until = self.end if self.now is None else max(self.start, min(self.end, self.now))
        return math.ceil((until - self.start).total_seconds() / 3600)


def collect_month(
    store: Store,
    year: int,
    month: int,
    *,
    site: str = "",
    zone: dt.tzinfo | None = None,
    now: dt.datetime | None = None,
    site_model: Site | None = None,
    central_site: str | None = None,
) -> MonthData:
    """Everything the report shows, read through the store (``now``: the clock, for the hours the month has had;
    ``site_model``: the segments, for the flows between them). ``central_site``: on the central server, that
    site's alerts only; its ledger changes, sensor hours, blocks and flows are on its sensor (said in the report)."""
    from mamori.storage.models import AlertHandling, AlertRecord, SensorHour

    zone = zone or dt.datetime.now().astimezone().tzinfo
    start = dt.datetime(year, month, 1, tzinfo=zone)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    now = now or dt.datetime.now(dt.UTC)
    data = MonthData(site=site, year=year, month=month, start=start, end=end, now=now, central_site=central_site)
    records = AlertRecord.objects.using(store.alias).filter(first_seen__lt=end, last_seen__gte=start)
    if central_site is not None:
        records = records.filter(site=central_site)
    for r in records.order_by("first_seen", "id").iterator():
        data.alerts.append(Store._to_alert(r))
        data.status[r.uid] = r.status
    uids = [a.uid for a in data.alerts if a.severity >= Severity.HIGH]
    for start_i in range(0, len(uids), 500):
        for h in AlertHandling.objects.using(store.alias).filter(alert_uid__in=uids[start_i : start_i + 500]):
            data.handling.setdefault(h.alert_uid, []).append((h.ts, h.user, h.action, h.comment))
    if central_site is not None:
        return data
    for entry in Ledger(store).terminals(include_retired=True):
        if entry.created_at is not None and start.timestamp() <= entry.created_at < end.timestamp():
            data.added.append(entry)
        if entry.retired_at is not None and start.timestamp() <= entry.retired_at < end.timestamp():
            data.retired.append(entry)
    hours = SensorHour.objects.using(store.alias).filter(hour__gte=start, hour__lt=end)
    data.uptime_hours = dict(Counter(h.name for h in hours))
    data.blocks = BlockTable(store).between(start.timestamp(), end.timestamp())
    if site_model is not None and site_model.segments:
        from mamori.reports.zone_map import collect_between

        label = (f"{year}年{month}月", f"{year}-{month:02d}")
        data.zones = collect_between(store, site_model, start.timestamp(), end.timestamp(), label)
    return data


class FontMissing(MamoriError):
    """None of the Japanese fonts the report can embed is there."""

    def __init__(self, candidates: Sequence[Path]) -> None:
        self.candidates = tuple(candidates)
        super().__init__(
            "月次報告に使う日本語フォントが見つかりません。mamori を入れ直してください"
            "（pip install --force-reinstall mamori：フォントは mamori に同梱されています）。"
            "または apt-get install fonts-ipaexfont-gothic で入れてください。"
            " / No Japanese font for the monthly report: reinstall mamori (it ships the font), or install Debian's "
            "fonts-ipaexfont-gothic. Looked for: " + ", ".join(str(p) for p in self.candidates)
        )


def _font(candidates: Sequence[Path]) -> str:
    """The reportlab name of the first font of ``candidates`` that exists (registered once per file)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for path in candidates:
        if path.is_file():
            name = "MamoriJP-" + hashlib.sha256(str(path).encode()).hexdigest()[:8]
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, str(path)))
            return name
    raise FontMissing(candidates)


def _text(value: object, limit: int = _CELL_LIMIT) -> str:
    """Text for a reportlab Paragraph (read as markup): escaped at the edge (``mamori.escape.pdf_markup``)."""
    return escape.pdf_markup(value, limit)


def local_time(ts: float | dt.datetime, zone: dt.tzinfo | None = None) -> str:
    """In the report's zone (the month's), not the machine's."""
    value = ts if isinstance(ts, dt.datetime) else dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


_BLOCK_STATES = {
    "active": "遮断中 / in force",
    "dry-run": "試行のみ / dry run",
    "failed": "失敗 / failed",
    "released": "解除済み / released",
}
_BLOCK_METHODS = {"snmp-port": "スイッチのポート / switch port", "arp-isolate": "ARP 隔離 / ARP isolation"}


def _block_section(data: MonthData, table: Any, heading: Any, body: Any) -> list[object]:
    """Section 6: the blocks made or released in the month (遮断と解除), each with where and how it stands."""
    from reportlab.platypus import Paragraph

    zone = data.start.tzinfo
    story: list[object] = [Paragraph("6. 遮断と解除 / Blocks and releases", heading)]
    if not data.blocks:
        story.append(Paragraph("この月の遮断はありません / No device was blocked this month.", body))
        return story
    rows: list[list[object]] = [
        ["遮断 / Blocked", "方法 / Method", "機器 / Device", "場所 / Where", "状態 / State", "解除 / Released"]
    ]
    for b in data.blocks[:300]:
        where = " ".join(part for part in (b.place, b.port_name, b.port_descr) if part)
        released = f"{local_time(b.released_at, zone)} {b.released_by}" if b.released_at is not None else ""
        rows.append(
            [
                local_time(b.created_at, zone),
                _BLOCK_METHODS.get(b.method, b.method),
                f"{b.mac} {b.ip or ''}",
                where,
                _BLOCK_STATES.get(b.state, b.state),
                released,
            ]
        )
    story.append(table(rows, [26, 28, 36, 44, 20, 28]))
    return story


def render_pdf(  # noqa: PLR0915 - one page flow
    data: MonthData, *, generated: dt.datetime | None = None, fonts: Sequence[Path] = FONT_CANDIDATES
) -> bytes:
    """The report as PDF bytes (A4, Japanese with English headings), in the first font of ``fonts`` found.

    Raises :class:`FontMissing` when there is none."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    font = _font(fonts)
    zone = data.start.tzinfo
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, spaceAfter=6)
    heading = ParagraphStyle("heading", fontName=font, fontSize=12, leading=17, spaceBefore=10, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13)
    small = ParagraphStyle("small", fontName=font, fontSize=7.5, leading=10)

    def table(rows: Sequence[Sequence[object]], widths: Sequence[float]) -> Table:
        cells = [[Paragraph(_text(c), small) for c in row] for row in rows]
        t = Table(cells, colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    story: list[object] = []
    generated = generated or dt.datetime.now().astimezone()
    story.append(Paragraph(f"{_text(data.site, 200)} セキュリティ監視 月次報告 / Monthly security report", title))
    story.append(
        Paragraph(
            f"対象期間 / Period: {data.year}年{data.month}月 "
            f"({local_time(data.start, zone)} – {local_time(data.end, zone)})　"
            f"作成 / Generated: {generated:%Y-%m-%d %H:%M}",
            body,
        )
    )

    story.append(Paragraph("1. 概要 / Summary", heading))
    by_sev = Counter(a.severity for a in data.alerts)
    by_status = Counter(data.status.values())
    story.append(
        Paragraph(
            f"検知したアラート / Alerts: {len(data.alerts)} 件 （"
            + "、".join(f"{_SEVERITY_JA[s.label]} {by_sev.get(s, 0)}" for s in sorted(Severity, reverse=True))
            + "）。対応状況 / Handling: "
            + "、".join(f"{_STATUS_JA[k]} {by_status.get(k, 0)}" for k in _STATUS_JA),
            body,
        )
    )
    by_rule = Counter(a.rule for a in data.alerts)
    if by_rule:
        story.append(Spacer(1, 3 * mm))
        rows_by_rule = [[rule_label(rule), n] for rule, n in sorted(by_rule.items())]
        story.append(table([["ルール / Rule", "件数 / Alerts"], *rows_by_rule], [90, 30]))

    story.append(Paragraph("2. 重大なアラートと対応 / High and critical alerts and their handling", heading))
    serious = [a for a in data.alerts if a.severity >= Severity.HIGH]
    if serious:
        rows: list[list[object]] = [
            ["日時 / First seen", "重大度", "内容 / Summary", "状態 / Status", "対応記録 / Handling"]
        ]
        for a in serious[:300]:
            notes = "; ".join(
                f"{local_time(ts, zone)} {user} {ACTION_NAMES.get(action, (action,))[0]} {comment}"
                for ts, user, action, comment in data.handling.get(a.uid, [])
            )
            rows.append(
                [
                    local_time(a.first_seen, zone),
                    _SEVERITY_JA[a.severity.label],
                    render.summary(a, "ja"),
                    _STATUS_JA.get(data.status.get(a.uid, ""), ""),
                    notes,
                ]
            )
        story.append(table(rows, [26, 13, 75, 16, 50]))
        if len(serious) > 300:
            story.append(
                Paragraph(f"（ほか {len(serious) - 300} 件 / {len(serious) - 300} more: CSV で出力できます）", small)
            )
    else:
        story.append(Paragraph("ありません / None.", body))

    if data.central_site is not None:
        story.extend(_on_sensor(data.central_site, heading, body))
        return _build(data, story)
    story.append(Paragraph("3. 端末台帳の変更 / Terminal ledger changes", heading))
    changes = [["変更 / Change", "システム / System", "端末名 / Name", "MAC", "IP"]]
    changes += [["登録 / added", e.system, e.name, e.mac, e.ip or ""] for e in data.added]
    changes += [["廃止 / retired", e.system, e.name, e.mac, e.ip or ""] for e in data.retired]
    if len(changes) > 1:
        story.append(table(changes, [28, 40, 45, 35, 32]))
    else:
        story.append(Paragraph("変更はありません / No changes.", body))

    story.append(Paragraph("4. センサーの稼働 / Sensor uptime", heading))
    if data.uptime_hours:
        rows = [["センサー / Source", "稼働時間 / Hours up", "稼働率 / Uptime"]]
        for name, hours in sorted(data.uptime_hours.items()):
            rows.append([name, f"{hours} / {data.hours}", f"{100.0 * hours / max(1, data.hours):.1f} %"])
        story.append(table(rows, [80, 45, 35]))
        if data.hours < (data.end - data.start).total_seconds() / 3600:
            story.append(
                Paragraph(
                    f"この月は作成時点までの {data.hours} 時間で数えています / "
                    f"Counted over the {data.hours} hours of the month so far.",
                    small,
                )
            )
    else:
        story.append(Paragraph("この月の稼働記録はありません / No sensor ran this month.", body))

    from mamori.reports.monthly_zones import zone_section

    story.extend(zone_section(data, table, heading, body, small))
    story.extend(_block_section(data, table, heading, body))
    return _build(data, story)


def _build(data: MonthData, story: list[object]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=f"mamori {data.year}-{data.month:02d}",
        author="mamori",
    )
    doc.build(story)
    return out.getvalue()


def _on_sensor(site: str, heading: Any, body: Any) -> list[object]:
    """One site's report on the central server: what only its sensor keeps, said rather than left out."""
    from reportlab.platypus import Paragraph

    name = _text(site, 200)
    return [
        Paragraph("3. センサーにだけある記録 / Kept only on the sensor", heading),
        Paragraph(
            f"端末台帳の変更、センサーの稼働時間、ゾーン間の通信、遮断の記録、ログの証跡アーカイブの検証は、サイト "
            f"{name} のセンサーにあり、中央サーバにはありません。センサーの月次報告で確認してください。"
            f" / The terminal ledger's changes, the sensor's uptime, the flows between zones, the blocks and the "
            f"verification of the evidence archive are kept on the sensor of site {name}, not on the central "
            "server: see that sensor's monthly report.",
            body,
        ),
    ]
