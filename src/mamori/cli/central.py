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

__all__ = ["central", "publish", "sensor"]

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


@click.group(invoke_without_command=True)
@click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Settings file (YAML) / 設定ファイル",
)
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0.1),
    default=None,
    help="この秒数メッセージがなければ終了 / exit after this many seconds without a message (tests, catch-up runs)",
)
@click.pass_context
def central(ctx: click.Context, config: Path | None, idle_exit: float | None) -> None:
    """中央サーバー: `mamori central --config central.yaml` で各拠点のメッセージを中央のデータベースに書く。
    準備は init・add-site・enroll-code・enroll-server / The central server: with --config, write every site's
    messages (NATS JetStream) to the central store, a batch per transaction, acknowledged after the commit; the
    subcommands set it up (init, add-site) and enrol sensors (enroll-code, enroll-server)."""
    if ctx.invoked_subcommand is not None:
        if config is not None or idle_exit is not None:
            fail("--config と --idle-exit は受信（サブコマンドなし）用 / --config and --idle-exit: the consumer's")
        return
    if config is None:
        click.echo(ctx.get_help())
        fail("--config が必要です / --config is required")
    _consume(config, idle_exit)


def _consume(config: Path, idle_exit: float | None) -> None:
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


# -- setup and enrolment (docs/design.md §10, central: setup) --------------------------------------------------------

_DIR = click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/etc/mamori/central"),
    show_default=True,
    help="中央サーバーの証明書と設定のフォルダ / the central server's folder (CA, certificates, NATS configuration)",
)


def _default_owner() -> str | None:
    """The service user when run as root and it exists (the services read the keys as that user)."""
    import os
    import pwd

    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("mamori")
    except KeyError:
        return None
    return "mamori"


def _host_port(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r}: HOST:PORT の形で / give HOST:PORT", param_hint=what)
    return host.strip("[]"), int(port)


@central.command("init")
@_DIR
@click.option("--server-name", "names", multiple=True, help="中央サーバーの DNS 名（複数可） / the server's DNS name")
@click.option("--server-ip", "ips", multiple=True, help="中央サーバーの IP アドレス（複数可） / the server's address")
@click.option("--site", "sites", multiple=True, help="拠点名（複数可、後から add-site でも） / a site (repeatable)")
@click.option("--force", is_flag=True, help="既存の認証局を作り直す / replace an existing CA (re-enrol every sensor)")
@click.option(
    "--owner",
    default=_default_owner,
    show_default="mamori (as root)",
    help="ファイルの所有者（サービスの利用者） / the files' owner (the services' user)",
)
@click.option("--listen", default="0.0.0.0", show_default=True, help="NATS が待ち受けるアドレス / NATS listens here")  # noqa: S104
@click.option("--nats-port", type=click.IntRange(1, 65535), default=4222, show_default=True)
@click.option(
    "--leaf-port",
    type=click.IntRange(0, 65535),
    default=7422,
    show_default=True,
    help="病院の leaf node 用（0 で無効） / for hospitals' leaf nodes (0: none)",
)
@click.option("--enroll-port", type=click.IntRange(1, 65535), default=4223, show_default=True)
@click.option(
    "--store-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/var/lib/mamori/nats"),
    show_default=True,
    help="JetStream の保存先 / JetStream's storage",
)
@click.option("--postgres", default="127.0.0.1:5432", show_default=True, help="PostgreSQL の HOST:PORT")
def central_init(
    folder: Path,
    names: tuple[str, ...],
    ips: tuple[str, ...],
    sites: tuple[str, ...],
    force: bool,
    owner: str | None,
    listen: str,
    nats_port: int,
    leaf_port: int,
    enroll_port: int,
    store_dir: Path,
    postgres: str,
) -> None:
    """認証局・証明書・NATS の設定を作る / Make the CA, the certificates, the NATS configuration and the central
    settings skeleton."""
    from mamori.central.setup import CentralFolder, ca_fingerprint, init_central, resolve_owner

    pg = _host_port(postgres, "--postgres")
    try:
        import ipaddress

        ipaddress.ip_address(listen)
    except ValueError:
        raise click.BadParameter(
            f"{listen!r} は IP アドレスではありません / not an IP address", param_hint="--listen"
        ) from None
    where = CentralFolder(folder.resolve())
    try:
        state = init_central(
            where,
            server_names=list(names),
            server_ips=list(ips),
            sites=list(sites),
            force=force,
            owner=resolve_owner(owner),
            listen=listen,
            nats_port=nats_port,
            leaf_port=leaf_port,
            enroll_port=enroll_port,
            store_dir=store_dir,
            postgres=pg,
        )
        print_fp = ca_fingerprint(where)
    except MamoriError as exc:
        fail(str(exc))
    root = where.root
    click.echo(
        f"作成しました / made in {root}:\n"
        f"  ca.crt, ca.key                 認証局 / the CA (ca.key: 0600, keep it on this box)\n"
        f"  server.crt, server.key         NATS と登録サーバー / NATS and the enrolment server\n"
        f"  mamori-central.crt, .key       中央の受信 / the central consumer\n"
        f"  nats-server.conf               NATS（JetStream、拠点ごとの利用者: {', '.join(state.sites) or '-'}）\n"
        f"  central.yaml                   中央の設定（PostgreSQL を記入） / central settings (fill in PostgreSQL)\n"
        f"認証局のフィンガープリント / CA fingerprint: {print_fp}\n"
        f"次に / next:\n"
        f"  1. PostgreSQL: createuser -P mamori; createdb -O mamori mamori; "
        f"パスワードを / the password to {root / 'postgresql.pw'} (600)\n"
        f"  2. systemctl enable --now mamori-nats mamori-central mamori-web\n"
        f"  3. 拠点ごとに / per site: mamori central enroll-code --dir {root} SITE"
    )


