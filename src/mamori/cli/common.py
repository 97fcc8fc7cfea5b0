"""What every command shares: the --config and --lang options, the data folder, loading settings, error exits."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from mamori.config import ActionOptionTypes, Settings, load_settings
from mamori.errors import ConfigError

__all__ = [
    "CONFIG_OPTION",
    "CSV_ENCODINGS",
    "CSV_IMPORT_ENCODING",
    "EXIT_PROBLEM",
    "LANG_OPTION",
    "action_options",
    "csv_export_options",
    "default_data_dir",
    "fail",
    "load_or_exit",
    "read_input",
    "report_problems",
    "warn",
    "write_output",
]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_PROBLEM = 2  # a settings file with problems, an unreadable input, no interface

CONFIG_OPTION = click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Settings file (YAML) / 設定ファイル",
)
LANG_OPTION = click.option(
    "--lang",
    type=click.Choice(["ja", "en"]),
    default=lambda: os.environ.get("MAMORI_LANG", "ja"),
    show_default="ja",
    help="Language of summaries / 表示言語",
)


def default_data_dir() -> Path:
    """MAMORI_DATA_DIR, else /var/lib/mamori for root, else ~/.local/share/mamori."""
    env = os.environ.get("MAMORI_DATA_DIR")
    if env:
        return Path(env)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/mamori")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mamori"


def fail(message: str, code: int = EXIT_PROBLEM) -> NoReturn:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    sys.exit(code)


def warn(message: str) -> None:
    click.echo(click.style("warning: ", fg="yellow") + message, err=True)


def action_options() -> ActionOptionTypes:
    """The action types the settings may use (built-in and installed plugins), from the action registry."""
    from mamori.alerting import installed_action_types, option_types

    return option_types(installed_action_types())


def load_or_exit(config: Path) -> Settings:
    """The settings, or every problem with its file:line:field on stderr and exit code 2."""
    try:
        return load_settings(config, data_dir=default_data_dir(), action_types=action_options())
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_PROBLEM)


# -- CSV for Excel: the options and the reading and writing every CSV command shares ------------------------------

CSV_ENCODINGS = ("utf-8-sig", "shift_jis")  # mamori.reports.ENCODINGS, without importing reports for --help


def csv_export_options(what: str) -> Callable[[F], F]:
    """``--output`` and ``--encoding`` of a command that writes ``what`` as CSV."""

    def wrap(command: F) -> F:
        command = click.option(
            "--encoding",
            type=click.Choice(CSV_ENCODINGS),
            default="utf-8-sig",
            show_default=True,
            help="utf-8-sig: Excel 2016 以降 / newer Excel; shift_jis: 従来の Excel / older Excel on Japanese Windows.",
        )(command)
        return click.option(
            "--output",
            "-o",
            type=click.Path(path_type=Path, dir_okay=False),
            help=f"書き出し先（省略時は標準出力） / {what} file to write (default: standard output).",
        )(command)

    return wrap


CSV_IMPORT_ENCODING = click.option(
    "--encoding",
    type=click.Choice(["auto", *CSV_ENCODINGS]),
    default="auto",
    show_default=True,
    help="文字コード（auto: BOM 付き UTF-8・UTF-8・Shift_JIS を判別） / text encoding (auto detects).",
)


def write_output(data: bytes, output: Path | None) -> bool:
    """``data`` to ``output``, or to standard output when None; True when a file was written."""
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return False
    try:
        output.write_bytes(data)
    except OSError as exc:
        fail(f"{output}: cannot write ({exc.strerror})")
    return True


def read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read ({exc.strerror})")


def report_problems(problems: Sequence[object], not_done_ja: str, not_done_en: str) -> None:
    """Print every problem of a checked CSV and what was therefore not done, then exit with EXIT_PROBLEM."""
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        n = len(problems)
        click.echo(f"問題 {n} 件：{not_done_ja} / {n} problem(s): {not_done_en}", err=True)
        sys.exit(EXIT_PROBLEM)
