"""Upgrades that lose nothing (docs/design.md §12): the schema the code knows against the schema of a database, a
consistent copy of the database and the keys before migrating, and the way back.

The copy is made with SQLite's online backup API (``sqlite3.Connection.backup``): a consistent snapshot even while
the sensor writes in WAL mode, which copying the file (and its -wal) is not. The keys are copied byte for byte. A
``manifest.json`` beside the copies names the schema each app was at, the mamori version and each file's SHA-256,
so a rollback restores only a copy that is whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mamori.errors import StorageError

__all__ = [
    "BackupCopy",
    "SchemaTooNew",
    "applied_migrations",
    "backups",
    "copy_database",
    "make_backup",
    "newer_schema",
    "restore_backup",
    "schema_too_new_message",
]

_MANIFEST = "manifest.json"


class SchemaTooNew(StorageError):
    """The database was written by a newer mamori: this code must not touch it."""


def applied_migrations(path: Path) -> dict[str, list[str]]:
    """The migrations recorded in ``path`` (app -> names in the order applied), read with plain SQLite (read-only;
    Django is not needed). Empty for a missing or new database."""
    if not Path(path).exists():
        return {}
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=20)
    except sqlite3.Error as exc:
        raise StorageError(f"データベース {path} を開けません / cannot open the database {path}: {exc}") from exc
    try:
        rows = connection.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return {}  # no table yet: nothing was ever migrated
    finally:
        connection.close()
    applied: dict[str, list[str]] = {}
    for app, name in rows:
        applied.setdefault(str(app), []).append(str(name))
    return applied


def newer_schema(applied: Mapping[str, Sequence[str]], known: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """The migrations recorded in the database that the code does not have, for the apps the code has (an app not
    installed in this run, such as the dashboard's during ``watch``, is not judged)."""
    newer: dict[str, list[str]] = {}
    for app, names in known.items():
        have = set(names)
        unknown = [name for name in applied.get(app, ()) if name not in have]
        if unknown:
            newer[app] = unknown
    return newer


def schema_too_new_message(path: Path, newer: Mapping[str, Sequence[str]], known: Mapping[str, Iterable[str]]) -> str:
    """Bilingual: which versions the database has, which the code has, and what to do."""
    found = ", ".join(f"{app} {names[-1]}" for app, names in sorted(newer.items()))
    latest = ", ".join(f"{app} {max(known[app]) if known[app] else '-'}" for app in sorted(newer))
    return (
        f"データベース {path} のスキーマ（{found}）は、このプログラムの版（最新 {latest}）より新しいため開きません。"
        "新しい版の mamori をインストールするか、更新前のコピーに戻してください（mamori upgrade --rollback）。 / "
        f"the database {path} has a newer schema ({found}) than this program knows (latest {latest}): it is not "
        "opened. Install the newer mamori, or restore the copy taken before the upgrade (mamori upgrade --rollback)."
    )


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite database ``source`` at ``target`` through the online backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=20)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise StorageError(
            f"データベース {source} を {target} にコピーできません / "
            f"cannot copy the database {source} to {target}: {exc}"
        ) from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class BackupCopy:
    """One copy taken before an upgrade: its folder, when, the version that took it, and the files."""

    folder: Path
    created: str
    version: str
    migrations: Mapping[str, Sequence[str]]
    files: Mapping[str, Mapping[str, str]]  # name in the folder -> {"source": original path, "sha256": ...}


def make_backup(
    database: Path, keys: Iterable[Path], folder: Path, *, version: str, now: dt.datetime | None = None
) -> BackupCopy:
    """Copy ``database`` (online backup) and every existing file of ``keys`` into a new folder under ``folder``
    named by the time; write the manifest last (a copy without one is incomplete and never restored)."""
    now = now or dt.datetime.now(tz=dt.UTC)
    target = folder / now.strftime("%Y%m%dT%H%M%S%fZ")
    target.mkdir(parents=True, exist_ok=False)
    os.chmod(target, 0o700)  # the keys are secrets
    files: dict[str, dict[str, str]] = {}
    if database.exists():
        copy_database(database, target / "mamori.db")
        files["mamori.db"] = {"source": str(database.resolve()), "sha256": _sha256(target / "mamori.db")}
    for index, key in enumerate(keys):
        if not key.is_file():
            continue
        name = f"key-{index}-{key.name}"
        shutil.copy2(key, target / name)
        files[name] = {"source": str(key.resolve()), "sha256": _sha256(target / name)}
    copy = BackupCopy(
        folder=target,
        created=now.isoformat(),
        version=version,
        migrations=applied_migrations(database),
        files=files,
    )
    manifest = {"created": copy.created, "version": version, "migrations": copy.migrations, "files": files}
    (target / _MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return copy


def _read(folder: Path) -> BackupCopy | None:
    try:
        data = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
        return BackupCopy(
            folder=folder,
            created=str(data["created"]),
            version=str(data["version"]),
            migrations={str(k): [str(n) for n in v] for k, v in data["migrations"].items()},
            files={str(k): {"source": str(v["source"]), "sha256": str(v["sha256"])} for k, v in data["files"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def backups(folder: Path) -> list[BackupCopy]:
    """The complete copies under ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = (_read(p) for p in sorted(folder.iterdir()) if p.is_dir())
    return [c for c in found if c is not None]


def restore_backup(copy: BackupCopy) -> list[Path]:
    """Put the copy back: every file is checked against its SHA-256 first (nothing is restored from a damaged
    copy); the database is written through the backup API (the -wal of the replaced one cannot replay over it),
    the keys byte for byte. Returns the paths restored. The services must be stopped."""
    for name, entry in copy.files.items():
        path = copy.folder / name
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            raise StorageError(
                f"更新前のコピー {copy.folder} の {name} が壊れているか欠けています。戻しません / "
                f"{name} in the copy {copy.folder} is missing or damaged: nothing was restored"
            )
    restored = []
    for name, entry in copy.files.items():
        source, target = copy.folder / name, Path(entry["source"])
        if name == "mamori.db":
            for suffix in ("-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            copy_database(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        restored.append(target)
    return restored
