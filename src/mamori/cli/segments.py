"""``mamori segments``: the settings file's segments as CSV for Excel, and a CSV read back into the YAML to paste."""

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

__all__ = ["segments"]


@click.group()
def segments() -> None:
    """セグメント（設定ファイル）の CSV: 書き出しと読み込み / Segments of the settings file as CSV: export and
    import."""


@segments.command("export")
@CONFIG_OPTION
@csv_export_options("CSV")
def export_(config: Path, output: Path | None, encoding: str) -> None:
    """セグメントを CSV に書き出す / Write the settings file's segments as CSV for Excel."""
    from mamori.reports import write_segments

    settings = load_or_exit(config)
    try:
        data = write_segments(settings.site.segments, encoding=encoding)
    except ValueError as exc:
        fail(str(exc))
    if write_output(data, output):
        n = len(settings.site.segments)
        click.echo(f"{n} 個を書き出しました / wrote {n} segment(s) to {output} ({encoding})")


@segments.command("import")
@click.argument("csv_file", metavar="CSV", type=click.Path(path_type=Path, dir_okay=False))
@CSV_IMPORT_ENCODING
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML の書き出し先（省略時は標準出力） / where to write the YAML (default: standard output).",
)
def import_(csv_file: Path, encoding: str, output: Path | None) -> None:
    """CSV を検査して設定ファイル用の segments: を出す / Check a segments CSV and print the settings file's
    `segments:` block.

    Every row is checked as the settings file would be; on any problem every problem is printed as
    FILE:ROW: column: message and no YAML is written (exit 2). Paste the YAML into the settings file in place of its
    `segments:` (the file is never changed by this command).
    """
    from mamori.reports import parse_segments, segments_yaml

    parsed = parse_segments(read_input(csv_file), source=str(csv_file), encoding=encoding)
    report_problems(parsed.problems, "YAML は書き出していません", "no YAML written")
    text = segments_yaml(parsed.segments)
    if write_output(text.encode("utf-8"), output):
        n = len(parsed.segments)
        click.echo(f"{n} 個のセグメントを {output} に書きました / wrote {n} segment(s) to {output}", err=True)
