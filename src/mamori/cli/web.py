"""``mamori web`` (the dashboard) and ``mamori user`` (its accounts). There is no default account or password:
the first administrator is created with ``mamori user add --config FILE NAME --role admin``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from mamori.cli.common import CONFIG_OPTION, fail, load_or_exit
from mamori.cli.compose import compose_dashboard, warn_if_exposed
from mamori.errors import MamoriError

__all__ = ["user", "web"]

_CONFIG = CONFIG_OPTION


def _dashboard(config: Path) -> None:
    """For the account commands: Django configured as the dashboard's (its apps, password rules), the database
    brought up to date."""
    try:
        compose_dashboard(load_or_exit(config))
    except MamoriError as exc:
        fail(str(exc))


@click.command()
@_CONFIG
@click.option("--listen", help="待ち受けアドレス / address:port to listen on (default: web.listen, 127.0.0.1:8080)")
def web(config: Path, listen: str | None) -> None:
    """ダッシュボードを起動する / Serve the web dashboard until SIGINT/SIGTERM."""
    from mamori.config.web import parse_listen

    settings = load_or_exit(config)
    if listen is not None:
        try:
            parse_listen(listen)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--listen") from None
    try:
        # The address served is the one the host names are allowed for (ALLOWED_HOSTS), not the file's.
        parts = compose_dashboard(settings, listen)
    except MamoriError as exc:
        fail(str(exc))
    warn_if_exposed(settings.web, parts.listen)
    from django.contrib.auth import get_user_model

    if not get_user_model().objects.filter(is_active=True).exists():
        click.echo(
            "まだ利用者がいません。次のコマンドで管理者を作成してください / no user yet; create an administrator:\n"
            f"  mamori user add --config {config} NAME --role admin",
            err=True,
        )
    from mamori.web.server import serve
    from mamori.web.setup import wsgi_application

    try:
        serve(settings.web, wsgi_application(), listen=parts.listen)
    except MamoriError as exc:
        fail(str(exc))


@click.group()
def user() -> None:
    """ダッシュボードの利用者 / Dashboard accounts (roles: admin, viewer; on the central server also per site)."""


def _read_password(confirm: bool = True) -> str:
    """From a prompt on a terminal (asked twice), or the first line of standard input otherwise."""
    if sys.stdin.isatty():
        return str(click.prompt("パスワード / password", hide_input=True, confirmation_prompt=confirm))
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _validated_password(name: str) -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    password = _read_password()
    try:
        validate_password(password, user=get_user_model()(username=name))
    except ValidationError as exc:
        for message in exc.messages:
            click.echo(click.style("error: ", fg="red") + message, err=True)
        sys.exit(2)
    return password


_SITE_OPTION = click.option(
    "--site",
    "sites",
    multiple=True,
    help="中央サーバ: このサイトだけの役割（複数可） / central server: the role on this site only (repeatable); "
    "without it, the role on every site",
)


def _set_role(account: object, role: str, sites: tuple[str, ...] = ()) -> None:
    """The group role (every site), or the role on ``sites`` only; an unknown site stops with the known ones."""
    from mamori.web.accounts import UnknownSite, bind_sites, set_group_role

    try:
        if sites:
            bind_sites(account, dict.fromkeys(sites, role))
        else:
            set_group_role(account, role)
    except UnknownSite as exc:
        fail(str(exc), code=2)


def _no_user(name: str) -> NoReturn:
    from django.contrib.auth import get_user_model

    names = ", ".join(get_user_model().objects.order_by("username").values_list("username", flat=True))
    ja, en = (
        (f"利用者: {names}", f"the users: {names}") if names else ("利用者はまだいません", "there are no users yet")
    )
    click.echo(
        click.style("error: ", fg="red") + f"利用者 {name!r} はいません（{ja}） / no user {name!r} ({en})", err=True
    )
    sys.exit(2)


@user.command("add")
@_CONFIG
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "viewer"]),
    required=True,
    help="admin: 変更可 / may change; viewer: 閲覧のみ / read only",
)
@_SITE_OPTION
def user_add(config: Path, name: str, role: str, sites: tuple[str, ...]) -> None:
    """利用者を作成する / Create an account (password from a prompt, or from stdin when not a terminal)."""
    _dashboard(config)
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from mamori.storage.models import AuditEntry

    model = get_user_model()
    if model.objects.filter(username=name).exists():
        click.echo(
            click.style("error: ", fg="red") + f"user {name!r} exists; use `mamori user passwd` or `role`", err=True
        )
        sys.exit(2)
    if sites:
        _known_sites(sites)  # before the password is asked for
    password = _validated_password(name)
    with transaction.atomic():
        account = model.objects.create_user(username=name, password=password)
        _set_role(account, role, sites)
        AuditEntry.objects.create(user="(cli)", action="user.add", target=name, detail=_detail(role, sites))
    click.echo(f"created {name} ({_described(name)}) / 作成しました")


def _known_sites(sites: tuple[str, ...]) -> None:
    from mamori.web.accounts import UnknownSite, known_site_names

    known = known_site_names()
    for site in sites:
        if site not in known:
            fail(str(UnknownSite(site, known)), code=2)


def _detail(role: str, sites: tuple[str, ...]) -> str:
    return f"role={role}" + (f" sites={','.join(sites)}" if sites else " (every site)")


def _described(name: str) -> str:
    from django.contrib.auth import get_user_model

    from mamori.web.accounts import describe_role

    return describe_role(get_user_model().objects.get(username=name))


@user.command("passwd")
@_CONFIG
@click.argument("name")
def user_passwd(config: Path, name: str) -> None:
    """パスワードを変更する / Set a new password."""
    _dashboard(config)
    from django.contrib.auth import get_user_model

    from mamori.storage.models import AuditEntry

    account = get_user_model().objects.filter(username=name).first()
    if account is None:
        _no_user(name)
    account.set_password(_validated_password(name))
    account.save()
    AuditEntry.objects.create(user="(cli)", action="user.passwd", target=name)
    click.echo("password changed / 変更しました")


@user.command("role")
@_CONFIG
@click.argument("name")
@click.argument("role", type=click.Choice(["admin", "viewer"]))
@_SITE_OPTION
def user_role(config: Path, name: str, role: str, sites: tuple[str, ...]) -> None:
    """役割を変更する / Change an account's role: on every site, or (--site) on these sites, keeping its others."""
    _dashboard(config)
    from django.contrib.auth import get_user_model

    from mamori.storage.models import AuditEntry

    account = get_user_model().objects.filter(username=name).first()
    if account is None:
        _no_user(name)
    _set_role(account, role, sites)
    AuditEntry.objects.create(user="(cli)", action="user.role", target=name, detail=_detail(role, sites))
    click.echo(f"{name}: {_described(name)}")


