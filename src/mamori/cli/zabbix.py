"""``mamori zabbix-template``: print the Zabbix 6.0 template that shows mamori's alerts as problems."""

from __future__ import annotations

import click

from mamori.alerting.zabbix_template import DEFAULT_PREFIX, DEFAULT_TEMPLATE, build_template

__all__ = ["zabbix_template"]


@click.command("zabbix-template")
@click.option(
    "--prefix",
    default=DEFAULT_PREFIX,
    show_default=True,
    help="アイテムキーの接頭辞（zabbix アクションの key_prefix と同じに） / item key prefix "
    "(the zabbix action's key_prefix).",
)
@click.option(
    "--name",
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="テンプレート名 / template name.",
)
def zabbix_template(prefix: str, name: str) -> None:
    """Zabbix 6.0 テンプレート（YAML）を出力する / Print the Zabbix 6.0 template (YAML) for mamori's alerts.

    \b
    例 / example:
      mamori zabbix-template > mamori_zabbix.yaml
    Zabbix の「設定 → テンプレート → インポート」で読み込み、ホスト（名前は zabbix アクションの host）に
    リンクします。/ Import it in Zabbix (Configuration → Templates → Import) and link it to a host named as
    the zabbix action's `host`.
    """
    try:
        text = build_template(name=name, prefix=prefix)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(text, nl=False)
