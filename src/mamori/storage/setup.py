"""Django for the store: the one place mamori configures Django, and opening a database (docs/design.md §5).

The capture and detection path never imports Django. A process configures Django once, before it opens a store, in
its composition root (``mamori.cli``, or the entry of a process the runtime spawns) with :func:`configure_django`:
the run's database, and the dashboard's settings when the web is served. A store assumes it is configured. Each
database file gets its own connection alias, so one process (a test, a report job) may open several stores.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mamori.config.central import PostgresSettings
from mamori.errors import StorageError

__all__ = [
    "check_database_path",
    "configure_django",
    "database_alias",
    "django_configured",
    "ensure_database",
    "known_migrations",
    "refuse_newer_schema",
    "storage_settings",
]

_lock = threading.Lock()
_migrated: set[str] = set()
_SQLITE_HEADER = b"SQLite format 3\x00"


def _unusable(path: Path, ja: str, en: str) -> StorageError:
    return StorageError(f"データベース {path} を使えません: {ja} / cannot use the database {path}: {en}")


def _check_folder_takes_files(path: Path) -> None:
    """The database's folder (or, when missing, the nearest folder above it) accepts new files: SQLite makes its
    -wal and -shm files beside the database. Tried for real (a folder made and removed at once): permission bits
    say nothing about /proc, a read-only mount or root."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise _unusable(path, f"{folder} はフォルダではありません", f"{folder} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mamori-check-", dir=folder))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if folder != path.parent:
            ja, en = f"フォルダ {path.parent} を作れません", f"cannot create its folder {path.parent}"
        else:
            ja, en = f"フォルダ {folder} にファイルを作れません", f"cannot create files in its folder {folder}"
        raise _unusable(path, f"{ja}（{reason}）", f"{en} ({reason})") from exc


def check_database_path(path: Path) -> None:
    """Raise :class:`StorageError` (one line naming ``path`` and the reason) unless mamori can use ``path`` as its
    SQLite database: a file that is an SQLite database (or empty, or missing, in a folder that takes new files)."""
    path = Path(path)
    if path.is_dir():
        raise _unusable(path, "フォルダです（ファイルのパスを指定してください）", "it is a folder, not a file")
    if path.exists():
        try:
            with path.open("rb") as f:
                header = f.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise _unusable(path, f"読めません（{exc.strerror}）", f"cannot read it ({exc.strerror})") from exc
        if header and header != _SQLITE_HEADER:
            raise _unusable(path, "SQLite のデータベースではありません", "it is not an SQLite database")
        try:
            connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=20)
            try:
                connection.execute("PRAGMA schema_version").fetchone()
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise _unusable(path, f"開けません（{exc}）", f"cannot open it ({exc})") from exc
    _check_folder_takes_files(path)


def _sqlite(path: Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # WAL: the dashboard reads while the sensor writes. FULL: a committed batch survives a power cut.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=20000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": False,
        "TIME_ZONE": None,
        "TEST": {"CHARSET": None, "COLLATION": None, "MIGRATE": True, "MIRROR": None, "NAME": None},
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
    }


def database_alias(path: Path) -> str:
    return "db_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]


def _database(database: Path | PostgresSettings) -> dict[str, Any]:
    if isinstance(database, PostgresSettings):
        from mamori.storage.postgres import postgres_database

        return postgres_database(database)
    return _sqlite(Path(database).resolve())


def storage_settings(path: Path | PostgresSettings) -> dict[str, Any]:
    """Django's settings for the store alone (``watch``, ``analyze``...: the dashboard's apps are not loaded)."""
    return {
        "DATABASES": {"default": _database(path)},
        "INSTALLED_APPS": ["mamori.storage"],
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "LOGGING_CONFIG": None,
    }


def django_configured() -> bool:
    from django.conf import settings

    return bool(settings.configured)


