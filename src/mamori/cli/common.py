"""What every command shares: the --config and --lang options, the data folder, loading settings, error exits."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from mamori.config import ActionOptionTypes, Settings, load_settings
from mamori.errors import ConfigError

__all__ = [
    "CONFIG_OPTION",
    "EXIT_PROBLEM",
    "LANG_OPTION",
    "action_options",
    "default_data_dir",
    "fail",
    "load_or_exit",
    "warn",
]

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
