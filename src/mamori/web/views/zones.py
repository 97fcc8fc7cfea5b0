"""The zone map and the dangerous-port matrix (issue 11): what flowed between the segments in the last day, week or
month, from the hourly counts the sensors store; both downloadable for a report (SVG/PNG, CSV/XLSX)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from mamori.reports import zone_map
from mamori.reports.tables import to_csv, to_xlsx
from mamori.rules.zones import ZONE_NAMES
from mamori.web.apps import dashboard
from mamori.web.views.terminals import _download

__all__ = ["map_download", "matrix_export", "matrix_view", "zone_map_view"]


def _lang(request: HttpRequest) -> str:
    return "ja" if getattr(request, "LANGUAGE_CODE", "ja") == "ja" else "en"


def _period(request: HttpRequest) -> str:
    period = request.GET.get("period", "week")
    return period if period in zone_map.PERIODS else "week"


def _view(request: HttpRequest) -> zone_map.ZoneView:
    parts = dashboard()
    return zone_map.collect(parts.store, parts.site, _period(request), timezone.now().timestamp())


def _context(request: HttpRequest, view: zone_map.ZoneView, nav_page: str) -> dict[str, object]:
    lang = _lang(request)
    return {
        "nav": "zones",
        "page": nav_page,
        "period": view.period,
        "periods": [(key, zone_map.PERIOD_NAMES[key][0 if lang == "ja" else 1]) for key in zone_map.PERIODS],
        "since": timezone.localtime(dt.datetime.fromtimestamp(view.since, tz=dt.UTC)),
        "has_segments": bool(dashboard().site.segments),
    }


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M")


def zone_map_view(request: HttpRequest) -> HttpResponse:
    view = _view(request)
    lang = _lang(request)
    drawing = zone_map.layout(view, lang)
    totals = {
        kind: sum(1 for a in view.arrows if a.kind == kind) for kind in ("forbidden", "new", "allowed")
    }  # arrows of each colour
    return render(
        request,
        "mamori/zone_map.html",
        {
            **_context(request, view, "map"),
            # Built by zone_map.to_svg, which escapes every text and attribute it writes (segment names included).
            "svg": mark_safe(zone_map.to_svg(drawing, fit=True)),  # noqa: S308 - escaped by to_svg, tested with hostile names
            "arrows": [_arrow_row(view, a, lang) for a in view.arrows],
            "totals": totals,
        },
    )


@dataclass(frozen=True)
class _ArrowRow:
    src: str
    dst: str
    src_zone: str
    dst_zone: str
    kind: str
    count: int
    forbidden: int
    blocked: int
    new: int
    ports: str


def _arrow_row(view: zone_map.ZoneView, a: zone_map.Arrow, lang: str) -> _ArrowRow:
    def zone(name: str) -> str:
        return ZONE_NAMES[view.zones[name]][0 if lang == "ja" else 1]

    return _ArrowRow(
        zone_map.segment_label(a.src, lang),
        zone_map.segment_label(a.dst, lang),
        zone(a.src),
        zone(a.dst),
        a.kind,
        a.count,
        a.forbidden,
        a.blocked,
        a.new,
        ", ".join(f"{view.port_text(p, n, lang)} ×{c:,}" for p, n, c in a.ports),
    )


def map_download(request: HttpRequest, fmt: str) -> HttpResponse:
    """The map as an SVG or PNG file, in the reader's language."""
    view = _view(request)
    drawing = zone_map.layout(view, _lang(request))
    name = f"mamori-zone-map-{view.period}-{_stamp()}"
    if fmt == "png":
        return _download(zone_map.to_png(drawing), f"{name}.png", "image/png")
    return _download(zone_map.to_svg(drawing).encode(), f"{name}.svg", "image/svg+xml")


@dataclass(frozen=True)
class _MatrixCell:
    count: int
    forbidden: int
    blocked: int
    new: int
    ports: list[str]


def matrix_view(request: HttpRequest) -> HttpResponse:
    view = _view(request)
    lang = _lang(request)
    heads = [
        (zone_map.segment_label(s, lang), ZONE_NAMES[view.zones[s]][0 if lang == "ja" else 1]) for s in view.segments
    ]
    rows = []
    for src in view.segments:
        cells: list[_MatrixCell | str | None] = []
        for dst in view.segments:
            cell = view.matrix.cell(src, dst)
            if src == dst:
                cells.append("same")
            elif cell is None:
                cells.append(None)
            else:
                cells.append(
                    _MatrixCell(cell.count, cell.forbidden, cell.blocked, cell.new, cell.port_texts(view, lang))
                )
        rows.append((heads[view.segments.index(src)], cells))
    dangerous = ", ".join(f"{p.port} {p.name}".strip() for p in dashboard().site.dangerous_ports)
    return render(
        request,
        "mamori/zone_matrix.html",
        {
            **_context(request, view, "matrix"),
            "heads": heads,
            "rows": rows,
            "dangerous": dangerous,
            "empty": not view.matrix.cells,
        },
    )


def matrix_export(request: HttpRequest) -> HttpResponse:
    """The matrix as CSV (UTF-8 BOM or Shift_JIS) or XLSX, one row per pair of segments with flows."""
    view = _view(request)
    header, rows = zone_map.matrix_table(view, _lang(request))
    name = f"mamori-zone-matrix-{view.period}-{_stamp()}"
    if request.GET.get("format") == "xlsx":
        return _download(
            to_xlsx(header, rows, title="matrix"),
            f"{name}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    encoding = "shift_jis" if request.GET.get("encoding") == "shift_jis" else "utf-8-sig"
    charset = "shift_jis" if encoding == "shift_jis" else "utf-8"
    return _download(to_csv(header, rows, encoding=encoding), f"{name}.csv", f"text/csv; charset={charset}")
