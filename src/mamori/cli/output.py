"""What the commands print: alerts (a table on a terminal, lines or JSON lines otherwise), a progress bar for
long inputs, and the times the options take. Shared by every command module; imports no command."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import click

from mamori.model import Alert, Severity
from mamori.rules import render

__all__ = ["AlertPrinter", "parse_time", "print_alerts", "progress", "stream_alerts"]

Progress = Callable[[int, Path, int, int], None]


def print_alerts(alerts: Sequence[Alert], *, as_json: bool, lang: str) -> None:
    """The alerts found or stored: JSON lines, a table on a terminal, one line each otherwise."""
    from mamori.reports import alert_to_json

    if as_json:
        for alert in alerts:
            click.echo(alert_to_json(alert))
        return
    if not alerts:
        click.echo("アラートはありません / no alerts")
        return
    if sys.stdout.isatty():
        _alert_table(alerts, lang)
    else:
        from mamori.reports import alert_line

        for alert in alerts:
            click.echo(alert_line(alert, lang))


def stream_alerts(alerts: Iterable[Alert], *, as_json: bool, lang: str) -> None:
    """One line per alert as it is read back: memory stays flat however many there are."""
    from mamori.reports import alert_line, alert_to_json

    empty = True
    for alert in alerts:
        empty = False
        click.echo(alert_to_json(alert) if as_json else alert_line(alert, lang))
    if empty and not as_json:
        click.echo("アラートはありません / no alerts")


class AlertPrinter:
    """Prints alert changes as they come (``watch``, ``collect``): each alert once as a line, or every update as
    a JSON line. Picklable: the collector's detection process prints with it."""

    def __init__(self, as_json: bool, lang: str) -> None:
        self.as_json = as_json
        self.lang = lang
        self.printed: set[str] = set()

    def __call__(self, alerts: list[Alert]) -> None:
        from mamori.reports import alert_line, alert_to_json

        for alert in alerts:
            if self.as_json:
                click.echo(alert_to_json(alert, samples=False))
            elif alert.uid not in self.printed:
                self.printed.add(alert.uid)
                click.echo(alert_line(alert, self.lang))
        sys.stdout.flush()


_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _alert_table(alerts: Sequence[Alert], lang: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from mamori.reports import local_time

    ja = lang == "ja"
    table = Table(show_lines=False, header_style="bold")
    for title in (
        ("重大度", "Severity"),
        ("ルール", "Rule"),
        ("最初", "First"),
        ("最後", "Last"),
        ("件数", "Count"),
        ("送信元", "Source"),
        ("システム", "System"),
        ("概要", "Summary"),
    ):
        table.add_column(title[0] if ja else title[1], overflow="fold")
    for a in alerts:
        source = " ".join(x for x in (a.src_ip, f"({a.src_mac})" if a.src_mac else None) if x)
        table.add_row(
            f"[{_SEVERITY_STYLE[a.severity]}]{a.severity.label}[/]",
            a.rule,
            local_time(a.first_seen),
            local_time(a.last_seen),
            f"{a.count:,}",
            source,
            a.system or "-",
            render.summary(a, "ja" if ja else "en"),
        )
    Console().print(table)


def progress(paths: Sequence[Path]) -> tuple[Progress | None, Callable[[], None]]:
    """A progress bar on a terminal for long inputs, and the function that ends it; nothing otherwise."""
    sizes = []
    for path in paths:
        try:
            sizes.append(path.stat().st_size)
        except OSError:
            sizes.append(0)
    total = sum(sizes)
    if not sys.stderr.isatty() or total < 32 * 1024 * 1024:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("解析中 / analysing", total=total)
    bar.start()
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]

    def update(index: int, path: Path, done: int, size: int) -> None:
        bar.update(task, completed=offsets[index] + min(done, size), description=path.name)

    return update, bar.stop


def parse_time(value: str | None) -> float | None:
    """An option's ISO 8601 date or time as POSIX seconds; local time unless it gives an offset."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} は ISO 8601 の日付・日時ではありません（例: 2026-11-23 や 2026-11-23T09:00） / "
            f"{value!r} is not an ISO 8601 date or time (e.g. 2026-11-23 or 2026-11-23T09:00)"
        ) from None
    return (parsed if parsed.tzinfo else parsed.astimezone()).timestamp()
