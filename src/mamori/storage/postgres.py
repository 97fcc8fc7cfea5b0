"""PostgreSQL as the store (the central server): Django's connection settings from ``storage.postgresql``, and the
monthly partitions of the tables that grow (docs/design.md §10, central).

The same models and migrations serve SQLite and PostgreSQL. On PostgreSQL, migration 0015 turns ``mamori_alert``
(partitioned by ``first_seen``) and ``mamori_maintenance_session`` (by ``start``) into declaratively partitioned
tables; :func:`ensure_partitions` makes a month's partition before rows of that month are written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from mamori.config.central import PostgresSettings
from mamori.errors import StorageError

__all__ = ["PARTITIONED", "ensure_partitions", "ensure_postgres", "month_partition", "postgres_database"]

log = logging.getLogger(__name__)

# table -> the column it is partitioned on (by month)
PARTITIONED = {"mamori_alert": "first_seen", "mamori_maintenance_session": "start"}


def _password(pg: PostgresSettings) -> str:
    if pg.password_file is None:
        return ""
    try:
        lines = pg.password_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StorageError(
            f"PostgreSQL のパスワードファイル {pg.password_file} を読めません（{exc.strerror}） / "
            f"cannot read the PostgreSQL password file {pg.password_file} ({exc.strerror})"
        ) from exc
    if not lines or not lines[0]:
        raise StorageError(
            f"PostgreSQL のパスワードファイル {pg.password_file} が空です / "
            f"the PostgreSQL password file {pg.password_file} is empty"
        )
    return lines[0]


def postgres_database(pg: PostgresSettings) -> dict[str, Any]:
    """Django's ``DATABASES`` entry for ``pg`` (the password read from its file now)."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": pg.db,
        "USER": pg.user,
        "PASSWORD": _password(pg),
        "HOST": pg.host,
        "PORT": str(pg.port),
        "OPTIONS": {"sslmode": pg.sslmode, "application_name": "mamori"},
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,  # the central server outlives PostgreSQL restarts
        "TIME_ZONE": None,
        "TEST": {"CHARSET": None, "COLLATION": None, "MIGRATE": True, "MIRROR": None, "NAME": None},
    }


def _alias(pg: PostgresSettings) -> str:
    return "pg_" + hashlib.sha256(pg.describe().encode()).hexdigest()[:12]


def ensure_postgres(pg: PostgresSettings, migrated: set[str], *, migrate: bool = True) -> str:
    """Connect to ``pg`` and migrate it (once per process). Returns the connection alias (``default`` when it is the
    run's own database). The caller holds the setup lock."""
    from django.core.management import call_command
    from django.db import DatabaseError, connections

    default = connections.databases["default"]
    same = (
        default.get("ENGINE") == "django.db.backends.postgresql"
        and default.get("NAME") == pg.db
        and default.get("HOST") == pg.host
        and str(default.get("PORT")) == str(pg.port)
        and default.get("USER") == pg.user
    )
    alias = "default" if same else _alias(pg)
    if alias not in connections.databases:
        connections.databases[alias] = postgres_database(pg)
    if migrate and alias not in migrated:
        try:
            call_command("migrate", database=alias, verbosity=0, interactive=False)
        except DatabaseError as exc:
            raise StorageError(
                f"データベース {pg.describe()} を使えません: {exc} / cannot use the database {pg.describe()}: {exc}"
            ) from exc
        migrated.add(alias)
    return alias


def month_partition(table: str, month: dt.date) -> tuple[str, dt.datetime, dt.datetime]:
    """The name and bounds (UTC, [start, end)) of ``table``'s partition holding ``month``."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=dt.UTC)
    return f"{table}_y{month.year:04d}m{month.month:02d}", start, end


def ensure_partitions(alias: str, table: str, months: Iterable[dt.date], known: set[str]) -> None:
    """Make ``table``'s monthly partitions for ``months`` unless they exist (``known`` caches names made or seen).
    A month whose rows already sit in the default partition (written by something that did not ask first) cannot
    get its own partition; its rows stay in the default one, which is said once in the log."""
    from django.db import DatabaseError, connections, transaction

    if table not in PARTITIONED:
        raise ValueError(f"{table} is not partitioned")
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return
    for month in sorted(set(months)):
        name, start, end = month_partition(table, month)
        if name in known:
            continue
        try:
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                cursor.execute(
                    f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table}" FOR VALUES FROM (%s) TO (%s)',
                    [start, end],
                )
        except DatabaseError as exc:
            log.warning("partition %s not made, its rows stay in %s_default: %s", name, table, exc)
        known.add(name)
