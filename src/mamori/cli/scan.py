"""``mamori scan``: nmap over exactly the scope of the site model's ``scan:`` section, judged and stored.

Run it by hand, or on a schedule with the systemd timer the README shows (scripts/systemd/mamori-scan.timer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mamori import escape
from mamori.cli.common import CONFIG_OPTION, EXIT_PROBLEM, LANG_OPTION, fail, load_or_exit, warn
from mamori.cli.compose import open_store, with_ledger
from mamori.cli.output import print_alerts
from mamori.config import Settings
from mamori.model import Alert, iso_time

if TYPE_CHECKING:
    from mamori.runtime.exposure import ScanOutcome
    from mamori.storage import Store

__all__ = ["scan"]

_ACT_TIMEOUT = 120.0


@click.command("scan")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="結果を 1 つの JSON で出力 / print the run as one JSON object.")
@click.option(
    "--act/--no-act",
    default=True,
    show_default=True,
    help="アラートに設定の通知・対応アクションを実行する / run the configured actions on the alerts raised.",
)
@click.option("--nmap", "nmap_path", type=click.Path(path_type=Path, dir_okay=False), help="nmap の場所 / nmap to run.")
@LANG_OPTION
def scan(config: Path, as_json: bool, act: bool, nmap_path: Path | None, lang: str) -> None:
    """公開状況の自己診断（nmap） / Scan the site model's scope with nmap and judge the hosts' open ports."""
    settings = load_or_exit(config)
    if settings.site.scan is None:
        fail(
            f"{settings.source}: scan: の節がありません（targets, exclude, rate）/ "
            "the settings have no scan: section (targets, exclude, rate)"
        )
    from mamori.runtime.exposure import run_scan

    store = open_store(settings.database_path)
    site = with_ledger(settings, store).site  # the ledger's terminals count as the systems' registered terminals
    outcome = run_scan(site, store, nmap=str(nmap_path) if nmap_path else None)
    scope = outcome.scope
    if scope.medical_excluded:
        warn(
            "医療機器のセグメントは除外しました / medical-device segments left out: "
            + ", ".join(scope.medical_excluded)
        )
    if as_json:
        from mamori.reports import alert_to_json

        doc = {
            "run": outcome.run_id,
            "status": "failed" if outcome.error else "ok",
            "error": outcome.error,
            "started": iso_time(outcome.report.started) if outcome.report else None,
            "seconds": round(outcome.seconds, 3),
            "observer": outcome.observer,
            "targets": list(scope.targets),
            "exclude": list(scope.exclude),
            "rate": scope.rate,
            "ports": list(scope.ports),
            "hosts": [
                {
                    "address": h.address,
                    "hostname": h.hostname,
                    "open": [
                        {
                            "proto": p.proto,
                            "port": p.port,
                            "service": p.service,
                            "product": p.product,
                            "version": p.version,
                            "reasons": list(j.reasons(f"{p.proto}/{p.port}")),
                        }
                        for p in h.open_ports()
                    ],
                    "gone": list(j.gone),
                }
                for h, j in zip(outcome.report.hosts if outcome.report else (), outcome.judgements, strict=True)
            ],
            "alerts": [json.loads(alert_to_json(a)) for a in outcome.alerts],
        }
        click.echo(json.dumps(doc, ensure_ascii=False))
    else:
        _print_run(outcome, lang)
    if outcome.error:
        if not as_json:
            click.echo(click.style("error: ", fg="red") + escape.one_line(outcome.error), err=True)
        raise SystemExit(EXIT_PROBLEM)
    if act and outcome.alerts and settings.actions:
        _act(settings, outcome.alerts, store)


def _print_run(outcome: ScanOutcome, lang: str) -> None:
    report = outcome.report
    ja = lang == "ja"
    if report is None:
        return
    click.echo(
        (
            f"スキャン #{outcome.run_id}: 応答した機器 {len(report.hosts)} 台、{outcome.seconds:.1f} 秒"
            if ja
            else f"scan #{outcome.run_id}: {len(report.hosts)} host(s) up, {outcome.seconds:.1f} s"
        )
        + f" (nmap {escape.one_line(report.version)})"
    )
    for host, j in zip(report.hosts, outcome.judgements, strict=True):
        ports = ", ".join(
            f"{p.port}/{p.proto}" + (f" {escape.one_line(p.service, 40)}" if p.service else "")
            for p in host.open_ports()
        )
        line = f"  {host.address:<15} {ports or ('開いたポートなし' if ja else 'no open port')}"
        marks = [
            (("不要" if ja else "unneeded"), j.unneeded),
            (("DB" if ja else "database"), j.database),
            (("新規" if ja else "new"), j.new),
            (("閉じた" if ja else "closed"), j.gone),
        ]
        extra = "; ".join(f"{name}: {', '.join(k.partition('/')[2] for k in keys)}" for name, keys in marks if keys)
        click.echo(line + (f"  [{extra}]" if extra else ""))
    print_alerts(outcome.alerts, as_json=False, lang=lang)


def _act(settings: Settings, alerts: list[Alert], store: Store) -> None:
    from mamori.runtime.responses import build_dispatcher

    dispatcher = build_dispatcher(settings, store.record_deliveries, heartbeat=False)
    if dispatcher is None:
        return
    dispatcher.submit(alerts)
    dispatcher.close(timeout=_ACT_TIMEOUT)
