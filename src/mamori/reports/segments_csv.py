"""Segments as CSV for Excel: the settings file's segments written out, and a CSV read back into the YAML to paste.

The settings file stays the one place where segments live (they change with the network, rarely, and the zone
policy names them); the CSV is for the network table an office keeps in Excel. Reading checks every row as the
settings file would (zones, networks, proxies inside their segment, names used twice, a network in two segments),
each problem placed by row and column, and gives the ``segments:`` block in YAML. The header row is Japanese
(セグメント, ゾーン, ネットワーク, プロキシ, 役割, 備考) or English (name, zone, cidrs, proxies, role, note);
zones and roles may be written in Japanese (高セキュアゾーン, バックアップ...). Networks and proxies are separated by
spaces, commas or line breaks within their cell. Encodings as for the terminal ledger (UTF-8 with BOM, UTF-8,
Shift_JIS).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from mamori.config.zones import SegmentIn, segments_of, zone_checks
from mamori.model import Segment
from mamori.reports.terminals_csv import CsvLayout, CsvProblem, check_site_rows, encode_rows, fold
from mamori.reports.terminals_csv import cell as csv_cell

__all__ = ["ParsedSegments", "parse_segments", "segments_yaml", "write_segments"]

# key -> (Japanese header, English header, further accepted spellings)
_COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "name": ("セグメント", "name", ("セグメント名", "segment")),
    "zone": ("ゾーン", "zone", ()),
    "cidrs": ("ネットワーク", "cidrs", ("networks", "network", "アドレス範囲")),
    "proxies": ("プロキシ", "proxies", ("proxy",)),
    "role": ("役割", "role", ()),
    "note": ("備考", "note", ("メモ", "notes")),
}
_ORDER = ("name", "zone", "cidrs", "proxies", "role", "note")
_ZONES = {
    "高セキュアゾーン": "hsz",
    "highsecurezone": "hsz",
    "セキュアゾーン": "sz",
    "securezone": "sz",
    "医療機器": "medical",
    "医療機器ゾーン": "medical",
    "外部": "external",
}
_ROLES = {
    "バックアップ": "backup",
    "リモート保守": "maintenance",
    "保守": "maintenance",
    "管理": "admin",
    "ウイルス対策": "antivirus",
    "更新": "update",
    "資産管理": "asset-management",
}
_SPLIT = re.compile(r"[\s,、]+")


_LAYOUT = CsvLayout(_COLUMNS, ("name", "zone", "cidrs"), _ORDER, "segments")


@dataclass
class ParsedSegments:
    """The segments a CSV gives, or the problems that prevent it (then ``segments`` must not be used)."""

    segments: list[Segment] = field(default_factory=list)
    problems: list[CsvProblem] = field(default_factory=list)
    encoding: str = ""


def write_segments(segments: Iterable[Segment], *, encoding: str = "utf-8-sig") -> bytes:
    """The segments as CSV with the Japanese header, in ``encoding`` (utf-8-sig or shift_jis)."""
    rows: list[Sequence[object]] = [[_COLUMNS[key][0] for key in _ORDER]]
    for s in segments:
        rows.append([s.name, s.zone, " ".join(s.cidrs), " ".join(s.proxies), s.role or "", s.note])
    return encode_rows(rows, encoding)


def parse_segments(data: bytes, *, source: str, encoding: str = "auto") -> ParsedSegments:
    """Read and check every row of a segments CSV."""
    result = ParsedSegments()
    result.encoding, columns, header_row, records = _LAYOUT.read(data, source, encoding, result.problems)
    if result.problems:
        return result
    valid = check_site_rows(
        _LAYOUT,
        (header_row, records),
        columns,
        source,
        result.problems,
        model=SegmentIn,
        to_item=_item,
        checks=zone_checks,
        section="segments",
    )
    if not result.problems:
        result.segments = list(segments_of(tuple(valid)))
    result.problems.sort(key=lambda p: p.row)
    return result


def _item(row: Sequence[str], columns: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """One row as the settings file's form of a segment (what is empty is left out)."""

    def cell(key: str) -> str:
        return csv_cell(row, columns, key)

    item: dict[str, Any] = {"name": cell("name")}
    zone = cell("zone")
    item["zone"] = _ZONES.get(fold(zone), unicodedata.normalize("NFKC", zone).lower())
    item["cidrs"] = [c for c in _SPLIT.split(unicodedata.normalize("NFKC", cell("cidrs"))) if c]
    proxies = [p for p in _SPLIT.split(unicodedata.normalize("NFKC", cell("proxies"))) if p]
    if proxies:
        item["proxies"] = proxies
    role = cell("role")
    if role:
        item["role"] = _ROLES.get(fold(role), unicodedata.normalize("NFKC", role).lower())
    if cell("note"):
        item["note"] = cell("note")
    return item


def segments_yaml(segments: Iterable[Segment]) -> str:
    """The ``segments:`` block of the settings file, one flow mapping per segment."""
    lines = ["segments:"]
    for s in segments:
        item: dict[str, Any] = {"name": s.name, "cidrs": list(s.cidrs), "zone": s.zone}
        if s.proxies:
            item["proxies"] = list(s.proxies)
        if s.role:
            item["role"] = s.role
        if s.note:
            item["note"] = s.note
        text = yaml.safe_dump(item, allow_unicode=True, default_flow_style=True, sort_keys=False, width=1 << 20)
        lines.append(f"  - {text.strip()}")
    return "\n".join(lines) + "\n"
