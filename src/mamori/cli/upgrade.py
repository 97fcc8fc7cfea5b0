"""``mamori upgrade``: a consistent copy of the database and the keys, then the migrations; ``--rollback`` puts the
copy back (docs/design.md §12)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import click

from mamori.cli.common import CONFIG_OPTION, fail, load_or_exit
from mamori.config import Settings
from mamori.errors import MamoriError

__all__ = ["upgrade"]


def _keys(settings: Settings) -> list[Path]:
    """The files an upgrade must not lose besides the database: the archive's keys, the key-backup record and the
    dashboard's secret key."""
    keys: list[Path] = []
    if settings.syslog is not None:
        from mamori.runtime.collector import key_path
        from mamori.runtime.doctor import key_backup_record

        key = key_path(settings)
        keys += [key, key.with_suffix(".pub"), key_backup_record(key)]
        if settings.syslog.archive.public_key is not None:
            keys.append(settings.syslog.archive.public_key)
    keys.append(settings.web.secret_key_file or settings.data_dir / "web-secret.key")
    return keys


def _folder(settings: Settings) -> Path:
    return settings.database_path.parent / "upgrade-backups"


@click.command()
@CONFIG_OPTION
@click.option("--rollback", is_flag=True, help="更新前のコピーに戻す / restore the copy taken before the last upgrade.")
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path, file_okay=False),
    help="戻すコピーのフォルダ（既定: 最新） / the copy to restore (default: the newest).",
)
@click.option("--list", "list_only", is_flag=True, help="更新前のコピーの一覧 / list the copies.")
def upgrade(config: Path, rollback: bool, source: Path | None, list_only: bool) -> None:
    """データベースを更新する（先にコピー） / Upgrade the database, after a consistent copy.

    \b
    サービスを止めてから実行します（systemctl stop 'mamori-*'）。データベース（SQLite のオンライン
    バックアップ）と署名鍵・秘密鍵をデータフォルダの upgrade-backups/ にコピーしてから、スキーマを更新します。
    このプログラムより新しいスキーマのデータベースは開きません。--rollback でコピーに戻します。 /
    Stop the services first. Copies the database (SQLite online backup) and the keys into upgrade-backups/ beside
    the database, then migrates. A database newer than this program is refused. --rollback restores the copy.
    """
    from mamori.storage.upgrade import backups, restore_backup

    settings = load_or_exit(config)
    folder = _folder(settings)
    if list_only:
        for copy in backups(folder):
            latest = ", ".join(f"{app} {names[-1]}" for app, names in sorted(copy.migrations.items()) if names)
            click.echo(f"{copy.folder}  {copy.created}  mamori {copy.version}  {latest or '-'}")
        return
    if rollback:
        found = backups(folder)
        chosen = next((c for c in found if source and c.folder.resolve() == source.resolve()), None)
        if source is None and found:
            chosen = found[-1]
        if chosen is None:
            fail(
                f"{source or folder} に更新前のコピーがありません / "
                f"no copy taken before an upgrade in {source or folder}"
            )
        try:
            restored = restore_backup(chosen)
        except MamoriError as exc:
            fail(str(exc))
        for path in restored:
            click.echo(f"戻しました / restored: {path}")
        click.echo(f"{chosen.folder}（{chosen.created}、mamori {chosen.version}）に戻しました / rolled back", err=True)
        return
    _upgrade(settings, folder)


def _upgrade(settings: Settings, folder: Path) -> None:
    from mamori.cli.compose import WebRun, configure_run
    from mamori.storage import Store, check_database_path
    from mamori.storage.setup import refuse_newer_schema
    from mamori.storage.upgrade import applied_migrations, make_backup

    database = settings.database_path
    version = metadata.version("mamori")
    try:
        check_database_path(database)
        key_file = settings.web.secret_key_file or settings.data_dir / "web-secret.key"
        # the dashboard's apps too: an upgrade migrates every table, the dashboard's included
        configure_run(database, WebRun(settings.web, settings.web.listen, key_file))
        before = applied_migrations(database)
        if before:
            refuse_newer_schema(database)
            copy = make_backup(database, _keys(settings), folder, version=version)
            click.echo(f"コピーしました / copied: {copy.folder} ({', '.join(copy.files)})")
        Store(database).close()
    except MamoriError as exc:
        fail(str(exc))
    after = applied_migrations(database)
    added = [
        f"{app} {name}" for app, names in sorted(after.items()) for name in names if name not in before.get(app, [])
    ]
    click.echo(f"更新しました / migrated: {', '.join(added) or 'なし / nothing to do'}")
    click.echo(f"mamori {version}: {database} は最新です / is up to date", err=True)
