"""``mamori demo``: a demo hospital's site and capture, analysed into SQLite, and the dashboard on them."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from mamori.cli.common import LANG_OPTION, fail, load_or_exit
from mamori.cli.compose import compose_dashboard, open_store, warn_if_exposed
from mamori.cli.output import print_alerts
from mamori.config import Settings
from mamori.config.web import parse_listen
from mamori.errors import MamoriError

__all__ = ["demo"]


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("mamori-demo"),
    show_default=True,
    help="デモの保存先 / where to write the demo site, captures and database.",
)
@click.option("--no-web", is_flag=True, help="ダッシュボードを起動しない / only analyse; do not start the dashboard.")
@click.option(
    "--listen", default="127.0.0.1:8080", show_default=True, help="ダッシュボードの待ち受け / dashboard address"
)
@LANG_OPTION
def demo(folder: Path, no_web: bool, listen: str, lang: str) -> None:
    """デモ病院で試す / Make a demo site and capture, analyse them into SQLite, and open the dashboard on them."""
    from mamori.demo import write_demo
    from mamori.runtime import analyze_captures
    from mamori.runtime.assets import StoredDevices
    from mamori.storage import AlertWriter, SensorHealth

    if not no_web:
        _check_listen(listen)  # before anything is written or printed: a busy port fails now, with the fix
    site_file, captures = write_demo(folder)
    settings = load_or_exit(site_file)
    db = settings.database_path
    if db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    # Django once for the run: for the dashboard served on --listen, else for the store alone.
    store = open_store(db, settings) if no_web else compose_dashboard(settings, listen).store
    writer = AlertWriter(store, origin="analyze")
    # the asset ledger (2-①) fills from the same capture, as it does from the sensor
    result = analyze_captures(settings, captures, on_changes=writer.submit, devices=StoredDevices(store, writer))
    writer.submit_health(
        [
            SensorHealth(
                f.name, "file", f.last_packet or 0.0, f.last_packet, f.matched, f.decoded, f.malformed, 0, 0, 0
            )
            for f in result.files
        ]
    )
    writer.flush()
    writer.close()
    click.echo(f"デモサイト / demo site: {site_file}")
    click.echo(f"キャプチャ / capture:   {', '.join(str(c) for c in captures)}")
    click.echo(f"データベース / database: {db}\n")
    print_alerts(result.alerts, as_json=False, lang=lang)
    if no_web:
        click.echo(
            f"\n次に / next:\n  mamori alerts --config {site_file}\n  mamori web --config {site_file}\n"
            f"  sudo mamori watch --config {site_file} --interface <IF>"
        )
        return
    _demo_dashboard(settings, listen)


def _check_listen(listen: str) -> None:
    """The demo's address must be free: say so, and suggest a --listen that is."""
    from mamori.web.server import free_port_near, listen_problem

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    problem = listen_problem(host, port)
    if problem is None:
        return
    free = free_port_near(host, port)
    shown = f"[{host}]" if ":" in host else host
    example = f"{shown}:{free}" if free is not None else f"{shown}:PORT"
    fail(
        f"{problem}\n  別のアドレスを --listen で指定してください / choose another address with --listen:\n"
        f"  mamori demo --listen {example}"
    )


def _demo_dashboard(settings: Settings, listen: str) -> None:
    """Serve the dashboard (composed already) on the demo data, with a demo administrator whose password is made
    now, at random."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from mamori.web.server import serve
    from mamori.web.setup import wsgi_application

    host, port = parse_listen(listen)
    password = secrets.token_urlsafe(12)
    account = get_user_model().objects.create_user(username="demo", password=password)
    account.groups.add(Group.objects.get_or_create(name="admin")[0])
    shown = f"[{host}]" if ":" in host else host
    warn_if_exposed(settings.web, listen)
    click.echo(
        f"\nダッシュボード / dashboard: http://{shown}:{port}/\n"
        f"  ユーザー名 / user: demo\n"
        f"  パスワード / password: {password}   (このデモのために生成 / made for this demo)\n"
        "  終了するには Ctrl-C / Ctrl-C to stop"
    )
    try:
        serve(settings.web, wsgi_application(), listen=listen)
    except MamoriError as exc:
        fail(str(exc))
