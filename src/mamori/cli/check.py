"""``mamori check``: every problem of a settings file in one pass, then what would stop the commands on this
machine (the database path) and what is worth a warning (an empty site, interfaces this machine does not have)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from mamori.cli.common import CONFIG_OPTION, EXIT_PROBLEM, action_options, default_data_dir, fail, warn
from mamori.config import load_settings
from mamori.errors import ConfigError, MamoriError
from mamori.escape import one_line

__all__ = ["check"]


@click.command()
@CONFIG_OPTION
def check(config: Path) -> None:
    """設定ファイルを検査する / Validate a settings file (exit 2 with file:line for every problem)."""
    try:
        settings = load_settings(config, data_dir=default_data_dir(), action_types=action_options())
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"問題 {len(exc.problems)} 件 / {len(exc.problems)} problem(s)", err=True)
        sys.exit(EXIT_PROBLEM)
    for warning in settings.warnings:
        warn(str(warning))
    from mamori.storage import check_database_path

    try:
        check_database_path(settings.database_path)  # a path the commands could not use is a problem of the file
    except MamoriError as exc:
        fail(str(exc))
    site = settings.site
    terminals = sum(len(s.terminals) for s in site.systems)
    click.echo(f"OK: {config}")
    click.echo(
        f"  部門システム / systems: {len(site.systems)}, 登録端末 / terminals: {terminals}, "
        f"ルータ / gateways: {len(site.gateways)}"
    )
    for system in site.systems:
        servers = ", ".join(s.ip for s in system.servers)
        ports = ", ".join(str(p) for p in system.ports)
        click.echo(f"  - {system.name}: {servers} ports {ports}, {len(system.terminals)} terminals")
    if site.segments and site.zone_policy is not None:
        policy = site.zone_policy
        click.echo(
            f"  セグメント / segments: {len(site.segments)}, ゾーンポリシー / zone policy: {policy.name} "
            f"({len(policy.rules)} 行 / rows, 既定 / default {policy.default}), "
            f"危険ポート / dangerous ports: {len(site.dangerous_ports)}"
        )
        for segment in site.segments:
            extra = f", proxies {', '.join(segment.proxies)}" if segment.proxies else ""
            extra += f", role {segment.role}" if segment.role else ""
            click.echo(f"  - {segment.name}: {segment.zone} {', '.join(segment.cidrs)}{extra}")
    if site.exempt_hosts:
        click.echo(
            f"  横展開の除外 / exempt from lateral-movement: {len(site.exempt_hosts)} "
            "（多数の機器へ接続しても警告しません / never reported for reaching many computers）"
        )
        for host in site.exempt_hosts:
            what = [*host.networks, *(f"computer {c}" for c in host.computers)]
            what += [f"account {a}" for a in host.accounts]
            label = f"{one_line(host.name, 100)} " if host.name else ""
            click.echo(f"  - {label}({host.role}): {one_line(', '.join(what), 400)}")
    if site.vendors:
        plans = sum(len(v.work_plans) for v in site.vendors)
        click.echo(f"  保守業者 / vendors: {len(site.vendors)}, 作業計画 / work plans: {plans}")
    if site.backups:
        click.echo(f"  バックアップ / backups: {len(site.backups)}")
        for job in site.backups:
            offline = f", offline {job.offline.host}" if job.offline is not None else ""
            where = job.path or job.computer
            click.echo(
                f"  - {one_line(job.name, 200)}: {job.kind} {one_line(where, 300)}, every {job.every / 3600:g} h, "
                f"{job.generations} generations{offline}"
            )
    click.echo(f"  interfaces: {', '.join(settings.capture.interfaces) or '(none)'}")
    click.echo(f"  database: {settings.database_path}")
    _warn_missing_interfaces(settings.capture.interfaces)


def _warn_missing_interfaces(interfaces: Sequence[str]) -> None:
    """Interfaces this machine does not have: a warning (the file may be checked on another machine than the sensor)."""
    from mamori.capture.interfaces import available_interfaces, missing_interface

    available = available_interfaces()
    for name in interfaces:
        if available and name not in available:
            note = ("。センサー以外の機械で検査しているなら問題ありません", "; fine if this machine is not the sensor")
            warn(missing_interface(name, available, note=note))