@user.command("sites")
@_CONFIG
@click.argument("name")
@click.option("--remove", "removed", multiple=True, help="このサイトの役割を外す / remove the role on this site")
def user_sites(config: Path, name: str, removed: tuple[str, ...]) -> None:
    """サイト別の役割を表示・削除する / Show an account's roles per site (central server), or remove some."""
    _dashboard(config)
    from django.contrib.auth import get_user_model

    from mamori.storage.models import AuditEntry
    from mamori.web.accounts import unbind_sites
    from mamori.web.roles import role_of

    account = get_user_model().objects.filter(username=name).first()
    if account is None:
        _no_user(name)
    if removed:
        unbind_sites(account, list(removed))
        AuditEntry.objects.create(user="(cli)", action="user.sites", target=name, detail=f"removed {','.join(removed)}")
    described = _described(name)
    click.echo(f"{name}: {described}")
    if role_of(get_user_model().objects.get(username=name)) is None:
        click.echo(
            "この利用者には役割がなく、ログインできません / this account has no role left and cannot log in: "
            f"mamori user role --config {config} {name} viewer [--site SITE]",
            err=True,
        )


@user.command("remove")
@_CONFIG
@click.argument("name")
def user_remove(config: Path, name: str) -> None:
    """利用者を削除する / Remove an account."""
    _dashboard(config)
    from django.contrib.auth import get_user_model

    from mamori.storage.models import AuditEntry

    deleted, _ = get_user_model().objects.filter(username=name).delete()
    if not deleted:
        _no_user(name)
    AuditEntry.objects.create(user="(cli)", action="user.remove", target=name)
    click.echo(f"removed {name}")


@user.command("unlock")
@_CONFIG
@click.argument("name", required=False)
@click.option("--address", help="このアドレスの失敗をすべて消す / clear every failure from this address (a throttle)")
def user_unlock(config: Path, name: str | None, address: str | None) -> None:
    """ロックを解除する / Unlock a user name (from every address) or an address (for every user name)."""
    if name is None and address is None:
        raise click.UsageError("give a user name and/or --address ADDRESS / ユーザー名か --address を指定してください")
    _dashboard(config)
    from axes.utils import reset
    from django.contrib.auth import get_user_model

    from mamori.storage.models import AuditEntry

    if name and not get_user_model().objects.filter(username=name).exists():
        _no_user(name)
    count = reset(ip=address, username=name)  # both given: that user name from that address only
    target = " ".join(v for v in (name, address) if v)
    AuditEntry.objects.create(user="(cli)", action="user.unlock", target=target, detail=f"cleared {count}")
    click.echo(f"unlocked {target} ({count} record(s) cleared) / 解除しました")


@user.command("list")
@_CONFIG
def user_list(config: Path) -> None:
    """利用者の一覧 / List the accounts."""
    _dashboard(config)
    from django.contrib.auth import get_user_model

    from mamori.web.accounts import describe_role

    for account in get_user_model().objects.order_by("username"):
        last = account.last_login.isoformat(timespec="seconds") if account.last_login else "-"
        click.echo(f"{account.username}\t{describe_role(account)}\tlast login {last}")
