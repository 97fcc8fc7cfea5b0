"""Configure Django's database layer from mamori's settings, lazily (DESIGN.md §5).

The capture and detection path never imports Django; the first store opened in a process configures it. Each
database file gets its own connection alias, so one process (a test, a report job) may open several stores.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

from mamori.errors import StorageError

__all__ = ["check_database_path", "database_alias", "ensure_database", "sqlite_settings"]

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


def sqlite_settings(path: Path) -> dict[str, Any]:
    """Django's DATABASES entry for mamori's SQLite file (the web project uses it as its default)."""
    return _sqlite(path)


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


def _configure_django(default: dict[str, Any]) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DATABASES={"default": default},
            INSTALLED_APPS=["mamori.storage"],
            USE_TZ=True,
            TIME_ZONE="UTC",
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            LOGGING_CONFIG=None,
        )
    django.setup()


def ensure_database(path: Path, *, migrate: bool = True) -> str:
    """Make ``path`` usable through Django's ORM: configure, connect, migrate. Returns the connection alias."""
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
        _configure_django(_sqlite(path))
        from django.db import connections

        if str(connections.databases["default"].get("NAME")) == str(path):
            alias = "default"  # the web project configured Django on this very database: share its connection
        elif alias not in connections.databases:
            connections.databases[alias] = _sqlite(path)
        if migrate and alias not in _migrated:
            from django.core.management import call_command
            from django.db import DatabaseError

            try:
                call_command("migrate", database=alias, verbosity=0, interactive=False)
            except DatabaseError as exc:
                raise _unusable(
                    path, f"開けないか更新できません（{exc}）", f"cannot open or upgrade it ({exc})"
                ) from exc
            _migrated.add(alias)
    return alias
