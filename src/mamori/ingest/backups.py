"""Readers of backup evidence, without agents (docs/design.md §10): a folder of generations mounted on the box,
restic and borg repositories through the real tools, and Windows Server Backup's events.

Readers only read and decode: they never write to what they read (``restic --no-lock --no-cache``, ``borg
--bypass-lock``, ``os.scandir`` without following symbolic links) and know no rule. What they cannot read becomes
``BackupEvidence.error`` in words, never an exception.

- **Folder**: each entry of the folder is one generation (a dated file, or a dated folder of files); its time is
  its newest file's modification time. The walk is bounded (``max_entries``, ``max_depth``), never follows a
  symbolic link (links are counted in ``skipped``), and hidden entries and ``lost+found`` are not generations.
- **restic**: ``restic snapshots --json``; **borg**: ``borg list --json``. Each is run with an argument list (no
  shell), a minimal environment and a timeout; the password goes through the environment (``RESTIC_PASSWORD_FILE``
  / ``RESTIC_PASSWORD``, ``BORG_PASSPHRASE``), never on the command line.
- **Windows Server Backup** (channel Microsoft-Windows-Backup): event 4 is a success; 5, 8, 9, 17-22, 25, 50, 517,
  518, 521, 527, 528, 544-546, 561, 564 and 565 are failures; 524 (the catalog deleted) is the backup-deleted rule's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mamori.model import BackupEvidence, BackupJob, WindowsEvent

__all__ = [
    "WSB_CHANNEL",
    "WSB_FAILURES",
    "WSB_SUCCESS",
    "RepositoryTool",
    "read_borg",
    "read_folder",
    "read_restic",
    "wsb_evidence",
]

WSB_CHANNEL = "microsoft-windows-backup"
WSB_SUCCESS = 4
WSB_FAILURES: frozenset[int] = frozenset(
    {5, 8, 9, 17, 18, 19, 20, 21, 22, 25, 50, 517, 518, 521, 527, 528, 544, 545, 546, 561, 564, 565}
)
_NOT_GENERATIONS = frozenset({"lost+found", "$recycle.bin", "system volume information"})
_ERROR_CHARS = 300


# -- a folder of generations ------------------------------------------------------------------------------------------


@dataclass
class _Walk:
    budget: int
    max_depth: int
    skipped: int = 0
    truncated: bool = False

    def newest(self, folder: str, depth: int) -> float | None:
        """The newest regular file's modification time under ``folder``, within the budget; links not followed."""
        if depth > self.max_depth:
            self.truncated = True
            return None
        newest: float | None = None
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if self.budget <= 0:
                        self.truncated = True
                        return newest
                    self.budget -= 1
                    found = self._time_of(entry, depth)
                    if found is not None and (newest is None or found > newest):
                        newest = found
        except OSError:
            self.skipped += 1
        return newest

    def _time_of(self, entry: os.DirEntry[str], depth: int) -> float | None:
        try:
            if entry.is_symlink():
                self.skipped += 1
                return None
            if entry.is_file(follow_symlinks=False):
                return entry.stat(follow_symlinks=False).st_mtime
            if entry.is_dir(follow_symlinks=False):
                return self.newest(entry.path, depth + 1)
        except OSError:
            self.skipped += 1
        return None


def read_folder(job: BackupJob, now: float, *, max_entries: int = 200_000, max_depth: int = 8) -> BackupEvidence:
    """The generations in the folder ``job.path`` and the newest one's time."""
    base = BackupEvidence(job=job.name, kind=job.kind, read_at=now, source=job.path)
    try:
        info = os.stat(job.path, follow_symlinks=False)
    except FileNotFoundError:
        return _failed(base, "フォルダがありません（マウントされていない？）", "no such folder (not mounted?)")
    except OSError as exc:
        return _failed(base, f"フォルダを読めません（{exc.strerror}）", f"cannot read the folder ({exc.strerror})")
    if stat.S_ISLNK(info.st_mode):
        return _failed(base, "シンボリックリンクはたどりません", "a symbolic link is not followed")
    if not stat.S_ISDIR(info.st_mode):
        return _failed(base, "フォルダではありません", "not a folder")
    walk = _Walk(budget=max_entries, max_depth=max_depth)
    times: list[float] = []
    try:
        with os.scandir(job.path) as entries:
            for entry in entries:
                if walk.budget <= 0:
                    walk.truncated = True
                    break
                walk.budget -= 1
                name = entry.name
                if name.startswith(".") or name.lower() in _NOT_GENERATIONS:
                    continue
                found = walk._time_of(entry, 1)
                if found is not None:
                    times.append(found)
    except OSError as exc:
        return _failed(base, f"フォルダを読めません（{exc.strerror}）", f"cannot read the folder ({exc.strerror})")
    error = ""
    if walk.truncated:
        error = _both(
            f"項目が多すぎるため {max_entries:,} 個（深さ {max_depth}）までしか見ていません",
            f"too many entries: only {max_entries:,} were looked at (depth {max_depth})",
        )
    return BackupEvidence(
        job=job.name,
        kind=job.kind,
        read_at=now,
        last_success=max(times) if times else None,
        generations=len(times),
        oldest=min(times) if times else None,
        error=error,
        skipped=walk.skipped,
        source=job.path,
    )


