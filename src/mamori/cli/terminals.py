"""``mamori terminals``: the terminal ledger (台帳) in the database — CSV export and import for Excel, list, retire."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mamori.cli.common import (
    CONFIG_OPTION,
    CSV_IMPORT_ENCODING,
    csv_export_options,
    fail,
    load_or_exit,
    read_input,
    report_problems,
    warn,
    write_output,
)
from mamori.cli.compose import existing_store, open_store
from mamori.config import Settings, normalize_ip, normalize_mac
from mamori.errors import MamoriError

if TYPE_CHECKING:
    from mamori.storage import LedgerEntry

__all__ = ["terminals"]


# -- the group ------------------------------------------------------------------------------------------------------


@click.group()
def terminals() -> None:
    """端末台帳（データベース）: CSV の書き出し・取り込み、一覧、廃止 / The terminal ledger in the database: CSV
    export and import (Excel), list, retire."""


@terminals.command("export")
@CONFIG_OPTION
@csv_export_options("CSV")
def export_(config: Path, output: Path | None, encoding: str) -> None:
    """台帳を CSV に書き出す / Write the ledger's active terminals as CSV for Excel."""
    from mamori.reports import write_terminals
    from mamori.storage import Ledger

    settings = load_or_exit(config)
    store = existing_store(settings.database_path)
    entries = Ledger(store).terminals() if store is not None else []
    try:
        data = write_terminals(entries, encoding=encoding)
    except ValueError as exc:
        fail(str(exc))
    if write_output(data, output):
        click.echo(f"{len(entries)} 台を書き出しました / wrote {len(entries)} terminal(s) to {output} ({encoding})")


@terminals.command("import")
@CONFIG_OPTION
@click.argument("csv_file", metavar="CSV", type=click.Path(path_type=Path, dir_okay=False))
@CSV_IMPORT_ENCODING
@click.option("--dry-run", is_flag=True, help="検査と件数の表示だけ / validate and count, change nothing.")
def import_(config: Path, csv_file: Path, encoding: str, dry_run: bool) -> None:
    """CSV（台帳・learn の提案）を取り込む / Import a ledger CSV or a `mamori learn` proposal into the ledger.

    Every row is checked first; on any problem every problem is printed as FILE:ROW: column: message and nothing
    changes (exit 2). In a proposal, rows whose 判定 (decision) is いいえ/no/reject/× are skipped; an empty
    decision registers the row.
    """
    from mamori.reports import parse_terminals
    from mamori.storage import Ledger

    settings = load_or_exit(config)
    site = settings.site
    parsed = parse_terminals(
        read_input(csv_file),
        source=str(csv_file),
        systems=[s.name for s in site.systems],
        gateways={g.mac: g.name for g in site.gateways},
        encoding=encoding,
    )
    report_problems(parsed.problems, "何も変更していません", "nothing was changed")
    store = open_store(settings.database_path)
    try:
        result = Ledger(store).upsert(parsed.entries, "learn" if parsed.proposal else "import", dry_run=dry_run)
    except MamoriError as exc:
        fail(str(exc))
    click.echo(
        f"追加 / added: {result.added}, 更新 / updated: {result.updated}, 変更なし / unchanged: {result.unchanged}, "
        f"再登録 / re-activated: {result.reactivated}  ({csv_file}, {parsed.encoding})"
    )
    if parsed.rejected or parsed.known:
        click.echo(
            f"判定で除外 / declined in the decision column (いいえ/no/×): {parsed.rejected}, "
            f"登録済み / marked known: {parsed.known}"
        )
    if dry_run:
        click.echo("--dry-run: 何も変更していません / nothing was changed")
    elif result.changed:
        click.echo(
            "監視中の mamori watch は再起動すると反映されます / restart a running `mamori watch` to use the new ledger"
        )


# -- list and retire ------------------------------------------------------------------------------------------------


def _local(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M") if ts is not None else ""


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat() if ts is not None else None


def _file_entries(settings: Settings) -> list[LedgerEntry]:
    from mamori.storage import LedgerEntry

    return [
        LedgerEntry(system=s.name, name=t.name, mac=t.mac, ip=t.ip, note=t.note, source="settings")
        for s in settings.site.systems
        for t in s.terminals
    ]


@terminals.command("list")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="1 行 1 台の JSON / one JSON object per terminal per line.")
@click.option("--retired", is_flag=True, help="廃止した端末も表示 / include retired terminals.")
def list_(config: Path, as_json: bool, retired: bool) -> None:
    """登録端末の一覧（設定ファイルと台帳） / List the registered terminals: settings file and ledger."""
    from mamori.storage import Ledger

    settings = load_or_exit(config)
    store = existing_store(settings.database_path)
    ledger = Ledger(store).terminals(include_retired=retired) if store is not None else []
    entries = _file_entries(settings) + ledger
    if as_json:
        for e in entries:
            row: dict[str, Any] = dataclasses.asdict(e)
            row.update(
                mac=e.mac or None,
                created_at=_iso(e.created_at),
                updated_at=_iso(e.updated_at),
                retired_at=_iso(e.retired_at),
            )
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    if not entries:
        click.echo("登録端末はありません / no registered terminals")
        return
    _terminal_table(entries)


def _terminal_table(entries: Sequence[LedgerEntry]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold")
    for title in (
        "システム / system",
        "端末名 / name",
        "MAC",
        "IP",
        "登録元 / source",
        "更新 / updated",
        "備考 / note",
    ):
        table.add_column(title, overflow="fold")
    for e in entries:
        source = e.source if e.active else f"{e.source} (廃止 / retired {_local(e.retired_at)})"
        table.add_row(e.system, e.name, e.mac or "-", e.ip or "(any)", source, _local(e.updated_at), e.note)
    Console(width=None if sys.stdout.isatty() else 160, markup=False, highlight=False).print(table)


@terminals.command("retire")
@CONFIG_OPTION
@click.option("--system", required=True, help="部門システム / the department system.")
@click.option("--mac", help="端末の MAC アドレス / the terminal's MAC address.")
@click.option("--ip", help="ルータ経由（IP のみ）の端末の IP / the IP of a terminal registered by IP only.")
def retire(config: Path, system: str, mac: str | None, ip: str | None) -> None:
    """端末を廃止する（台帳に履歴は残る） / Retire a ledger terminal (its row stays, marked retired)."""
    from mamori.storage import Ledger

    settings = load_or_exit(config)
    if bool(mac) == bool(ip):
        fail("--mac か --ip のどちらか一方を指定してください / give either --mac or --ip (for a terminal without MAC)")
    try:
        mac = normalize_mac(mac) if mac else ""
        ip = normalize_ip(ip) if ip else None
    except ValueError as exc:
        fail(str(exc))
    who = mac or f"IP {ip}"
    in_file = any(
        s.name == system and (t.mac == mac if mac else t.ip == ip) for s in settings.site.systems for t in s.terminals
    )
    store = existing_store(settings.database_path)
    if store is None or not Ledger(store).retire(system, mac, ip=ip):
        hint = (
            " 設定ファイルに登録されています。設定ファイルから削除してください / it is registered in the settings "
            f"file {settings.source}: remove it there"
            if in_file
            else ""
        )
        fail(f"{system}: 台帳に有効な端末 {who} はありません / no active ledger terminal {who}.{hint}")
    click.echo(f"{system}: {who} を廃止しました / retired {who}")
    if in_file:
        warn(f"{who} は設定ファイルにも登録されています / {who} is also registered in the settings file")
