"""Remote-maintenance vendors as CSV for Excel: the settings file's vendor list written out (with the devices each
maintains: the Ministry's checklist 2-② asks which devices have remote maintenance), and a CSV read back into the
``vendors:`` block to paste.

The settings file stays where vendors live; the CSV is the list an office keeps of its maintenance contracts.
Reading checks every row as the settings file would (sources, devices, accounts, a name used twice), each problem
placed by row and column. The header row is Japanese (業者, 接続元, アカウント, 保守対象機器, 作業計画, 備考) or
English (name, sources, accounts, devices, work_plans, note); lists are separated by spaces, commas or line breaks
within their cell. The work plans column is written for the reader (how many plans) and ignored when reading: plans
are kept in the settings file, and ``vendors_yaml`` carries those of the file over by vendor name. Encodings
as for the terminal ledger (UTF-8 with BOM, UTF-8, Shift_JIS); cells that Excel would run as formulas are quoted.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from mamori.config.vendors import VendorIn, vendor_checks, vendors_of
from mamori.model import WEEKDAYS, Vendor, WorkPlan
from mamori.reports.terminals_csv import CsvLayout, CsvProblem, check_site_rows, encode_rows
from mamori.reports.terminals_csv import cell as csv_cell

__all__ = ["ParsedVendors", "parse_vendors", "plan_item", "vendors_yaml", "write_vendors"]

# key -> (Japanese header, English header, further accepted spellings)
_COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "name": ("業者", "name", ("業者名", "vendor", "保守業者")),
    "sources": ("接続元", "sources", ("source", "接続元アドレス")),
    "accounts": ("アカウント", "accounts", ("account",)),
    "devices": ("保守対象機器", "devices", ("device", "機器", "対象機器")),
    "work_plans": ("作業計画", "work_plans", ("plans", "work plans")),
    "note": ("備考", "note", ("メモ", "notes")),
}
_ORDER = ("name", "sources", "accounts", "devices", "work_plans", "note")
_SPLIT = re.compile(r"[\s,、]+")
_LAYOUT = CsvLayout(_COLUMNS, ("name",), _ORDER, "vendors")


@dataclass
class ParsedVendors:
    """The vendors a CSV gives, or the problems that prevent it (then ``vendors`` must not be used)."""

    vendors: list[Vendor] = field(default_factory=list)
    problems: list[CsvProblem] = field(default_factory=list)
    encoding: str = ""


def _address(text: str) -> str:
    return text.removesuffix("/32").removesuffix("/128")


def write_vendors(vendors: Iterable[Vendor], *, encoding: str = "utf-8-sig") -> bytes:
    """The vendors as CSV with the Japanese header, in ``encoding`` (utf-8-sig or shift_jis)."""
    rows: list[Sequence[object]] = [[_COLUMNS[key][0] for key in _ORDER]]
    for v in vendors:
        plans = f"{len(v.work_plans)} 件 / {len(v.work_plans)} plan(s)"
        rows.append(
            [
                v.name,
                " ".join(_address(s) for s in v.sources),
                " ".join(v.accounts),
                " ".join(v.devices),
                plans,
                v.note,
            ]
        )
    return encode_rows(rows, encoding)


def parse_vendors(data: bytes, *, source: str, encoding: str = "auto", time_zone: str = "Asia/Tokyo") -> ParsedVendors:
    """Read and check every row of a vendors CSV (their work plans are not in it: see ``vendors_yaml``)."""
    result = ParsedVendors()
    result.encoding, columns, header_row, records = _LAYOUT.read(data, source, encoding, result.problems)
    if result.problems:
        return result
    valid = check_site_rows(
        _LAYOUT,
        (header_row, records),
        columns,
        source,
        result.problems,
        model=VendorIn,
        to_item=_item,
        checks=vendor_checks,
        section="vendors",
    )
    if not result.problems:
        result.vendors = list(vendors_of(tuple(valid), time_zone))
    result.problems.sort(key=lambda p: p.row)
    return result


def _item(row: Sequence[str], columns: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """One row as the settings file's form of a vendor (what is empty is left out)."""

    def cell(key: str) -> str:
        return csv_cell(row, columns, key)

    def listed(key: str, normalise: bool = True) -> list[str]:
        text = unicodedata.normalize("NFKC", cell(key)) if normalise else cell(key)
        return [c for c in _SPLIT.split(text) if c]

    item: dict[str, Any] = {"name": cell("name")}
    for key in ("sources", "devices"):
        if listed(key):
            item[key] = listed(key)
    if listed("accounts", normalise=False):
        item["accounts"] = listed("accounts", normalise=False)
    if cell("note"):
        item["note"] = cell("note")
    return item


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def plan_item(plan: WorkPlan, zone: str) -> dict[str, Any]:
    """A work plan in the settings file's form (one-off times in the site's zone, with their offset)."""
    item: dict[str, Any] = {}
    if plan.start is not None and plan.end is not None:
        tz = zoneinfo.ZoneInfo(zone)
        item["start"] = dt.datetime.fromtimestamp(plan.start, tz).isoformat(timespec="minutes")
        item["end"] = dt.datetime.fromtimestamp(plan.end, tz).isoformat(timespec="minutes")
    else:
        item["every"] = plan.every
        if plan.every == "week" and plan.weekday is not None:
            item["weekday"] = WEEKDAYS[plan.weekday]
        if plan.every == "month" and plan.day is not None:
            item["day"] = plan.day
        item["time"] = plan.time
        item["duration"] = _duration(plan.duration)
    for name in ("targets", "ports", "accounts"):
        if getattr(plan, name):
            item[name] = list(getattr(plan, name))
    for name in ("ticket", "note"):
        if getattr(plan, name):
            item[name] = getattr(plan, name)
    return item


def vendors_yaml(
    vendors: Iterable[Vendor], plans: Mapping[str, Sequence[WorkPlan]] | None = None, *, zone: str = "Asia/Tokyo"
) -> str:
    """The ``vendors:`` block of the settings file. ``plans``: vendor name -> the work plans to keep (those of the
    settings file the CSV replaces; the CSV has none), written in the file's form."""
    items = []
    for v in vendors:
        item: dict[str, Any] = {"name": v.name}
        if v.sources:
            item["sources"] = [_address(s) for s in v.sources]
        if v.accounts:
            item["accounts"] = list(v.accounts)
        if v.devices:
            item["devices"] = list(v.devices)
        kept = [plan_item(p, zone) for p in (plans or {}).get(v.name, ()) if p.origin == "file"]
        if kept:
            item["work_plans"] = kept
        if v.note:
            item["note"] = v.note
        items.append(item)
    return yaml.safe_dump(
        {"vendors": items}, allow_unicode=True, default_flow_style=None, sort_keys=False, width=1 << 20
    )
