"""The inspection pack: one ZIP an office hands the inspector (立入検査) — the checklist (XLSX and PDF), the monthly
reports of the year, the asset ledger, and the evidence archive's verification result with its signed manifests."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

from mamori.reports.assets import asset_views
from mamori.reports.checklist.build import Checklist
from mamori.reports.checklist.evidence import EvidenceContext
from mamori.reports.checklist.output import checklist_pdf, checklist_xlsx
from mamori.reports.oui import OuiRegistry
from mamori.reports.tables import to_csv, to_xlsx

__all__ = [
    "ASSET_HEADER",
    "asset_rows",
    "checklist_keys",
    "fiscal_months",
    "fiscal_pack",
    "fiscal_year",
    "inspection_pack",
]

ASSET_HEADER = (
    "MAC",
    "IP",
    "ベンダー / Vendor",
    "セグメント・ゾーン / Segment (zone)",
    "登録 / Registered as",
    "初回観測 / First seen",
    "最終観測 / Last seen",
    "サービス / Services",
    "状態 / Status",
    "名前 / Name",
    "備考 / Note",
    "確認者 / Reviewed by",
)
_STATUS = {"unreviewed": "未確認 / unknown", "confirmed": "確認済み / confirmed", "retired": "廃止 / retired"}


def _local(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def asset_rows(ctx: EvidenceContext, oui: OuiRegistry | None = None) -> list[list[str]]:
    """The asset ledger as rows of ASSET_HEADER, unknown devices first (vendors from the OUI registry)."""
    if ctx.store is None:
        return []
    return [
        [
            v.mac,
            " ".join(v.asset.ips) + (" …" if v.asset.many_ips else ""),
            v.vendor,
            " ".join(v.segments),
            " / ".join(v.registered),
            _local(v.asset.first_seen),
            _local(v.asset.last_seen),
            " ".join(v.asset.services),
            _STATUS.get(v.status, v.status),
            v.asset.name,
            v.asset.note,
            v.asset.reviewed_by,
        ]
        for v in asset_views(ctx.store, ctx.site, "ja", oui=oui)
    ]


def inspection_pack(
    checklists: list[Checklist], ctx: EvidenceContext, monthly: dict[str, bytes], *, oui: OuiRegistry | None = None
) -> bytes:
    """The ZIP's bytes. ``monthly``: file name -> PDF of each month's report."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as pack:
        for checklist in checklists:
            name = checklist.key.replace(":", "-").replace("/", "_")
            pack.writestr(f"checklist/{name}.xlsx", checklist_xlsx(checklist))
            pack.writestr(f"checklist/{name}.pdf", checklist_pdf(checklist))
        for filename, pdf in sorted(monthly.items()):
            pack.writestr(f"monthly/{filename}", pdf)
        if ctx.central_site is not None:  # one site on the central server: these are on its sensor
            site = ctx.central_site
            pack.writestr("ledger/README.txt", _on_sensor(site, "資産台帳", "The asset ledger"))
            archive = ("ログの証跡アーカイブとその検証", "The evidence archive of logs and its verification")
            pack.writestr("archive/README.txt", _on_sensor(site, *archive))
        else:
            rows = asset_rows(ctx, oui)
            pack.writestr("ledger/assets.csv", to_csv(ASSET_HEADER, rows))
            pack.writestr("ledger/assets.xlsx", to_xlsx(ASSET_HEADER, rows, title="assets"))
            _archive(pack, ctx)
    return out.getvalue()


def checklist_keys(ctx: EvidenceContext) -> list[str]:
    """The forms of this site: the medical institution's, the HEASNET checksheet where segments are declared, and a
    vendor form for each declared vendor and each vendor form already answered."""
    from mamori.storage import AnswerTable

    if ctx.central_site is not None:  # a site on the central server: its segments and vendors are on its sensor
        return ["medical", "heasnet-small"]
    keys = ["medical", "heasnet-small"] if ctx.site.segments else ["medical"]
    vendors = [f"vendor:{v.name}" for v in ctx.site.vendors]
    if ctx.store is not None:
        vendors += [f for f in AnswerTable(ctx.store).forms() if f.startswith("vendor:") and f not in vendors]
    return keys + vendors


