"""``mamori vendors``: the settings file's remote-maintenance vendors (and the devices each maintains) as CSV for
Excel, and a CSV read back into the ``vendors:`` block to paste."""

from __future__ import annotations

from pathlib import Path

import click

from mamori.cli.common import (
    CONFIG_OPTION,
    CSV_IMPORT_ENCODING,
    csv_export_options,
    fail,
    load_or_exit,
    read_input,
    report_problems,
    write_output,
)

__all__ = ["vendors"]


@click.group()
def vendors() -> None:
    """保守業者（設定ファイル）の CSV: 書き出しと読み込み / Remote-maintenance vendors of the settings file as CSV:
    export and import."""


@vendors.command("export")
@CONFIG_OPTION
@csv_export_options("CSV")
def export_(config: Path, output: Path | None, encoding: str) -> None:
    """保守業者と保守対象機器を CSV に書き出す / Write the vendors, their sources, accounts and devices as CSV."""
    from mamori.reports.vendors_csv import write_vendors

    settings = load_or_exit(config)
    try:
        data = write_vendors(settings.site.vendors, encoding=encoding)
    except ValueError as exc:
        fail(str(exc))
    if write_output(data, output):
        n = len(settings.site.vendors)
        click.echo(f"{n} 社を書き出しました / wrote {n} vendor(s) to {output} ({encoding})")


@vendors.command("import")
@click.argument("csv_file", metavar="CSV", type=click.Path(path_type=Path, dir_okay=False))
@CSV_IMPORT_ENCODING
@click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="作業計画を引き継ぐ設定ファイル / settings file whose vendors' work plans are carried over (by name).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML の書き出し先（省略時は標準出力） / where to write the YAML (default: standard output).",
)
def import_(csv_file: Path, encoding: str, config: Path | None, output: Path | None) -> None:
    """CSV を検査して設定ファイル用の vendors: を出す / Check a vendors CSV and print the settings file's
    `vendors:` block.

    Every row is checked as the settings file would be; on any problem every problem is printed as
    FILE:ROW: column: message and no YAML is written (exit 2). The CSV has no work plans: with --config, each
    vendor keeps the work plans the settings file gives it. Paste the YAML in place of the file's `vendors:`
    (the file is never changed by this command).
    """
    from mamori.reports.vendors_csv import parse_vendors, vendors_yaml

    settings = load_or_exit(config) if config is not None else None
    zone = settings.site.time_zone if settings is not None else "Asia/Tokyo"
    parsed = parse_vendors(read_input(csv_file), source=str(csv_file), encoding=encoding, time_zone=zone)
    report_problems(parsed.problems, "YAML は書き出していません", "no YAML written")
    plans = {v.name: v.work_plans for v in settings.site.vendors} if settings is not None else {}
    text = vendors_yaml(parsed.vendors, plans, zone=zone)
    if write_output(text.encode("utf-8"), output):
        n = len(parsed.vendors)
        click.echo(f"{n} 社を {output} に書きました / wrote {n} vendor(s) to {output}", err=True)
    if settings is not None:
        dropped = sorted({v.name for v in settings.site.vendors} - {v.name for v in parsed.vendors})
        if dropped:
            click.echo(
                "CSV にない業者（作業計画ごと外れます） / vendors not in the CSV (left out with their plans): "
                + ", ".join(dropped),
                err=True,
            )
