"""The zone map and the dangerous-port matrix: what flowed between the segments in a period, from the hourly counts.

- **The map**: the segments as boxes grouped by zone (columns from the outside to the High Secure Zone), one arrow per
  pair of segments and direction, coloured by what the policy says (forbidden red, a path first seen in the period
  orange, allowed green; dashed when a firewall blocked every connection), labelled with the connections and the
  ports. It is laid out once (:func:`layout`, shapes in pixels) and drawn as SVG (the dashboard shows it inline and
  offers it for download) or PNG (Pillow, in the font mamori ships: the monthly PDF embeds it).
- **The matrix**: source segment × destination segment, only the dangerous ports (the Ministry's list, or the
  site's), each cell the connections and their ports, forbidden cells marked; as a table for the page, CSV/XLSX and
  the PDF.

Segment names come from the site file and may be anything: the SVG escapes every text it writes (XML), the page
uses Django's autoescape, the CSV and XLSX ``mamori.escape`` through ``reports.tables``, the PDF ``pdf_markup``.
"""

from __future__ import annotations

import dataclasses
import html
import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from mamori import escape
from mamori.model import FlowCount, Site
from mamori.rules.zones import ZONE_NAMES
from mamori.storage import FlowTable, Store

__all__ = [
    "COLUMN_ZONES",
    "PERIODS",
    "Arrow",
    "Cell",
    "MapLayout",
    "Matrix",
    "ZoneView",
    "build_view",
    "collect",
    "collect_between",
    "layout",
    "matrix_table",
    "period_bounds",
    "to_png",
    "to_svg",
]

HOUR = 3600
PERIODS: dict[str, int] = {"day": 1, "week": 7, "month": 30}  # days
PERIOD_NAMES: dict[str, tuple[str, str]] = {
    "day": ("過去 24 時間", "last 24 hours"),
    "week": ("過去 7 日間", "last 7 days"),
    "month": ("過去 30 日間", "last 30 days"),
}
COLUMN_ZONES = ("external", "dmz", "sz", "medical", "hsz")  # left to right: from the outside inwards
OUTSIDE = ("外部（どのセグメントにも属さないアドレス）", "outside (addresses in no segment)")
OUTSIDE_SHORT = ("外部のアドレス", "addresses outside")
COLOURS = {"forbidden": "#c62828", "new": "#e65100", "allowed": "#2e7d32"}
KIND_NAMES: dict[str, tuple[str, str]] = {
    "forbidden": ("ポリシー違反（禁止された通信）", "forbidden by the zone policy"),
    "new": ("新しい経路（この期間に初めて見えた）", "new path (first seen in this period)"),
    "allowed": ("許可された通信", "allowed"),
}
_PORTS_SHOWN = 3
_MATRIX_HEADER = (
    ("送信元セグメント", "Source segment"),
    ("送信元ゾーン", "Source zone"),
    ("宛先セグメント", "Target segment"),
    ("宛先ゾーン", "Target zone"),
    ("接続数", "Connections"),
    ("うち禁止", "Forbidden"),
    ("うち遮断", "Blocked"),
    ("新しい経路", "New paths"),
    ("ポート", "Ports"),
)


def period_bounds(period: str, now: float) -> tuple[float, float]:
    """[since, until) of the hourly counts for ``period`` (day, week, month) ending with the hour under way."""
    days = PERIODS[period]
    current = now - now % HOUR
    return current - (days * 24 - 1) * HOUR, current + HOUR