def fiscal_year(today: dt.date) -> int:
    """The Japanese fiscal year (April to March) ``today`` is in, by the year it starts."""
    return today.year if today.month >= 4 else today.year - 1


def fiscal_months(year: int, today: dt.date) -> list[tuple[int, int]]:
    """The months of the fiscal year starting in April of ``year`` that have begun by ``today``."""
    months = [(year + (m < 4), m) for m in (*range(4, 13), 1, 2, 3)]
    return [(y, m) for y, m in months if dt.date(y, m, 1) <= today]


def fiscal_pack(ctx: EvidenceContext, *, year: int, today: dt.date) -> tuple[bytes, int, int]:
    """The inspection pack of fiscal ``year``: every form of the site, the monthly reports of the months begun by
    ``today``. Returns the ZIP's bytes, the number of checklists and of monthly reports."""
    from mamori.reports.checklist.build import build_checklist
    from mamori.reports.monthly import collect_month, render_pdf

    checklists = [build_checklist(k, ctx) for k in checklist_keys(ctx)]
    monthly = {}
    if ctx.store is not None:
        for y, m in fiscal_months(year, today):
            data = collect_month(ctx.store, y, m, site=ctx.central_site or ctx.site.name, central_site=ctx.central_site)
            monthly[f"monthly-{y}-{m:02d}.pdf"] = render_pdf(data)
    return inspection_pack(checklists, ctx, monthly), len(checklists), len(monthly)


def _archive(pack: zipfile.ZipFile, ctx: EvidenceContext) -> None:
    root = ctx.archive_root
    if root is None or not root.is_dir():
        pack.writestr("archive/verification.txt", "証跡アーカイブはありません / no evidence archive\n")
        return
    from mamori.storage.archive_verify import verify_archive

    report = verify_archive(root, ctx.archive_verifier, keep_days=ctx.archive_keep_days)
    lines = [
        f"archive: {root}",
        f"verified at: {_local(ctx.now)}",
        f"days: {report.days}, records: {report.records}, signatures verified: {report.signatures}",
        "result: "
        + ("OK 改ざんは見つかりませんでした" if report.ok else f"TAMPERED 改ざん・欠落 {len(report.errors)} 件"),
        *(f"{f.level}: {f}" for f in report.findings),
    ]
    pack.writestr("archive/verification.txt", "\n".join(lines) + "\n")
    pack.writestr(
        "archive/verification.json",
        json.dumps(
            {
                "ok": report.ok,
                "days": report.days,
                "records": report.records,
                "signatures": report.signatures,
                "findings": [f.__dict__ for f in report.findings],
            },
            ensure_ascii=False,
            indent=1,
        ),
    )
    for manifest in sorted(root.glob("[0-9][0-9][0-9][0-9]/*.manifest.json")):
        pack.write(manifest, f"archive/manifests/{manifest.name}")
    for extra in ("head.json",):
        if (root / extra).is_file():
            pack.write(root / extra, f"archive/{extra}")
    public = Path(str(getattr(ctx.archive_verifier, "path", ""))) if ctx.archive_verifier is not None else None
    if public is not None and public.is_file():
        pack.write(public, f"archive/{public.name}")


def _on_sensor(site: str, what_ja: str, what_en: str) -> str:
    return (
        f"{what_ja}はサイト {site} のセンサーにあり、中央サーバにはありません。センサーで "
        "`mamori inspection-pack` を実行して加えてください。\n"
        f"{what_en} is kept on the sensor of site {site}, not on the central server: run `mamori inspection-pack` "
        "on that sensor and add it.\n"
    )
