"""``mamori segments``: the settings file's segments as CSV for Excel, and a CSV read back into the YAML to paste."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mamori.cli.common import CONFIG_OPTION, EXIT_PROBLEM, fail, load_or_exit

__all__ = ["segments"]

_ENCODINGS = ("utf-8-sig", "shift_jis")  # mamori.reports.ENCODINGS, without importing reports for --help


@click.group()
def segments() -> None:
    """セグメント（設定ファイル）の CSV: 書き出しと読み込み / Segments of the settings file as CSV: export and
    import."""


@segments.command("export")
@CONFIG_OPTION
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="書き出し先（省略時は標準出力） / CSV file to write (default: standard output).",
)
@click.option(
    "--encoding",
    type=click.Choice(_ENCODINGS),
    default="utf-8-sig",
    show_default=True,
    help="utf-8-sig: Excel 2016 以降 / newer Excel; shift_jis: 従来の Excel / older Excel on Japanese Windows.",
)
def export_(config: Path, output: Path | None, encoding: str) -> None:
    """セグメントを CSV に書き出す / Write the settings file's segments as CSV for Excel."""
    from mamori.reports import write_segments

    settings = load_or_exit(config)
    try:
        data = write_segments(settings.site.segments, encoding=encoding)
    except ValueError as exc:
        fail(str(exc))
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        fail(f"{output}: cannot write ({exc.strerror})")
    n = len(settings.site.segments)
    click.echo(f"{n} 個を書き出しました / wrote {n} segment(s) to {output} ({encoding})")


@segments.command("import")
@click.argument("csv_file", metavar="CSV", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--encoding",
    type=click.Choice(["auto", *_ENCODINGS]),
    default="auto",
    show_default=True,
    help="文字コード（auto: BOM 付き UTF-8・UTF-8・Shift_JIS を判別） / text encoding (auto detects).",
)
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

    try:
        data = csv_file.read_bytes()
    except OSError as exc:
        fail(f"{csv_file}: cannot read ({exc.strerror})")
    parsed = parse_segments(data, source=str(csv_file), encoding=encoding)
    if parsed.problems:
        for problem in parsed.problems:
            click.echo(str(problem), err=True)
        n = len(parsed.problems)
        click.echo(f"問題 {n} 件：YAML は書き出していません / {n} problem(s): no YAML written", err=True)
        sys.exit(EXIT_PROBLEM)
    text = segments_yaml(parsed.segments)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot write ({exc.strerror})")
    n = len(parsed.segments)
    click.echo(f"{n} 個のセグメントを {output} に書きました / wrote {n} segment(s) to {output}", err=True)
