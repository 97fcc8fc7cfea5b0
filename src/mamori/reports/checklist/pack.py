"""The inspection pack: one ZIP an office hands the inspector (立入検査) — the checklist (XLSX and PDF), the monthly
reports of the year, the asset ledger, and the evidence archive's verification result with its signed manifests."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

from mamori.reports.checklist.build import Checklist
from mamori.reports.checklist.evidence import EvidenceContext
from mamori.reports.checklist.output import checklist_pdf, checklist_xlsx
from mamori.reports.oui import OuiRegistry
from mamori.reports.tables import to_csv, to_xlsx
from mamori.storage import AssetTable

__all__ = ["ASSET_HEADER", "asset_rows", "inspection_pack"]

ASSET_HEADER = (
    "MAC",
    "IP",
    "ベンダー / Vendor",
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
    """The asset ledger as rows of ASSET_HEADER (vendors from the OUI registry)."""
    if ctx.store is None:
        return []
    oui = oui or OuiRegistry()
    return [
        [
            a.mac,
            " ".join(a.ips) + (" …" if a.many_ips else ""),
            oui.vendor(a.mac),
            _local(a.first_seen),
            _local(a.last_seen),
            " ".join(a.services),
            _STATUS.get(a.status, a.status),
            a.name,
            a.note,
            a.reviewed_by,
        ]
        for a in AssetTable(ctx.store).assets()
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
        rows = asset_rows(ctx, oui)
        pack.writestr("ledger/assets.csv", to_csv(ASSET_HEADER, rows))
        pack.writestr("ledger/assets.xlsx", to_xlsx(ASSET_HEADER, rows, title="assets"))
        _archive(pack, ctx)
    return out.getvalue()


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
