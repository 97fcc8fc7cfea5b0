"""``mamori central``: the central server's consumer (NATS JetStream -> the central store, PostgreSQL);
``mamori publish``: a sensor's publisher (its outbox -> NATS JetStream). docs/design.md §10, central."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import click

from mamori.cli.common import fail, load_or_exit
from mamori.cli.compose import open_store
from mamori.config import Settings
from mamori.errors import MamoriError

__all__ = ["central", "publish"]

_CONFIG = click.option(
    "--config",
    "-c",
    "config",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Settings file (YAML) / 設定ファイル",
)


def _central_settings(config: Path) -> Settings:
    settings = load_or_exit(config)
    if settings.central is None:
        fail(
            f"{config}: central（NATS への接続: servers、tls）が設定されていません / "
            "no central section (the NATS link: servers, tls) in the settings"
        )
    return settings


def _logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    # asyncio's own note when a TLS peer closes (nats-py answers EOF that way): not a problem of ours
    logging.getLogger("asyncio").setLevel(logging.ERROR)


def _run(main: object) -> None:
    """Run the coroutine until it ends or SIGINT/SIGTERM asks it to stop (it then finishes its batch)."""

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)  # type: ignore[operator]

    asyncio.run(wrapper())


@click.command()
@_CONFIG
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0.1),
    default=None,
    help="この秒数メッセージがなければ終了 / exit after this many seconds without a message (tests, catch-up runs)",
)
def central(config: Path, idle_exit: float | None) -> None:
    """中央サーバー: 各拠点のセンサーのメッセージを中央のデータベースに書く / The central server: write every site's
    messages (NATS JetStream) to the central store, a batch per transaction, acknowledged after the commit."""
    settings = _central_settings(config)
    central_settings = settings.central
    if central_settings is None:  # _central_settings exits first
        return
    _logging()
    from mamori.central import CentralConsumer
    from mamori.storage.central import CentralTable

    store = open_store(settings.database)
    consumer = CentralConsumer(central_settings, CentralTable(store))

    async def main(stop: asyncio.Event) -> None:
        await consumer.run(stop, idle_exit=idle_exit)

    try:
        _run(main)
    except MamoriError as exc:
        fail(str(exc))
    s = consumer.stats
    print(
        json.dumps(
            {
                "messages": s.messages,
                "batches": s.batches,
                "alerts": s.alerts,
                "new_alerts": s.new_alerts,
                "rejected": s.rejected,
                "silent_raised": s.silence_raised,
                "silent_resolved": s.silence_resolved,
                "commit_seconds": round(s.commit_seconds, 3),
                "problems": s.problems[-10:],
            },
            ensure_ascii=False,
        )
    )


@click.command()
@_CONFIG
@click.option("--until-empty", is_flag=True, help="送るものがなくなったら終了 / exit once the outbox is empty")
@click.option(
    "--no-backlog",
    is_flag=True,
    help="有効にする前の記録は送らない / do not queue what was stored before the outbox was enabled",
)
def publish(config: Path, until_empty: bool, no_backlog: bool) -> None:
    """センサー: アラート・稼働状況・台帳・保守セッションを中央へ送る / A sensor: publish its alerts, health, ledger
    and remote-maintenance sessions to the central server (NATS JetStream), resending after a cut."""
    settings = _central_settings(config)
    central_settings = settings.central
    if central_settings is None:  # _central_settings exits first
        return
    if central_settings.site is None:
        fail(f"{config}: central.site（この拠点の名前）が必要です / central.site (this site's name) is required")
    _logging()
    from mamori.central import Publisher
    from mamori.storage.outbox import Outbox

    store = open_store(settings.database)
    outbox = Outbox(store)
    try:
        outbox.enable(central_settings.site, backlog=not no_backlog)
    except MamoriError as exc:
        fail(str(exc))
    publisher = Publisher(central_settings, outbox, site=central_settings.site)

    async def main(stop: asyncio.Event) -> None:
        await publisher.run(stop, until_empty=until_empty)

    try:
        _run(main)
    except MamoriError as exc:
        fail(str(exc))
    s = publisher.stats
    print(json.dumps({"published": s.published, "duplicates": s.duplicates, "failed": s.failed}), file=sys.stdout)