@central.command("add-site")
@_DIR
@click.argument("site")
def central_add_site(folder: Path, site: str) -> None:
    """拠点を追加する（NATS の設定を更新） / Add a site (rewrites the NATS configuration)."""
    from mamori.central.setup import CentralFolder, add_site

    where = CentralFolder(folder.resolve())
    try:
        state = add_site(where, site)
    except MamoriError as exc:
        fail(str(exc))
    click.echo(
        f"拠点 {site} を追加しました（全 {len(state.sites)} 拠点） / added site {site} ({len(state.sites)} in all).\n"
        + (
            # nats-server 2.9 cannot reload a change of the leaf node users: it refuses the whole reload
            "leaf node の利用者が変わるため NATS の再起動が必要です（センサーは送り直すので失われません） / "
            "the leaf node users changed, so nats-server must restart (sensors reconnect and resend; nothing is "
            "lost): systemctl restart mamori-nats\n"
            if state.leaf_port
            else "NATS に読み直させてください / make nats-server read it again: systemctl reload mamori-nats\n"
        )
        + f"次に / next: mamori central enroll-code --dir {where.root} {site}"
    )


@central.command("enroll-code")
@_DIR
@click.argument("site")
@click.option("--hours", type=click.FloatRange(0.1, 168), default=24.0, show_default=True, help="有効時間 / valid for")
def central_enroll_code(folder: Path, site: str, hours: float) -> None:
    """センサー登録用の 1 回限りのコードを作る / Make a one-time enrolment code for a site's sensor."""
    import time

    from mamori.central.enroll import CodeBook
    from mamori.central.setup import CentralFolder, ca_fingerprint

    where = CentralFolder(folder.resolve())
    try:
        code, expires = CodeBook(where).issue(site, hours=hours)
        fp = ca_fingerprint(where)
        state = where.load()
    except MamoriError as exc:
        fail(str(exc))
    host = (state.server_names or state.server_ips)[0]
    host = f"[{host}]" if ":" in host else host
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(expires))
    click.echo(
        f"拠点 / site:               {site}\n"
        f"登録コード / code:         {code}   （1 回限り、{until} まで / once, until {until}）\n"
        f"フィンガープリント / CA fingerprint: {fp}\n"
        f"センサーで実行 / run on the sensor (mamori central enroll-server must be running here):\n"
        f"  mamori sensor enroll --central {host}:{state.enroll_port} --code {code} --fingerprint {fp} "
        "--config /etc/mamori/mamori.yaml"
    )