def configure_django(database: Path | PostgresSettings, extra: Mapping[str, Any] | None = None) -> None:
    """Configure Django for this process: ``database`` is its default database, ``extra`` adds to or replaces the
    store's settings (the dashboard's apps, middleware and host names when the web is served).

    Called once per process, by its composition root, before any store is opened. A second call raises: Django
    keeps its first configuration, so a later one would be ignored without a word."""
    import django
    from django.conf import settings

    values = {**storage_settings(database), **(extra or {})}
    with _lock:
        if settings.configured:
            raise RuntimeError(
                "Django is already configured in this process: configure_django is called once, by the "
                "composition root (docs/design.md §11)"
            )
        settings.configure(**values)
        django.setup()


def ensure_database(path: Path | PostgresSettings, *, migrate: bool = True) -> str:
    """Make ``path`` usable through Django's ORM (configured already): connect, migrate. Returns the connection
    alias: ``default`` for the run's own database, whose migrations then include every installed app's (the
    dashboard's tables too when the web is served). ``path`` may be a PostgreSQL database (the central server)."""
    if not django_configured():
        raise RuntimeError(
            "Django is not configured: the composition root calls mamori.storage.setup.configure_django before "
            "it opens a store (docs/design.md §11)"
        )
    if isinstance(path, PostgresSettings):
        from mamori.storage.postgres import ensure_postgres

        with _lock:
            return ensure_postgres(path, _migrated, migrate=migrate)
    path = path.resolve()
    alias = database_alias(path)
    if alias not in _migrated:
        check_database_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(
            path, f"フォルダを作れません（{exc.strerror}）", f"cannot create its folder ({exc.strerror})"
        ) from exc
    with _lock:
        from django.db import connections

        if str(connections.databases["default"].get("NAME")) == str(path):
            alias = "default"  # the run's database: share Django's own connection
        elif alias not in connections.databases:
            connections.databases[alias] = _sqlite(path)
        if alias not in _migrated:
            refuse_newer_schema(path, alias)
        if migrate and alias not in _migrated:
            from django.core.management import call_command
            from django.db import DatabaseError

            try:
                with _migration_lock(path):
                    call_command("migrate", database=alias, verbosity=0, interactive=False)
            except DatabaseError as exc:
                raise _unusable(
                    path, f"開けないか更新できません（{exc}）", f"cannot open or upgrade it ({exc})"
                ) from exc
            _migrated.add(alias)
    return alias


@contextlib.contextmanager
def _migration_lock(path: Path) -> Iterator[None]:
    """One process at a time migrates a SQLite database: the sensor and `mamori publish` (or the dashboard) started
    together on a database not made yet both created its tables, and the second failed ("table ... already
    exists"; found by tests/integration/test_central_cluster.py). The lock is a file beside the database, never the
    database itself: closing another descriptor of the database would drop SQLite's own locks."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock = path.with_name(path.name + ".migrate-lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # a read-only folder: nobody can migrate there, and migrate says so
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def known_migrations(alias: str = "default") -> dict[str, list[str]]:
    """The migrations this code has, per app installed in this run (Django configured)."""
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connections[alias], load=True, ignore_no_migrations=True)
    known: dict[str, list[str]] = {app: [] for app in loader.migrated_apps}
    for app, name in loader.disk_migrations:
        known.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in known.items()}


def refuse_newer_schema(path: Path, alias: str = "default") -> None:
    """Raise :class:`mamori.storage.upgrade.SchemaTooNew` (bilingual, naming both versions) when the database at
    ``path`` records a migration of an installed app that this code does not have: a newer mamori wrote it, and
    this one must neither migrate nor write it (docs/design.md §12)."""
    from mamori.storage.upgrade import SchemaTooNew, applied_migrations, newer_schema, schema_too_new_message

    applied = applied_migrations(path)
    if not applied:
        return
    known = known_migrations(alias)
    newer = newer_schema(applied, known)
    if newer:
        raise SchemaTooNew(schema_too_new_message(path, newer, known))
