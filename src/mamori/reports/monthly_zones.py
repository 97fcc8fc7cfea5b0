"""The monthly report's section on zones: zone violations, lateral movement and new paths (issue 11).

Counts of the three rules' alerts, the lateral movement seen (or that none was), the pairs of segments with the most
forbidden and dangerous-port flows, the paths first seen in the month, the zone map and the dangerous-port matrix
of the month. Every text goes through ``mamori.escape.pdf_markup`` (``monthly._text``): segment names come from the
site file, summaries from packets and logs.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from mamori.model import Severity
from mamori.reports import zone_map
from mamori.reports.monthly import MonthData, local_time
from mamori.reports.names import STATUS_NAMES, rule_label
from mamori.rules import render
from mamori.rules.zones import ZONE_NAMES

__all__ = ["LATERAL", "LATERAL_WINDOWS", "ZONE_RULES", "zone_section"]

LATERAL = "lateral-movement"
LATERAL_WINDOWS = "lateral-movement-windows"  # the same movement seen in Windows logons
ZONE_RULES = ("zone-policy", LATERAL, LATERAL_WINDOWS, "new-path")
_TOP_PAIRS = 10
_LISTED = 30
_MATRIX_MAX = 9  # segments in the printed matrix (more do not fit the page's width): those with flows first


def zone_section(
    data: MonthData,
    table: Callable[[Sequence[Sequence[object]], Sequence[float]], Any],
    heading: Any,
    body: Any,
    small: Any,
) -> list[object]:
    """The flowables of section 5 (``table`` escapes its cells; the other texts here are mamori's own)."""
    from reportlab.platypus import Paragraph, Spacer

    zone = data.start.tzinfo
    story: list[object] = [
        Paragraph("5. ゾーン違反・水平展開・新しい経路 / Zone violations, lateral movement, new paths", heading)
    ]
    by_rule = {rule: [a for a in data.alerts if a.rule == rule] for rule in ZONE_RULES}
    rows: list[list[object]] = [["ルール / Rule", "件数 / Alerts", "うち高・緊急 / High or critical", "未対応 / Open"]]
    for rule, alerts in by_rule.items():
        serious = sum(1 for a in alerts if a.severity >= Severity.HIGH)
        still_open = sum(1 for a in alerts if data.status.get(a.uid) == "open")
        rows.append([rule_label(rule), len(alerts), serious, still_open])
    story.append(table(rows, [80, 25, 40, 25]))

    story.append(Paragraph("水平展開 / Lateral movement", body))
    lateral = sorted(by_rule[LATERAL] + by_rule[LATERAL_WINDOWS], key=lambda a: a.first_seen)
    if lateral:
        listed = [["日時 / First seen", "内容 / Summary", "状態 / Status"]]
        listed += [
            [
                local_time(a.first_seen, zone),
                render.summary(a, "ja"),
                STATUS_NAMES.get(data.status.get(a.uid, ""), ("",))[0],
            ]
            for a in lateral[:_LISTED]
        ]
        story.append(table(listed, [28, 126, 26]))
    else:
        story.append(
            Paragraph("この月、水平展開は検知されませんでした / No lateral movement was seen this month.", small)
        )

    view = data.zones
    if view is None:
        story.append(
            Paragraph(
                "セグメントが設定されていないため、セグメント間の通信は数えていません / No segments are defined: "
                "flows between segments are not counted.",
                small,
            )
        )
        return story
    story.append(Spacer(1, 2))
    story.append(Paragraph("通信の多いセグメントの組 / Top pairs of segments (禁止の多い順 / forbidden first)", body))
    if view.arrows:
        pairs: list[list[object]] = [
            [
                "送信元 / From",
                "宛先 / To",
                "接続数 / Connections",
                "禁止 / Forbidden",
                "遮断 / Blocked",
                "ポート / Ports",
            ]
        ]
        for a in view.arrows[:_TOP_PAIRS]:
            pairs.append(
                [
                    _place(view, a.src),
                    _place(view, a.dst),
                    a.count,
                    a.forbidden,
                    a.blocked,
                    ", ".join(f"{view.port_text(p, n, 'ja')} ×{c}" for p, n, c in a.ports[:6]),
                ]
            )
        story.append(table(pairs, [34, 34, 20, 18, 18, 58]))
    else:
        story.append(
            Paragraph("この月、セグメント間の通信はありませんでした / No flows between segments this month.", small)
        )

    story.append(Paragraph("新しい経路 / New paths (この月に初めて見えた経路 / first seen this month)", body))
    new_rows: list[list[object]] = [["送信元 / From", "宛先 / To", "ポート / Ports", "初回 / First seen"]]
    new_rows += [  # type: ignore[arg-type]  # rows of str are rows of object
        [
            _place(view, a.src),
            _place(view, a.dst),
            ", ".join(view.port_text(p, n, "ja") for p, n, _ in a.ports[:6]),
            _first_new(data, a.src, a.dst),
        ]
        for a in view.arrows
        if a.new
    ][:_LISTED]
    if len(new_rows) > 1:
        story.append(table(new_rows, [40, 40, 70, 30]))
    else:
        story.append(Paragraph("新しい経路はありませんでした / No new paths.", small))

    story.extend(_map(view, small))
    story.extend(_matrix(view, table, body, small))
    return story


def _place(view: zone_map.ZoneView, name: str) -> str:
    zone = ZONE_NAMES[view.zones[name]][0]
    return f"{zone_map.segment_label(name, 'ja')}（{zone}）"


def _first_new(data: MonthData, src: str, dst: str) -> str:
    """When the new-path or zone-policy alert of this pair first saw the new path, if there is one."""
    for a in data.alerts:
        d = a.details
        same = (getattr(d, "src_segment", None) or "") == src and (getattr(d, "dst_segment", None) or "") == dst
        if same and (a.rule == "new-path" or getattr(d, "new_path", False)):
            return local_time(a.first_seen, data.start.tzinfo)
    return ""


def _map(view: zone_map.ZoneView, small: Any) -> list[object]:
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, Paragraph

    drawing = zone_map.layout(view, "ja")
    png = zone_map.to_png(drawing, scale=2.0)
    width = 182 * mm
    height = width * drawing.height / drawing.width
    return [
        Paragraph("ゾーンマップ / Zone map", small),
        Image(io.BytesIO(png), width=width, height=height),
    ]


def _matrix(
    view: zone_map.ZoneView,
    table: Callable[[Sequence[Sequence[object]], Sequence[float]], Any],
    body: Any,
    small: Any,
) -> list[object]:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph

    out: list[object] = [
        Paragraph("要注意ポートの通信（行: 接続元、列: 接続先）/ Dangerous-port flows (rows: from, columns: to)", body)
    ]
    if not view.matrix.cells:
        out.append(Paragraph("この月、セグメント間で要注意ポートへの接続はありませんでした / None this month.", small))
        return out
    used = {n for pair in view.matrix.cells for n in pair}
    names = [s for s in view.segments if s in used][:_MATRIX_MAX]
    if len(used) > _MATRIX_MAX:
        out.append(
            Paragraph(
                f"セグメントが多いため {_MATRIX_MAX} 個まで表示しています（全体はダッシュボードの CSV で）/ "
                f"The first {_MATRIX_MAX} segments with flows; the dashboard's CSV has them all.",
                small,
            )
        )
    rows: list[list[object]] = [["接続元 \\ 接続先", *(zone_map.segment_label(n, "ja") for n in names)]]
    forbidden: list[tuple[int, int]] = []
    for i, src in enumerate(names):
        row: list[object] = [zone_map.segment_label(src, "ja")]
        for j, dst in enumerate(names):
            cell = view.matrix.cell(src, dst)
            if cell is None:
                row.append("–" if src == dst else "")
                continue
            ports = ", ".join(cell.port_texts(view, "ja")[:4])
            mark = "【禁止】" if cell.forbidden else ""
            row.append(f"{mark}{cell.count} 件: {ports}")
            if cell.forbidden:
                forbidden.append((j + 1, i + 1))
        rows.append(row)
    width = 182 / (len(names) + 1)
    t = table(rows, [width] * (len(names) + 1))
    t.setStyle([("BACKGROUND", cell, cell, colors.HexColor("#fdecea")) for cell in forbidden])
    out.append(t)
    out.append(
        Paragraph("【禁止】: ゾーンポリシーで禁止された通信を含む / includes flows the zone policy forbids.", small)
    )
    return out