@central.command("enroll-server")
@_DIR
@click.option("--listen", default=None, help="待ち受け HOST:PORT / listen on (default: the init's address and port)")
def central_enroll_server(folder: Path, listen: str | None) -> None:
    """センサー登録を受け付ける（HTTPS） / Answer sensors' enrolment requests over HTTPS until stopped."""
    import threading

    from mamori.central.enroll import EnrollServer
    from mamori.central.setup import CentralFolder

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    where = CentralFolder(folder.resolve())
    try:
        state = where.load()
        host, port = _host_port(listen, "--listen") if listen else (state.listen, state.enroll_port)
        server = EnrollServer(where, (host, port))
    except OSError as exc:
        fail(f"{listen or port}: 待ち受けできません（{exc.strerror}） / cannot listen ({exc.strerror})")
    except MamoriError as exc:
        fail(str(exc))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="mamori-enroll", daemon=True)
    thread.start()
    click.echo(f"登録サーバー / enrolment server: https://{host}:{server.server_address[1]}/ (Ctrl-C で停止 / to stop)")
    sys.stdout.flush()
    stop.wait()
    server.shutdown()
    server.server_close()


@click.group()
def sensor() -> None:
    """センサー側の準備 / Setting up this box as a site's sensor."""


@sensor.command("enroll")
@click.option(
    "--central", "central_at", required=True, help="中央サーバーの HOST:PORT（登録サーバー） / enrolment server"
)
@click.option("--code", required=True, help="登録コード / the one-time code (enroll-code)")
@click.option("--fingerprint", "typed_fingerprint", required=True, help="認証局のフィンガープリント / CA fingerprint")
@_CONFIG
def sensor_enroll(central_at: str, code: str, typed_fingerprint: str, config: Path) -> None:
    """この箱を拠点のセンサーとして登録する（鍵はこの箱で作り、外へ出さない） / Enrol this box with the central
    server: its key is made here and never leaves it; the certificate and the central section are written."""
    from mamori.central.enroll import enroll_sensor, replace_settings, settings_with_central
    from mamori.cli.common import action_options
    from mamori.config import settings_from_text
    from mamori.errors import ConfigError

    host, port = _host_port(central_at, "--central")
    try:
        text = config.read_text(encoding="utf-8-sig") if config.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{config}: 読めません（{exc}） / cannot read it ({exc})")
    try:
        enrolled = enroll_sensor(host, port, code, typed_fingerprint, config)
        updated = settings_with_central(text, enrolled)
    except MamoriError as exc:
        fail(str(exc))
    try:
        settings_from_text(updated, source=str(config), action_types=action_options())
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        fail(
            f"証明書は {enrolled.cert.parent} に書きましたが、設定ファイルは変えていません / the certificate is "
            f"written in {enrolled.cert.parent}, the settings file is left as it was"
        )
    backup = replace_settings(config, updated)
    click.echo(
        f"登録しました / enrolled: site {enrolled.site}\n"
        f"  {enrolled.key} (0600), {enrolled.cert}, {enrolled.ca}\n"
        f"  {config}: central（site、servers {', '.join(enrolled.servers)}、tls）"
        + (f"; 以前の内容 / the former file: {backup}" if backup else "")
        + "\n次に / next: systemctl enable --now mamori-publish"
    )