# -- restic and borg ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepositoryTool:
    """How a repository tool is run: its program and a timeout. ``environ`` is the environment of mamori's process
    (given by the CLI), read only for the variable a job's ``password_env`` names and for PATH/HOME."""

    program: str
    timeout: float = 120.0
    environ: Mapping[str, str] | None = None


def _child_env(tool: RepositoryTool) -> dict[str, str]:
    environ = tool.environ or {}
    env = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    for name in ("PATH", "HOME"):
        if name in environ:
            env[name] = environ[name]
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


def _password(job: BackupJob, tool: RepositoryTool) -> tuple[str | None, str]:
    """(the password, "") or (None, why not)."""
    if job.password_env:
        value = (tool.environ or {}).get(job.password_env)
        if not value:
            return None, _both(
                f"環境変数 {job.password_env} がありません（パスワード）",
                f"the environment variable {job.password_env} (the password) is not set",
            )
        return value, ""
    if job.password_file:
        try:
            text = Path(job.password_file).read_text(encoding="utf-8")
        except OSError as exc:
            return None, _both(
                f"パスワードのファイルを読めません（{exc.strerror}）", f"cannot read the password file ({exc.strerror})"
            )
        line = text.splitlines()[0] if text else ""
        if not line:
            return None, _both("パスワードのファイルが空です", "the password file is empty")
        return line, ""
    return None, _both("パスワードの指定がありません", "no password given (password_file or password_env)")


def _run(argv: list[str], env: dict[str, str], timeout: float) -> tuple[str | None, str]:
    """(stdout, "") or (None, why it failed) — the tool's own last error line, shortened."""
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        return None, _both(f"{argv[0]} がインストールされていません", f"{argv[0]} is not installed")
    except subprocess.TimeoutExpired:
        return None, _both(
            f"{argv[0]} が {timeout:.0f} 秒で終わりません", f"{argv[0]} did not finish in {timeout:.0f} s"
        )
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        last = (lines[-1] if lines else f"exit status {done.returncode}").strip()[:_ERROR_CHARS]
        return None, _both(f"{argv[0]} がエラーを返しました: {last}", f"{argv[0]} failed: {last}")
    return done.stdout.decode("utf-8", "replace"), ""


def _time(text: object) -> float | None:
    """restic's RFC 3339 with nanoseconds, borg's ISO time (local when it has no offset)."""
    if not isinstance(text, str) or not text:
        return None
    value = text.strip().replace("Z", "+00:00")
    head, dot, rest = value.partition(".")
    if dot:  # at most microseconds for Python
        digits = "".join(c for c in rest if c.isdigit())
        value = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # borg writes the repository machine's local time; taken as this machine's
    return parsed.timestamp()


def _snapshots(base: BackupEvidence, times: list[float | None], unreadable: int) -> BackupEvidence:
    good = [t for t in times if t is not None]
    return BackupEvidence(
        job=base.job,
        kind=base.kind,
        read_at=base.read_at,
        last_success=max(good) if good else None,
        generations=len(good),
        oldest=min(good) if good else None,
        skipped=unreadable + len(times) - len(good),
        source=base.source,
    )


