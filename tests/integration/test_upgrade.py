"""Upgrades lose nothing: a database of the previous release (migrated to storage 0004 by Django's migrate command,
with real rows) is upgraded by `mamori upgrade` after a copy; the copy restores it; a database written by a newer
mamori (a future migration recorded in django_migrations) is refused with both versions named."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import mamori.storage
from mamori.storage.upgrade import applied_migrations
from tests.integration.conftest import MAMORI

OLD = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from mamori.storage.setup import configure_django
    configure_django(Path(sys.argv[1]))
    from django.core.management import call_command
    call_command("migrate", "storage", "0004_dashboard_indexes", verbosity=0)
    """)

# The newest migration of storage, as this code has it (the messages name it).
LATEST = max(p.stem for p in (Path(mamori.storage.__file__).parent / "migrations").glob("0*.py"))


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MAMORI, *args], capture_output=True, text=True, env=env, timeout=120)


def _old_database(tmp_path: Path) -> Path:
    db = tmp_path / "data" / "mamori.db"
    db.parent.mkdir()
    subprocess.run([sys.executable, "-c", OLD, str(db)], check=True)
    with sqlite3.connect(db) as c:
        c.execute(
            "INSERT INTO mamori_alert (uid, rule, key, severity, first_seen, last_seen, count, src_mac, src_ip,"
            " dst_ip, dst_port, system, summary_ja, summary_en, details, samples, origin, created_at, updated_at,"
            " status, status_by, status_comment) VALUES ('u1', 'unregistered-terminal', 'k', 3,"
            " '2025-01-01 00:00:00', '2025-01-01 00:05:00', 4, '02:00:00:00:00:66', '10.0.0.66', '10.0.0.2', 6000,"
            " '透析', '未登録', 'unregistered', '{}', '[]', 'sensor', '2025-01-01 00:00:00', '2025-01-01 00:05:00',"
            " 'open', '', '')"
        )
        c.execute(
            "INSERT INTO mamori_terminal (mac, ip, name, system, note, source, created_at, updated_at)"
            " VALUES ('02:00:00:00:00:12', '10.0.0.12', '透析端末-1', '透析', '', 'import',"
            " '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
        )
    return db


def _rows(db: Path) -> tuple[list, list]:
    with sqlite3.connect(db) as c:
        alerts = c.execute("SELECT uid, rule, count, src_ip, system FROM mamori_alert").fetchall()
        terminals = c.execute("SELECT mac, ip, name FROM mamori_terminal").fetchall()
    return alerts, terminals


def test_upgrade_from_the_previous_release_keeps_everything_and_rolls_back(tmp_path: Path) -> None:
    db = _old_database(tmp_path)
    key = tmp_path / "archive.key"
    site = tmp_path / "site.yaml"
    site.write_text(
        f"storage: {{path: {db}}}\nsystems: []\nsyslog:\n  listen: ['udp://127.0.0.1:5514']\n"
        f"  archive: {{path: {tmp_path}/archive, key: {key}}}\n"
    )
    env = {**os.environ, "MAMORI_DATA_DIR": str(tmp_path / "data")}
    assert _run("archive", "keygen", "--config", str(site), env=env).returncode == 0
    before = _rows(db)
    assert before[0] and before[1]
    assert applied_migrations(db)["storage"][-1] == "0004_dashboard_indexes"

    result = _run("upgrade", "--config", str(site), env=env)
    assert result.returncode == 0, result.stderr
    assert "storage 0005_known_paths" in result.stdout and f"storage {LATEST}" in result.stdout
    assert _rows(db) == before  # nothing lost
    copies = sorted((db.parent / "upgrade-backups").iterdir())
    assert len(copies) == 1
    copied = {p.name for p in copies[0].iterdir()}
    assert {"mamori.db", "manifest.json", "key-0-archive.key", "key-1-archive.pub"} <= copied
    assert applied_migrations(copies[0] / "mamori.db")["storage"][-1] == "0004_dashboard_indexes"

    # the new release wrote something; then the key is lost and the site rolls back
    with sqlite3.connect(db) as c:
        c.execute("UPDATE mamori_alert SET count = 99")
    original_key = key.read_bytes()
    key.write_bytes(b"damaged")
    result = _run("upgrade", "--config", str(site), "--rollback", env=env)
    assert result.returncode == 0, result.stderr
    assert applied_migrations(db)["storage"][-1] == "0004_dashboard_indexes"
    assert _rows(db) == before
    assert key.read_bytes() == original_key
    # and the same release upgrades it again
    assert _run("upgrade", "--config", str(site), env=env).returncode == 0
    assert _rows(db) == before


def test_a_database_from_a_newer_mamori_is_refused(tmp_path: Path) -> None:
    db = _old_database(tmp_path)
    site = tmp_path / "site.yaml"
    site.write_text(f"storage: {{path: {db}}}\nsystems: []\n")
    env = {**os.environ, "MAMORI_DATA_DIR": str(tmp_path / "data")}
    assert _run("upgrade", "--config", str(site), env=env).returncode == 0
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('storage', '0099_future', '2030-01-01')")
    before = (_rows(db), applied_migrations(db))
    for command in (["upgrade"], ["alerts"], ["terminals", "list"]):
        result = _run(*command, "--config", str(site), env=env)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "0099_future" in result.stderr and LATEST in result.stderr
        assert "新しい" in result.stderr and "newer" in result.stderr
    assert not (db.parent / "upgrade-backups").exists() or not any(
        applied_migrations(p / "mamori.db").get("storage", [""])[-1] == "0099_future"
        for p in (db.parent / "upgrade-backups").iterdir()
    )
    assert (_rows(db), applied_migrations(db)) == before  # neither migrated nor written