def _t(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "ja" else pair[1]


def segment_label(name: str, lang: str) -> str:
    return name if name else _t(OUTSIDE_SHORT, lang)


# -- what flowed -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrow:
    """Every flow from one segment to another in the period."""

    src: str
    dst: str
    count: int
    forbidden: int
    blocked: int
    new: int
    ports: tuple[tuple[str, int, int], ...]  # (protocol, port, connections), most first; port 0: other ports

    @property
    def kind(self) -> str:
        return "forbidden" if self.forbidden else "new" if self.new else "allowed"

    @property
    def all_blocked(self) -> bool:
        return self.blocked >= self.count > 0


@dataclass(frozen=True)
class Cell:
    count: int
    forbidden: int
    blocked: int
    new: int
    ports: tuple[tuple[str, int, int], ...]  # (protocol, port, connections), most first
    forbidden_ports: frozenset[tuple[str, int]] = frozenset()  # (protocol, port) the policy forbids here

    def port_texts(self, view: ZoneView, lang: str) -> list[str]:
        """ "445 SMB ×12" per port, the forbidden ones said so."""
        mark = "（禁止）" if lang == "ja" else " (forbidden)"
        return [
            f"{view.port_text(p, n, lang)} ×{c:,}{mark if (p, n) in self.forbidden_ports else ''}"
            for p, n, c in self.ports
        ]


@dataclass(frozen=True)
class Matrix:
    """Dangerous-port flows: ``segments`` in row and column order ("" for outside), ``cells`` by (source, target)."""

    segments: tuple[str, ...]
    cells: dict[tuple[str, str], Cell]

    def cell(self, src: str, dst: str) -> Cell | None:
        return self.cells.get((src, dst))


@dataclass(frozen=True)
class ZoneView:
    period: str
    since: float
    until: float
    zones: dict[str, str]  # segment name -> zone ("" -> external)
    segments: tuple[str, ...]  # every segment of the site, in map order, then "" if anything came from outside
    arrows: tuple[Arrow, ...]
    matrix: Matrix
    port_names: dict[int, str] = field(default_factory=dict)
    label: tuple[str, str] | None = None  # the period in words, when not one of PERIOD_NAMES (a calendar month)

    def port_text(self, proto: str, port: int, lang: str) -> str:
        if port == 0:
            return "その他のポート" if lang == "ja" else "other ports"
        name = self.port_names.get(port)
        text = f"{port} {name}" if name else str(port)
        return text if proto == "tcp" else f"{proto.upper()} {text}"


def _ports(counts: dict[tuple[str, int], int]) -> tuple[tuple[str, int, int], ...]:
    return tuple((p, n, c) for (p, n), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0])))