def read_restic(job: BackupJob, now: float, tool: RepositoryTool) -> BackupEvidence:
    """``restic snapshots --json`` of the repository ``job.path``: one generation per snapshot."""
    base = BackupEvidence(job=job.name, kind=job.kind, read_at=now, source=job.path)
    env = _child_env(tool)
    if job.password_file and not job.password_env:
        if not os.access(job.password_file, os.R_OK):
            return _failed(base, "パスワードのファイルを読めません", "cannot read the password file")
        env["RESTIC_PASSWORD_FILE"] = job.password_file
    else:
        password, why = _password(job, tool)
        if password is None:
            return _plain_failed(base, why)
        env["RESTIC_PASSWORD"] = password
    argv = [tool.program, "--repo", job.path, "--no-lock", "--no-cache", "--quiet", "snapshots", "--json"]
    out, why = _run(argv, env, tool.timeout)
    if out is None:
        return _plain_failed(base, why)
    try:
        items = json.loads(out or "[]")
    except ValueError:
        return _failed(base, "restic の出力を読めません", "restic's output cannot be read")
    if not isinstance(items, list):
        return _failed(base, "restic の出力を読めません", "restic's output cannot be read")
    times = [_time(item.get("time")) if isinstance(item, dict) else None for item in items]
    return _snapshots(base, times, 0)


def read_borg(job: BackupJob, now: float, tool: RepositoryTool) -> BackupEvidence:
    """``borg list --json`` of the repository ``job.path``: one generation per archive."""
    base = BackupEvidence(job=job.name, kind=job.kind, read_at=now, source=job.path)
    password, why = _password(job, tool)
    if password is None:
        return _plain_failed(base, why)
    env = _child_env(tool)
    env["BORG_PASSPHRASE"] = password
    env["BORG_RELOCATED_REPO_ACCESS_IS_OK"] = "no"
    env["BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK"] = "no"
    argv = [tool.program, "--bypass-lock", "list", "--json", "--", job.path]
    out, why = _run(argv, env, tool.timeout)
    if out is None:
        return _plain_failed(base, why)
    try:
        data = json.loads(out or "{}")
    except ValueError:
        return _failed(base, "borg の出力を読めません", "borg's output cannot be read")
    archives = data.get("archives") if isinstance(data, dict) else None
    if not isinstance(archives, list):
        return _failed(base, "borg の出力を読めません", "borg's output cannot be read")
    times = [_time(a.get("time") or a.get("start")) if isinstance(a, dict) else None for a in archives]
    return _snapshots(base, times, 0)


# -- Windows Server Backup's events ------------------------------------------------------------------------------------


def _same_computer(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower() or a.split(".", 1)[0].lower() == b.split(".", 1)[0].lower()


def wsb_evidence(
    job: BackupJob, now: float, events: Iterable[WindowsEvent], *, unreadable: int = 0, problem: str = ""
) -> BackupEvidence:
    """The newest success (event 4) and the newest failure of ``job.computer`` among ``events``; events of other
    computers are counted in ``skipped``. ``unreadable``/``problem``: what the file readers could not read."""
    last_success: float | None = None
    last_failure: float | None = None
    failure = ""
    skipped = unreadable
    seen = 0
    for event in events:
        if event.channel.lower() != WSB_CHANNEL:
            continue
        if not _same_computer(event.computer, job.computer):
            skipped += 1
            continue
        seen += 1
        if event.event_id == WSB_SUCCESS:
            if last_success is None or event.ts > last_success:
                last_success = event.ts
        elif event.event_id in WSB_FAILURES and (last_failure is None or event.ts > last_failure):
            last_failure = event.ts
            code = (event.fields.get("HRESULT") or event.fields.get("ErrorCode") or "").strip()
            failure = f"Windows Server Backup {event.event_id}" + (f" ({code[:40]})" if code else "")
    error = problem
    if not seen and not error:
        error = _both(
            f"{job.computer} の Windows Server Backup のイベントが見つかりません",
            f"no Windows Server Backup events of {job.computer} were found",
        )
    return BackupEvidence(
        job=job.name,
        kind=job.kind,
        read_at=now,
        last_success=last_success,
        generations=None,
        last_failure=last_failure,
        failure=failure,
        error=error if last_success is None else "",
        skipped=skipped,
        source=", ".join(job.logs),
    )


# -- words -------------------------------------------------------------------------------------------------------------


def _both(ja: str, en: str) -> str:
    return f"{ja} / {en}"


def _failed(base: BackupEvidence, ja: str, en: str) -> BackupEvidence:
    return _plain_failed(base, _both(ja, en))


def _plain_failed(base: BackupEvidence, why: str) -> BackupEvidence:
    return BackupEvidence(job=base.job, kind=base.kind, read_at=base.read_at, error=why, source=base.source)
