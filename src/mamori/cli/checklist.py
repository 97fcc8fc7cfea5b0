"""``mamori checklist`` (the Ministry's checklist filled with evidence, as XLSX or PDF; answers confirmed by a
person), ``mamori assets`` (the asset ledger from observation) and ``mamori inspection-pack`` (one ZIP for the
on-site inspection). They read through the store and the settings only: no dashboard needs to run (cron)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mamori.cli.common import CONFIG_OPTION, fail, load_or_exit, write_output
from mamori.cli.compose import evidence_context, existing_store, open_store
from mamori.errors import MamoriError

if TYPE_CHECKING:
    from mamori.config import Settings
    from mamori.reports.checklist import EvidenceContext

__all__ = ["answer", "assets", "checklist", "inspection_pack"]

FORM_HELP = "様式: medical（医療機関確認用）、vendor:事業者名（事業者確認用）、heasnet-small / form"


SITE_OPTION = click.option(
    "--site",
    help="中央サーバ: このサイトの行だけから作る / central server: from this site's rows only (its alerts, sessions, "
    "ledger); what only its sensor keeps is marked so",
)


def _context(settings: Settings, site: str | None) -> EvidenceContext:
    """The evidence of this box, or (``--site``, the central server) of that site's rows in the central store."""
    import dataclasses

    if site is None:
        return evidence_context(settings, existing_store(settings.database_path))
    if settings.storage.postgresql is None:
        fail(
            "--site は中央サーバ（storage.postgresql）の設定で使います / --site is for the central server's settings "
            "(storage.postgresql): a sensor's checklist is its own site's"
        )
    store = open_store(settings.database, settings)
    from mamori.web.accounts import UnknownSite, known_site_names

    known = known_site_names()
    if site not in known:
        fail(str(UnknownSite(site, known)), code=2)
    return dataclasses.replace(evidence_context(settings, store), central_site=site)


def _form_key(value: str) -> str:
    from mamori.reports.checklist import form

    try:
        form(value)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0])) from None
    return value


@click.command("checklist")
@CONFIG_OPTION
@click.option(
    "--form", "form_key", default="medical", show_default=True, callback=lambda c, p, v: _form_key(v), help=FORM_HELP
)
@click.option("--format", "fmt", type=click.Choice(["xlsx", "pdf"]), default="xlsx", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="出力先 / output file")
@SITE_OPTION
def checklist(config: Path, form_key: str, fmt: str, output: Path | None, site: str | None) -> None:
    """チェックリストを根拠つきで出力する / Write the Ministry's checklist filled with mamori's evidence.

    \b
    提案された回答は人が確認するまで確定しません（`mamori checklist-answer`、またはダッシュボード）。
    Proposed answers are not final until a person confirms them (`mamori checklist-answer` or the dashboard).
    """
    if output is None:
        fail("-o FILE is needed / 出力先（-o）を指定してください")
    from mamori.reports.checklist import build_checklist
    from mamori.reports.checklist.output import checklist_pdf, checklist_xlsx

    settings = load_or_exit(config)
    ctx = _context(settings, site)
    try:
        filled = build_checklist(form_key, ctx)
        data = checklist_xlsx(filled) if fmt == "xlsx" else checklist_pdf(filled)
    except MamoriError as exc:
        fail(str(exc))
    write_output(data, output)
    counts = filled.counts()
    click.echo(
        f"{output}: {counts['items']} 項目、回答済み {counts['answered']} / {counts['items']} items, "
        f"{counts['answered']} answered",
        err=True,
    )


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.command("checklist-answer")
@CONFIG_OPTION
@click.option(
    "--form", "form_key", default="medical", show_default=True, callback=lambda c, p, v: _form_key(v), help=FORM_HELP
)
@click.option("--item", required=True, help="項目番号 / item number, e.g. 2-⑬")
@click.option("--answer", "value", type=click.Choice(["yes", "no"]), required=True)
@click.option("--by", "user", required=True, help="回答者 / who answers")
@click.option("--checked-on", help="確認日 YYYY-MM-DD（省略時は今日） / date checked (default today)")
@click.option("--target-on", help="目標日 YYYY-MM-DD（いいえの場合） / target date (for no)")
@click.option("--note", default="", help="備考 / note")
def answer(
    config: Path,
    form_key: str,
    item: str,
    value: str,
    user: str,
    checked_on: str | None,
    target_on: str | None,
    note: str,
) -> None:
    """項目の回答を確定する / Confirm an item's answer (stored with who and when, and the evidence seen)."""
    from mamori.cli.compose import open_store
    from mamori.reports.checklist import build_checklist
    from mamori.storage import Answer, AnswerTable

    settings = load_or_exit(config)
    store = open_store(settings.database_path)
    filled = build_checklist(form_key, evidence_context(settings, store))
    row = next((r for r in filled.rows if r.item.number == item), None)
    if row is None:
        fail(f"no item {item!r} in the form {form_key}: " + ", ".join(r.item.number for r in filled.rows))
    target = _date(target_on)
    if value == "no" and target is None:
        fail("--target-on is needed for いいえ / 「いいえ」には目標日（--target-on）が必要です")
    AnswerTable(store).record(
        Answer(
            form=form_key,
            item=item,
            answer=value,
            checked_on=_date(checked_on) or dt.date.today(),
            target_on=target if value == "no" else None,
            answered_by=user,
            answered_at=time.time(),
            proposed=row.proposed or "",
            note=note,
            evidence=tuple(e.as_dict() for e in row.evidence),
        )
    )
    click.echo(f"{form_key} {item}: {value} ({user})")


@click.command("assets")
@CONFIG_OPTION
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="出力先 / output file")
def assets(config: Path, fmt: str, output: Path | None) -> None:
    """観測した機器の台帳を書き出す / Write the asset ledger from observation (CSV or XLSX)."""
    from mamori.reports.checklist.pack import ASSET_HEADER, asset_rows
    from mamori.reports.tables import to_csv, to_xlsx

    settings = load_or_exit(config)
    store = existing_store(settings.database_path)
    rows = asset_rows(evidence_context(settings, store))
    data = to_csv(ASSET_HEADER, rows) if fmt == "csv" else to_xlsx(ASSET_HEADER, rows, title="assets")
    write_output(data, output)
    click.echo(f"{len(rows)} 台 / {len(rows)} device(s)", err=True)


@click.command("inspection-pack")
@CONFIG_OPTION
@click.option("--year", type=int, help="年度（4月始まり、省略時は今年度） / fiscal year starting in April")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
@SITE_OPTION
def inspection_pack(config: Path, year: int | None, output: Path, site: str | None) -> None:
    """立入検査用の一式を ZIP にまとめる / One ZIP for the on-site inspection: the checklist (XLSX and PDF), the
    monthly reports of the fiscal year, the asset ledger, and the evidence archive's verification and manifests."""
    from mamori.reports.checklist.pack import fiscal_pack, fiscal_year

    settings = load_or_exit(config)
    ctx = _context(settings, site)
    today = dt.date.today()
    try:
        data_zip, checklists, monthly = fiscal_pack(
            ctx, year=year if year is not None else fiscal_year(today), today=today
        )
    except MamoriError as exc:
        fail(str(exc))
    write_output(data_zip, output)
    click.echo(f"{output}: {checklists} checklist(s), {monthly} monthly report(s)", err=True)
