"""Configure Django's database layer from mamori's settings, lazily (DESIGN.md §5).

The capture and detection path never imports Django; the first store opened in a process configures it. Each
database file gets its own connection alias, so one process (a test, a report job) may open several stores.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from mamori.errors import StorageError

__all__ = ["database_alias", "ensure_database", "sqlite_settings"]

_lock = threading.Lock()
_migrated: set[str] = set()


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the folder for the database {path}: {exc.strerror}") from exc
    alias = database_alias(path)
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
                raise StorageError(f"cannot open or upgrade the database {path}: {exc}") from exc
            _migrated.add(alias)
    return alias
