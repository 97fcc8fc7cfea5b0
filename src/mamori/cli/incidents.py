"""``mamori incidents``: the stored incidents (open ones first), or the alerts of one of them in order."""

from __future__ import annotations

from pathlib import Path

import click

from mamori.cli.common import CONFIG_OPTION, LANG_OPTION, load_or_exit
from mamori.cli.compose import existing_store
from mamori.cli.output import print_alerts

__all__ = ["incidents"]

_NONE = "インシデントはありません / no incidents"


@click.command()
@CONFIG_OPTION
@click.option("--open", "open_only", is_flag=True, help="対応中のみ / only open incidents.")
@click.option(
    "--incident",
    "incident_uid",
    help="このインシデントのアラートを時系列で / the alerts of this incident, in the order they began.",
)
@click.option("--limit", type=int, help="最新の N 件 / at most N incidents.")
@click.option("--json", "as_json", is_flag=True, help="1 行 1 件の JSON / one JSON object per line.")
@LANG_OPTION
def incidents(
    config: Path, open_only: bool, incident_uid: str | None, limit: int | None, as_json: bool, lang: str
) -> None:
    """インシデント（関連するアラートのまとまり）を表示する / List incidents: alerts that share a source, an
    account or a target within a time span, told as one story."""
    settings = load_or_exit(config)
    store = existing_store(settings.database_path)
    if incident_uid is not None:
        if store is None or not store.incidents(uid=incident_uid):
            raise click.BadParameter(
                f"インシデント {incident_uid!r} はありません / no incident {incident_uid!r}", param_hint="--incident"
            )
        print_alerts(store.incident_alerts(incident_uid), as_json=as_json, lang=lang)
        return
    rows = store.incidents(open_only=open_only, limit=limit) if store is not None else []
    from mamori.reports.incident_format import incident_line, incident_to_json

    if not rows and not as_json:
        click.echo(_NONE)
    for row in rows:
        if as_json:  # with the timeline: each alert's summary, as a program reading the incident needs it
            click.echo(incident_to_json(row, store.incident_alerts(row.uid) if store is not None else ()))
        else:
            click.echo(incident_line(row, lang))
