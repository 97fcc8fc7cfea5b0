"""The audit log's table moved from the dashboard's app to storage (storage 0016_audit, web 0002): a sensor's
database gets it before the dashboard ever ran, a dashboard's database keeps its rows, and either order of first
start works. Each case in a process of its own (Django is configured once per process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import sys
from pathlib import Path
from mamori.storage.setup import configure_django, ensure_database
db, apps, step = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
web = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions", "axes", "mamori.storage",
       "mamori.web"]
configure_django(db, {"INSTALLED_APPS": web} if apps == "web" else None)
from django.core.management import call_command
from django.db import connection
if step == "old":  # the schema before the move: the dashboard's 0001 made the table; an administrator's entry in it
    call_command("migrate", "storage", "0013_blocks", verbosity=0)
    call_command("migrate", "web", "0001_initial", verbosity=0)
    connection.cursor().execute(
        "INSERT INTO mamori_audit (ts, user, action, target, detail, ip) "
        "VALUES ('2026-01-01 00:00:00', 'kanri', 'block.release', '02:4b:00:00:00:66', '', '127.0.0.1')"
    )
    raise SystemExit(0)
ensure_database(db)
from mamori.storage import AuditLog, Store
AuditLog(Store(db)).write("(sensor)", "block.blocked", "02:4b:00:00:00:66 10.75.0.66", "sw Gi1/0/5 " + apps)
if apps == "web":
    call_command("makemigrations", "--check", "--dry-run", verbosity=1)
print(sorted((u, a) for u, a in connection.cursor().execute("SELECT user, action FROM mamori_audit")))
"""


def _run(db: Path, apps: str, step: str = "new") -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(db), apps, step], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("first", ["storage", "web"])
def test_either_app_may_make_the_table_first(tmp_path: Path, first: str) -> None:
    db = tmp_path / "mamori.db"
    _run(db, first)
    out = _run(db, "web" if first == "storage" else "storage")
    assert "[('(sensor)', 'block.blocked'), ('(sensor)', 'block.blocked')]" in out


def test_the_dashboards_entries_are_kept_when_the_table_moves(tmp_path: Path) -> None:
    db = tmp_path / "mamori.db"
    _run(db, "web", "old")
    out = _run(db, "web")
    assert "No changes detected" in out
    assert "[('(sensor)', 'block.blocked'), ('kanri', 'block.release')]" in out