def build_view(site: Site, flows: Sequence[FlowCount], period: str, since: float, until: float) -> ZoneView:
    """The arrows and the matrix of ``flows`` (a period's totals) for ``site``."""
    zones = {s.name: s.zone for s in site.segments}
    zones[""] = "external"
    dangerous = {p.port: p.name for p in site.dangerous_ports}
    pairs: dict[tuple[str, str], list[int]] = {}
    pair_ports: dict[tuple[str, str], dict[tuple[str, int], int]] = {}
    cells: dict[tuple[str, str], list[int]] = {}
    cell_ports: dict[tuple[str, str], dict[tuple[str, int], int]] = {}
    cell_forbidden: dict[tuple[str, str], set[tuple[str, int]]] = {}
    for f in flows:
        key = (f.src_segment, f.dst_segment)
        zones.setdefault(f.src_segment, "external")  # a segment renamed or removed since: shown outside
        zones.setdefault(f.dst_segment, "external")
        for totals, ports in ((pairs, pair_ports), *(((cells, cell_ports),) if f.port in dangerous else ())):
            t = totals.setdefault(key, [0, 0, 0, 0])
            t[0] += f.connections
            t[1] += f.connections if f.forbidden else 0
            t[2] += f.blocked
            t[3] += f.new
            p = ports.setdefault(key, {})
            p[(f.proto, f.port)] = p.get((f.proto, f.port), 0) + f.connections
        if f.forbidden and f.port in dangerous:
            cell_forbidden.setdefault(key, set()).add((f.proto, f.port))
    arrows = tuple(
        Arrow(src, dst, t[0], t[1], t[2], t[3], _ports(pair_ports[(src, dst)]))
        for (src, dst), t in sorted(pairs.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
    )
    order = {z: i for i, z in enumerate(COLUMN_ZONES)}
    site_order = {s.name: i for i, s in enumerate(site.segments)}
    named = {s.name for s in site.segments} | {n for pair in pairs for n in pair}
    segments = tuple(sorted(named, key=lambda n: (n == "", order.get(zones[n], 9), site_order.get(n, 1 << 20), n)))
    matrix = Matrix(
        segments,
        {
            k: Cell(t[0], t[1], t[2], t[3], _ports(cell_ports[k]), frozenset(cell_forbidden.get(k, ())))
            for k, t in cells.items()
        },
    )
    return ZoneView(period, since, until, zones, segments, arrows, matrix, dangerous)


def collect(store: Store, site: Site, period: str, now: float) -> ZoneView:
    """The view of ``period`` (day, week, month) up to ``now``, from the store's hourly counts."""
    since, until = period_bounds(period, now)
    return build_view(site, FlowTable(store).totals(since, until), period, since, until)


def collect_between(store: Store, site: Site, since: float, until: float, label: tuple[str, str]) -> ZoneView:
    """The view of the hours that begin in [since, until) (a calendar month for the report), named ``label``."""
    view = build_view(site, FlowTable(store).totals(since, until), "month", since, until)
    return dataclasses.replace(view, label=label)


def matrix_table(view: ZoneView, lang: str) -> tuple[list[str], list[list[object]]]:
    """The matrix as a header and rows, one row per (source, target) cell with flows (for CSV and XLSX)."""
    header = [_t(h, lang) for h in _MATRIX_HEADER]
    rows: list[list[object]] = []
    for src in view.segments:
        for dst in view.segments:
            cell = view.matrix.cell(src, dst)
            if cell is None:
                continue
            rows.append(
                [
                    segment_label(src, lang),
                    _t(ZONE_NAMES[view.zones[src]], lang),
                    segment_label(dst, lang),
                    _t(ZONE_NAMES[view.zones[dst]], lang),
                    cell.count,
                    cell.forbidden,
                    cell.blocked,
                    cell.new,
                    ", ".join(cell.port_texts(view, lang)),
                ]
            )
    return header, rows


# -- the map's layout ---------------------------------------------------------------------------------------------

BOX_W, BOX_H, PAD, COL_GAP, ROW_GAP, HEAD, MARGIN, LEGEND = 190, 54, 18, 170, 64, 40, 24, 112


@dataclass(frozen=True)
class Shape:
    """One thing to draw: a box (``rect``), a text, or an arrow (``curve`` from ``points[0]`` to ``points[2]``
    bent towards ``points[1]``). Colours are #rrggbb; ``title`` is the hover text of the SVG."""

    kind: str  # rect | text | curve
    points: tuple[tuple[float, float], ...]
    fill: str = "none"
    stroke: str = "none"
    width: float = 1.0
    text: str = ""
    size: float = 13.0
    bold: bool = False
    anchor: str = "start"  # start | middle
    dashed: bool = False
    radius: float = 0.0
    title: str = ""
    data: str = ""  # what a test finds it by (data-kind / data-pair in SVG)


@dataclass(frozen=True)
class MapLayout:
    width: float
    height: float
    shapes: tuple[Shape, ...]
    lang: str
    title: str


def _fit(text: str, size: float, width: float) -> str:
    """``text`` cut with "…" to fit ``width`` pixels at ``size`` (CJK characters count as one em, others as 0.6)."""
    used = 0.0
    for i, ch in enumerate(text):
        used += size * (1.0 if ord(ch) > 0x2E80 else 0.6)
        if used > width:
            return text[: max(0, i - 1)] + "…"
    return text


def _text_width(text: str, size: float) -> float:
    return sum(size * (1.0 if ord(ch) > 0x2E80 else 0.6) for ch in text)


def _clip(
    center: tuple[float, float], towards: tuple[float, float], half_w: float, half_h: float
) -> tuple[float, float]:
    """Where the ray from a box's ``center`` towards a point leaves the box."""
    dx, dy = towards[0] - center[0], towards[1] - center[1]
    if dx == 0 and dy == 0:
        return center
    scale = min(half_w / abs(dx) if dx else math.inf, half_h / abs(dy) if dy else math.inf)
    return center[0] + dx * scale, center[1] + dy * scale


def layout(view: ZoneView, lang: str) -> MapLayout:
    """The map of ``view`` in pixels: zone columns, segment boxes, arrows with their labels, the legend."""
    ja = lang == "ja"
    columns = [z for z in COLUMN_ZONES if any(view.zones[s] == z for s in view.segments)]
    members = {z: [s for s in view.segments if view.zones[s] == z] for z in columns}
    col_w = BOX_W + 2 * PAD
    rows = max((len(m) for m in members.values()), default=1)
    body_h = HEAD + PAD + rows * BOX_H + (rows - 1) * ROW_GAP + PAD
    # room on the right for the arrows that bend out of the last column (flows within its zone)
    width = max(2 * MARGIN + len(columns) * col_w + max(0, len(columns) - 1) * COL_GAP + 130, 760)
    title = ("ゾーン間の通信 – " if ja else "Flows between zones – ") + _t(
        view.label or PERIOD_NAMES[view.period], lang
    )
    top = MARGIN + 34
    height = top + body_h + 50 + LEGEND
    shapes: list[Shape] = [Shape("text", ((MARGIN, MARGIN + 16),), fill="#1a2433", text=title, size=18, bold=True)]
    centers: dict[str, tuple[float, float]] = {}
    for i, zone in enumerate(columns):
        x = MARGIN + i * (col_w + COL_GAP)
        shapes.append(Shape("rect", ((x, top), (col_w, body_h)), fill="#f3f6fa", stroke="#9aa9bb", radius=10))
        shapes.append(
            Shape("text", ((x + col_w / 2, top + 26),), fill="#1a2433", text=_t(ZONE_NAMES[zone], lang), size=15,
                  bold=True, anchor="middle")
        )  # fmt: skip
        for j, name in enumerate(members[zone]):
            bx, by = x + PAD, top + HEAD + PAD + j * (BOX_H + ROW_GAP)
            label = segment_label(name, lang)
            shapes.append(
                Shape("rect", ((bx, by), (BOX_W, BOX_H)), fill="#ffffff", stroke="#44546a", width=1.5, radius=6,
                      title=label if name else _t(OUTSIDE, lang), data=f"segment:{name}")
            )  # fmt: skip
            shapes.append(
                Shape("text", ((bx + BOX_W / 2, by + BOX_H / 2 + 5),), fill="#1a2433", text=_fit(label, 14, BOX_W - 16),
                      size=14, anchor="middle", title=label)
            )  # fmt: skip
            centers[name] = (bx + BOX_W / 2, by + BOX_H / 2)
    labels: list[Shape] = []
    taken: list[tuple[float, ...]] = [(c[0] - BOX_W / 2, c[1] - BOX_H / 2, BOX_W, BOX_H) for c in centers.values()]
    for arrow in view.arrows:
        lines, tags = _arrow(view, arrow, centers, lang, taken)
        shapes.extend(lines)
        labels.extend(tags)
    shapes.extend(labels)  # the labels above every line
    if not view.arrows:
        shapes.append(
            Shape("text", ((width / 2, top + body_h + 30),), fill="#44546a", size=14, anchor="middle",
                  text="この期間にセグメント間の通信はありません" if ja else "No flows between segments in this period")
        )  # fmt: skip
    shapes.extend(_legend(MARGIN, top + body_h + 50, lang))
    return MapLayout(width, height, tuple(shapes), lang, title)


def _arrow(
    view: ZoneView, arrow: Arrow, centers: dict[str, tuple[float, float]], lang: str, taken: list[tuple[float, ...]]
) -> tuple[list[Shape], list[Shape]]:
    a, b = centers[arrow.src], centers[arrow.dst]
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / length, dx / length  # to the left of the direction: the two directions bend apart
    if abs(dx) > 1:
        bend = min(90.0, 30 + 0.06 * length)
        control = ((a[0] + b[0]) / 2 + nx * bend, (a[1] + b[1]) / 2 + ny * bend)
        start = _clip(a, control, BOX_W / 2 + 2, BOX_H / 2 + 2)
        end = _clip(b, control, BOX_W / 2 + 8, BOX_H / 2 + 8)  # room for the arrowhead
    else:  # within one zone's column: out of one box's side and into the other's, bending into the gap
        side = 1.0 if nx > 0 else -1.0
        start = (a[0] + side * (BOX_W / 2 + 2), a[1])
        end = (b[0] + side * (BOX_W / 2 + 8), b[1])
        control = (a[0] + side * (BOX_W / 2 + 40 + 0.25 * abs(dy)), (a[1] + b[1]) / 2)
    colour = COLOURS[arrow.kind]
    ja = lang == "ja"
    ports = [view.port_text(p, n, lang) for p, n, _c in arrow.ports[:_PORTS_SHOWN]]
    if len(arrow.ports) > _PORTS_SHOWN:
        ports.append(f"他 {len(arrow.ports) - _PORTS_SHOWN}" if ja else f"+{len(arrow.ports) - _PORTS_SHOWN} more")
    count = f"{arrow.count:,} 件" if ja else f"{arrow.count:,} connection{'s' if arrow.count != 1 else ''}"
    if arrow.all_blocked:
        count += "（遮断）" if ja else " (blocked)"
    elif arrow.forbidden:
        count += "（禁止）" if ja else " (forbidden)"
    elif arrow.new:
        count += "（新）" if ja else " (new)"
    port_line = ", ".join(ports)
    width = 1.6 + min(4.0, math.log10(arrow.count + 1) * 1.4)
    src_label, dst_label = segment_label(arrow.src, lang), segment_label(arrow.dst, lang)
    title = f"{src_label} → {dst_label}: {count}; {', '.join(view.port_text(p, n, lang) for p, n, _ in arrow.ports)}"
    curve = Shape(
        "curve", (start, control, end), stroke=colour, width=width, dashed=arrow.all_blocked, title=title,
        data=f"{arrow.kind}:{arrow.src}>{arrow.dst}",
    )  # fmt: skip
    mx = 0.25 * start[0] + 0.5 * control[0] + 0.25 * end[0]
    my = 0.25 * start[1] + 0.5 * control[1] + 0.25 * end[1]
    line2 = _fit(port_line, 11, 200)
    w = max(_text_width(count, 12), _text_width(line2, 11)) + 14
    my = _free_place(mx - w / 2, my - 18, w, 36, taken) + 18
    label = [
        Shape("rect", ((mx - w / 2, my - 18), (w, 36)), fill="#ffffff", stroke=colour, radius=4, title=title),
        Shape("text", ((mx, my - 3),), fill=colour, text=count, size=12, bold=True, anchor="middle", title=title),
        Shape("text", ((mx, my + 12),), fill="#1a2433", text=line2, size=11, anchor="middle", title=title),
    ]
    return [curve], label


def _free_place(x: float, y: float, w: float, h: float, taken: list[tuple[float, ...]]) -> float:
    """A top for a label at (x, y) that overlaps no label or box placed before: moved down, then up, a step at a
    time (the first free place wins; after a few tries it stays where it is)."""

    def free(top: float) -> bool:
        return all(x + w <= a or a + c <= x or top + h <= b or b + d <= top for a, b, c, d in taken)

    for step in range(12):
        for top in (y + step * (h / 2 + 2), y - step * (h / 2 + 2)):
            if free(top):
                taken.append((x, top, w, h))
                return top
    taken.append((x, y, w, h))
    return y


def _legend(x: float, y: float, lang: str) -> list[Shape]:
    ja = lang == "ja"
    out = [
        Shape("text", ((x, y + 4),), fill="#1a2433", text="凡例" if ja else "Legend", size=13, bold=True),
    ]
    entries = [(COLOURS[k], False, _t(KIND_NAMES[k], lang)) for k in ("forbidden", "new", "allowed")]
    entries.append(
        (
            COLOURS["forbidden"],
            True,
            "破線: ファイアウォールがすべて遮断した" if ja else "dashed: a firewall blocked them all",
        )
    )
    for i, (colour, dashed, text) in enumerate(entries):
        row, col = divmod(i, 2)
        ex, ey = x + col * 380, y + 26 + row * 26
        out.append(Shape("curve", ((ex, ey), (ex + 22, ey), (ex + 44, ey)), stroke=colour, width=3, dashed=dashed))
        out.append(Shape("text", ((ex + 56, ey + 5),), fill="#1a2433", text=text, size=13))
    note = (
        "線の太さは接続数、ラベルは件数と主なポート。箱はセグメント、枠はゾーン。"
        if ja
        else "Line width: connections; labels: count and main ports. Boxes are segments, frames are zones."
    )
    out.append(Shape("text", ((x, y + 26 + 2 * 26 + 6),), fill="#44546a", text=note, size=12))
    return out


# -- drawing ------------------------------------------------------------------------------------------------------


def _x(value: object) -> str:
    """Text or an attribute value for XML: one line (no control character XML cannot carry), escaped."""
    return html.escape(escape.one_line(value), quote=True)


def to_svg(m: MapLayout, *, fit: bool = False) -> str:
    """The map as a standalone SVG document (presentation attributes only: no style, no script). ``fit``: as wide as
    the page that holds it (the dashboard), instead of its size in pixels (a file)."""
    size = 'width="100%"' if fit else f'width="{m.width:.0f}" height="{m.height:.0f}"'
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" {size} '
        f'viewBox="0 0 {m.width:.0f} {m.height:.0f}" role="img" aria-label="{_x(m.title)}" class="zone-map" '
        "font-family=\"IPAexGothic, 'IPAPGothic', 'Noto Sans CJK JP', sans-serif\">",
        f"<title>{_x(m.title)}</title>",
        "<defs>",
    ]
    for kind, colour in COLOURS.items():
        out.append(
            f'<marker id="zm-head-{kind}" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="6" markerHeight="6" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )
    out.append("</defs>")
    out.append(f'<rect x="0" y="0" width="{m.width:.0f}" height="{m.height:.0f}" fill="#ffffff"/>')
    heads = {v: k for k, v in COLOURS.items()}
    for s in m.shapes:
        title = f"<title>{_x(s.title)}</title>" if s.title else ""
        data = f' data-map="{_x(s.data)}"' if s.data else ""
        if s.kind == "rect":
            (x, y), (w, h) = s.points
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{s.radius:.0f}" fill="{s.fill}" '
                f'stroke="{s.stroke}" stroke-width="{s.width:.1f}"{data}>{title}</rect>'
            )
        elif s.kind == "text":
            ((x, y),) = s.points
            weight = ' font-weight="bold"' if s.bold else ""
            out.append(
                f'<text x="{x:.1f}" y="{y:.1f}" font-size="{s.size:.0f}" fill="{s.fill}" text-anchor="{s.anchor}"'
                f"{weight}>{title}{_x(s.text)}</text>"
            )
        else:
            (x0, y0), (cx, cy), (x1, y1) = s.points
            dash = ' stroke-dasharray="7 5"' if s.dashed else ""
            head = f' marker-end="url(#zm-head-{heads[s.stroke]})"' if s.data else ""
            out.append(
                f'<path d="M{x0:.1f},{y0:.1f} Q{cx:.1f},{cy:.1f} {x1:.1f},{y1:.1f}" fill="none" stroke="{s.stroke}" '
                f'stroke-width="{s.width:.1f}"{dash}{head}{data}>{title}</path>'
            )
    out.append("</svg>")
    return "\n".join(out)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def to_png(m: MapLayout, *, scale: float = 2.0) -> bytes:
    """The map as PNG, drawn with Pillow in the Japanese font mamori ships (the same layout as the SVG)."""
    from PIL import Image, ImageDraw, ImageFont

    from mamori.reports.monthly import FONT_CANDIDATES, FontMissing

    font_path = next((p for p in FONT_CANDIDATES if p.is_file()), None)
    if font_path is None:
        raise FontMissing(FONT_CANDIDATES)
    fonts: dict[float, ImageFont.FreeTypeFont] = {}

    def font(size: float) -> ImageFont.FreeTypeFont:
        if size not in fonts:
            fonts[size] = ImageFont.truetype(str(font_path), round(size * scale))
        return fonts[size]

    image = Image.new("RGB", (round(m.width * scale), round(m.height * scale)), "#ffffff")
    draw = ImageDraw.Draw(image)
    for s in m.shapes:
        if s.kind == "rect":
            (x, y), (w, h) = s.points
            box = (x * scale, y * scale, (x + w) * scale, (y + h) * scale)
            draw.rounded_rectangle(
                box,
                radius=s.radius * scale,
                fill=None if s.fill == "none" else s.fill,
                outline=None if s.stroke == "none" else s.stroke,
                width=max(1, round(s.width * scale)),
            )
        elif s.kind == "text":
            ((x, y),) = s.points
            f = font(s.size)
            anchor = "ms" if s.anchor == "middle" else "ls"
            draw.text((x * scale, y * scale), s.text, fill=s.fill, font=f, anchor=anchor)
        else:
            _png_curve(draw, s, scale)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _png_curve(draw: object, s: Shape, scale: float) -> None:
    (x0, y0), (cx, cy), (x1, y1) = s.points
    steps = 32
    pts = []
    for i in range(steps + 1):
        t = i / steps
        pts.append(
            (
                ((1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t * t * x1) * scale,
                ((1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t * t * y1) * scale,
            )
        )
    width = max(1, round(s.width * scale))
    line = draw.line  # type: ignore[attr-defined]
    if s.dashed:
        on, off, left, drawing = 7 * scale, 5 * scale, 7 * scale, True
        for (ax, ay), (bx, by) in itertools.pairwise(pts):
            seg = math.hypot(bx - ax, by - ay)
            pos = 0.0
            while pos < seg:
                step = min(left, seg - pos)
                if drawing:
                    f0, f1 = pos / seg, (pos + step) / seg
                    line([(ax + (bx - ax) * f0, ay + (by - ay) * f0), (ax + (bx - ax) * f1, ay + (by - ay) * f1)],
                         fill=s.stroke, width=width)  # fmt: skip
                pos += step
                left -= step
                if left <= 0:
                    drawing = not drawing
                    left = on if drawing else off
    else:
        line(pts, fill=s.stroke, width=width, joint="curve")
    if s.data:  # an arrow, not the legend's sample: a head at the end
        (ax, ay), (bx, by) = pts[-2], pts[-1]
        angle = math.atan2(by - ay, bx - ax)
        size = (7 + s.width * 1.6) * scale
        tip = (bx + math.cos(angle) * size * 0.5, by + math.sin(angle) * size * 0.5)
        left_pt = (tip[0] - size * math.cos(angle - 0.45), tip[1] - size * math.sin(angle - 0.45))
        right_pt = (tip[0] - size * math.cos(angle + 0.45), tip[1] - size * math.sin(angle + 0.45))
        draw.polygon([tip, left_pt, right_pt], fill=s.stroke)  # type: ignore[attr-defined]
