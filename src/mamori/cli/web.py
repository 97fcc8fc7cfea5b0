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
    """ダッシュボードの利用者 / Dashboard accounts (roles: admin, viewer)."""


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


def _set_role(account: object, role: str) -> None:
    from django.contrib.auth.models import Group

    from mamori.web.roles import ROLES

    groups = account.groups  # type: ignore[attr-defined]
    groups.remove(*Group.objects.filter(name__in=ROLES))
    groups.add(Group.objects.get_or_create(name=role)[0])


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
def user_add(config: Path, name: str, role: str) -> None:
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
    password = _validated_password(name)
    with transaction.atomic():
        account = model.objects.create_user(username=name, password=password)
        _set_role(account, role)
        AuditEntry.objects.create(user="(cli)", action="user.add", target=name, detail=f"role={role}")
    click.echo(f"created {name} ({role}) / 作成しました")


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
def user_role(config: Path, name: str, role: str) -> None:
    """役割を変更する / Change an account's role."""
    _dashboard(config)
    from django.contrib.auth import get_user_model

    from mamori.storage.models import AuditEntry

    account = get_user_model().objects.filter(username=name).first()
    if account is None:
        _no_user(name)
    _set_role(account, role)
    AuditEntry.objects.create(user="(cli)", action="user.role", target=name, detail=f"role={role}")
    click.echo(f"{name}: {role}")


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

    from mamori.web.roles import role_of

    for account in get_user_model().objects.order_by("username"):
        last = account.last_login.isoformat(timespec="seconds") if account.last_login else "-"
        click.echo(f"{account.username}\t{role_of(account) or '-'}\tlast login {last}")
