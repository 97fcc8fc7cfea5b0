"""The exposure table: every host known from scans or the wire, judged by the site model, for the dashboard, the
CSV/XLSX exports and the checklist (items 2-⑫ and 2-⑬).

Ports of the latest scan carry the judgement made when the scan ran (``reasons`` in ``mamori_scan_port``); a
service only seen answering on the wire is judged here by the same function (``mamori.detection.exposure``), with
no previous run (a service seen answering is never "new" here; the ``exposure`` alert said so when it was first seen).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from mamori.detection.exposure import judge_host
from mamori.detection.site_index import SiteIndex
from mamori.model import Site
from mamori.rules.exposure import CHECKLIST_ITEMS, REASONS, port_label
from mamori.storage import ExposureTable
from mamori.storage.exposure import HostRow

__all__ = ["ChecklistEvidence", "checklist_evidence", "export_rows", "exposure_header", "site_rows"]


def site_rows(table: ExposureTable, site: Site, hosts: list[str] | None = None) -> list[HostRow]:
    """The site table, with the ports only seen answering judged by the site model."""
    index = SiteIndex(site)
    out = []
    for stored in table.site_table(hosts):
        row = stored
        passive = [p.key for p in row.ports if not p.state and not p.approved]
        if passive:
            judged = judge_host(index, row.host, passive, observer="")
            row = replace(
                row,
                ports=tuple(
                    replace(p, reasons=tuple(r for r in judged.reasons(p.key) if r != "approved"))
                    if p.key in passive
                    else p
                    for p in row.ports
                ),
            )
        out.append(row)
    return out


@dataclass(frozen=True)
class ChecklistEvidence:
    """What the exposure evidence says about checklist items 2-⑫ (unneeded services stopped) and 2-⑬ (connection
    sources restricted): the latest successful scan, hosts scanned, services seen answering, and the hosts still
    offering an unneeded service or a database port reachable from another segment (approved ports left out).
    ``item_ok`` is None when there is no evidence at all."""

    last_scan: float | None
    hosts_scanned: int
    services_seen: int
    unneeded: Mapping[str, tuple[str, ...]]  # 2-⑫: host -> port keys
    database: Mapping[str, tuple[str, ...]]  # 2-⑬: host -> port keys

    def item_ok(self, item: str) -> bool | None:
        if self.last_scan is None and not self.services_seen:
            return None
        return not (self.unneeded if item == "2-12" else self.database)

    def question(self, item: str, lang: str) -> str:
        return CHECKLIST_ITEMS[item](lang)


def checklist_evidence(table: ExposureTable, site: Site) -> ChecklistEvidence:
    """The evidence for checklist items 2-⑫ and 2-⑬ (the checklist report reads this)."""
    rows = site_rows(table, site)
    runs = [r for r in table.runs(limit=20) if r.status == "ok"]
    unneeded = {r.host: tuple(p.key for p in r.findings if "unneeded" in p.reasons) for r in rows}
    database = {r.host: tuple(p.key for p in r.findings if "database" in p.reasons) for r in rows}
    return ChecklistEvidence(
        last_scan=runs[0].started if runs else None,
        hosts_scanned=runs[0].hosts_up if runs else 0,
        services_seen=sum(1 for r in rows for p in r.ports if p.first_seen is not None),
        unneeded={h: p for h, p in unneeded.items() if p},
        database={h: p for h, p in database.items() if p},
    )


def reason_words(reasons: tuple[str, ...], lang: str) -> str:
    return (
        "、".join(REASONS[r][0] for r in reasons if r in REASONS)
        if lang == "ja"
        else "; ".join(REASONS[r][1] for r in reasons if r in REASONS)
    )


def exposure_header(lang: str) -> list[str]:
    if lang == "ja":
        return ["ホスト", "ホスト名", "ポート", "状態", "サービス", "製品", "バージョン", "判定", "承認済み",
                "最後のスキャン", "通信で最初に見えた", "通信で最後に見えた"]  # fmt: skip
    return ["Host", "Host name", "Port", "State", "Service", "Product", "Version", "Finding", "Approved",
            "Last scan", "First seen answering", "Last seen answering"]  # fmt: skip


def export_rows(rows: list[HostRow], lang: str, when: object) -> Iterator[list[object]]:
    """One row per host and port (``when`` formats a POSIX time for the reader). Text from nmap is left as it is:
    the CSV/XLSX writers escape formulas (``mamori.escape``)."""
    fmt = when if callable(when) else (lambda ts: "")
    yes, no = ("はい", "いいえ") if lang == "ja" else ("yes", "no")
    for row in rows:
        for p in row.ports:
            yield [
                row.host,
                row.hostname,
                port_label(p.key),
                p.state or ("通信で確認" if lang == "ja" else "seen answering"),
                p.service,
                p.product,
                p.version,
                reason_words(p.reasons, lang),
                yes if p.approved else no,
                fmt(row.scanned_at) if row.scanned_at else "",
                fmt(p.first_seen) if p.first_seen else "",
                fmt(p.last_seen) if p.last_seen else "",
            ]
