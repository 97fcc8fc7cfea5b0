"""Backup jobs in the settings file: the schema, the checks across jobs, and the model values.

```yaml
backups:
  - {name: 電子カルテ, path: /mnt/backup/emr, every: 24h, generations: 7}        # a folder of generations
  - name: 電子カルテ（restic）
    kind: restic                          # folder (default) | restic | borg | wsb
    path: /mnt/nas/restic-emr             # the repository
    password_file: /etc/mamori/restic-emr.pass      # or password_env: RESTIC_EMR_PASSWORD
    every: 24h
    generations: 14
    margin: 3h                            # default: a quarter of `every`, at most 6 h
    what: 電子カルテの DB
    where: バックアップ NAS（オフライン）
    offline: {host: 10.4.0.50, online: "02:00-04:00", timezone: Asia/Tokyo}
  - {name: ファイルサーバ, kind: wsb, computer: FS01, logs: [/srv/logs/fs01], every: 24h, generations: 7}
```

A job's evidence is read without agents (docs/design.md §10): ``folder`` counts the generations (the entries of the
folder) and the newest file's age; ``restic``/``borg`` list the repository's snapshots/archives with the real tools;
``wsb`` reads Windows Server Backup's events of ``computer`` from the .evtx files or forwarded-event files under
``logs``. ``offline`` is the copy meant to be offline: its host seen on the network outside ``online`` is an alert.
Passwords are never written in this file: ``password_file`` names a file, ``password_env`` an environment variable.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from mamori.config.messages import bilingual
from mamori.config.values import Duration, Ip, Mac, Strict, Zone
from mamori.model import BackupJob, OfflineCopy

__all__ = ["BackupIn", "OfflineIn", "backup_checks", "backups_of", "parse_windows", "resolve_backup_paths"]

_Path = tuple[str | int, ...]
Problem = Callable[[_Path, str], None]
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_MAX_MARGIN = 6 * 3600.0


def _window(text: str) -> tuple[int, int]:
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError(
            bilingual(
                f'オンラインの時間帯は "02:00-04:00" のように書いてください（{text!r} ではなく）',
                f'write the online window as "02:00-04:00", not {text!r}',
            )
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59 or (h1 == 24 and m1) or (h2 == 24 and m2):
        raise ValueError(
            bilingual(f"{text!r} は時刻として読めません（00:00-24:00）", f"{text!r} is not a time of day (00:00-24:00)")
        )
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(bilingual(f"{text!r} は長さがありません", f"{text!r} is empty (it starts where it ends)"))
    return start, end


def parse_windows(value: Any) -> tuple[tuple[int, int], ...]:
    """``"02:00-04:00"`` or a list of them -> ((120, 240),); ``[]`` means never online."""
    if isinstance(value, tuple) and all(isinstance(v, tuple) for v in value):
        return value  # parsed already
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError(
            bilingual(
                '時間帯は "02:00-04:00" か、そのリストで書いてください', 'write "02:00-04:00" or a list of such windows'
            )
        )
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(bilingual('時間帯は "02:00-04:00" のように書いてください', 'write "02:00-04:00"'))
        out.append(_window(item))
    return tuple(out)


Windows = Annotated[tuple[tuple[int, int], ...], BeforeValidator(parse_windows)]


class OfflineIn(Strict):
    host: Ip
    mac: Mac | None = None
    online: Windows = Field(default=(), description='times of day it may be online, e.g. "02:00-04:00"')
    timezone: Zone | None = None


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class BackupIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["folder", "restic", "borg", "wsb"] = "folder"
    path: str = Field("", max_length=4096)
    every: Duration = Field(gt=0)
    generations: int = Field(ge=1, le=100_000)
    margin: Duration | None = None
    what: str = Field("", max_length=500)
    where: str = Field("", max_length=500)
    computer: str = Field("", max_length=255)
    logs: Annotated[tuple[str, ...], BeforeValidator(_one_or_many)] = ()
    password_file: str | None = Field(None, min_length=1, max_length=4096)
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    offline: OfflineIn | None = None
    immutable: bool = False
    note: str = Field("", max_length=1000)
    password: Any = Field(None, exclude=True)  # refused with its reason (below), never kept

    @field_validator("password")
    @classmethod
    def _no_password(cls, value: Any) -> None:
        raise ValueError(
            bilingual(
                "パスワードを設定ファイルに書かないでください。password_file（ファイル）か password_env（環境変数"
                "の名前）を使ってください",
                "do not write a password in the settings file; use password_file (a file) or password_env (the "
                "name of an environment variable)",
            )
        )


def _margin(job: BackupIn) -> float:
    return job.margin if job.margin is not None else min(job.every / 4, _MAX_MARGIN)


def backups_of(items: tuple[BackupIn, ...]) -> tuple[BackupJob, ...]:
    return tuple(
        BackupJob(
            name=j.name,
            kind=j.kind,
            every=j.every,
            generations=j.generations,
            margin=_margin(j),
            path=j.path,
            what=j.what,
            where=j.where,
            computer=j.computer,
            logs=j.logs,
            password_file=j.password_file,
            password_env=j.password_env,
            offline=(
                OfflineCopy(
                    host=j.offline.host, windows=j.offline.online, mac=j.offline.mac, timezone=j.offline.timezone
                )
                if j.offline is not None
                else None
            ),
            immutable=j.immutable,
            note=j.note,
        )
        for j in items
    )


def resolve_backup_paths(jobs: tuple[BackupJob, ...], base: Path) -> tuple[BackupJob, ...]:
    """Relative paths (folder, repository, logs, password file) taken relative to ``base``, the settings file's
    folder."""

    def where(text: str) -> str:
        return text if not text or Path(text).is_absolute() else str(base / text)

    return tuple(
        dataclasses.replace(
            j,
            path=where(j.path),
            logs=tuple(where(p) for p in j.logs),
            password_file=where(j.password_file) if j.password_file else None,
        )
        for j in jobs
    )


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def backup_checks(raw: dict[str, Any], problem: Problem) -> None:
    """Names used twice; what each kind needs (a folder or repository path, a computer and its logs, a password
    for a repository)."""
    names: dict[str, int] = {}
    for index, job in _items(raw.get("backups")):
        path: _Path = ("backups", index)
        name = job.get("name")
        if isinstance(name, str) and name.strip():
            key = name.strip()
            if key in names:
                problem(
                    (*path, "name"),
                    bilingual(
                        f"バックアップ名 {key!r} は 2 回使われています（backups[{names[key]}]）",
                        f"backup name {key!r} is used twice (backups[{names[key]}])",
                    ),
                )
            names.setdefault(key, index)
        kind = job.get("kind", "folder")
        if kind in ("folder", "restic", "borg") and not job.get("path"):
            problem(
                (*path, "path"),
                bilingual(
                    f"{kind} のバックアップには path（フォルダまたはリポジトリの場所）が必要です",
                    f"a {kind} backup needs a path (the folder or the repository)",
                ),
            )
        if kind in ("restic", "borg") and not job.get("password_file") and not job.get("password_env"):
            problem(
                path,
                bilingual(
                    f"{kind} のリポジトリには password_file か password_env が必要です",
                    f"a {kind} repository needs password_file or password_env",
                ),
            )
        if kind == "wsb":
            if not job.get("computer"):
                problem(
                    (*path, "computer"),
                    bilingual(
                        "Windows Server Backup（wsb）には computer（バックアップを取るコンピュータ名）が必要です",
                        "a Windows Server Backup job (wsb) needs computer (the computer that takes the backup)",
                    ),
                )
            if not job.get("logs"):
                problem(
                    (*path, "logs"),
                    bilingual(
                        "Windows Server Backup（wsb）には logs（.evtx か転送されたイベントのファイル・フォルダ）が"
                        "必要です",
                        "a Windows Server Backup job (wsb) needs logs (.evtx or forwarded-event files or folders)",
                    ),
                )
