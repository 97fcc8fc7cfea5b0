"""Backup jobs in words, for the CLI, the dashboard and the checklist: each job's state, last success and its age,
generations against the declared number, the offline copy and the last restore test with its age.

Text from the settings (job names, paths) and from the tools (errors) is returned as it is: each output escapes it
for its format (the CLI through ``mamori.escape.one_line``, the dashboard through Django's autoescape).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mamori.model import BackupJob, BackupStatus, RestoreTest
from mamori.rules.backups import KIND_WORDS, hours_text

__all__ = ["STATE_WORDS", "JobView", "age_text", "in_language", "job_view"]

STATE_WORDS: dict[str, tuple[str, str]] = {
    "ok": ("正常", "OK"),
    "missed": ("未実施（期限切れ）", "Missed (overdue)"),
    "few-generations": ("世代不足", "Too few generations"),
    "unreadable": ("確認できない", "Cannot be checked"),
    "unchecked": ("未確認", "Not checked yet"),
}


def _w(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "ja" else pair[1]


def age_text(seconds: float | None, lang: str) -> str:
    """``9.0 時間前`` / ``9 h ago``; days from two days on."""
    if seconds is None:
        return "–"
    if seconds < 0:
        seconds = 0.0
    hours = seconds / 3600.0
    if hours < 1 / 60:
        return "たった今" if lang == "ja" else "just now"
    if hours < 1:
        return f"{hours_text(hours, lang)}前" if lang == "ja" else f"{hours_text(hours, lang)} ago"
    if hours >= 48:
        days = int(hours // 24)
        return f"{days} 日前" if lang == "ja" else f"{days} days ago"
    return f"{hours_text(round(hours, 1), lang)}前" if lang == "ja" else f"{hours_text(round(hours, 1), lang)} ago"


def in_language(text: str, lang: str) -> str:
    """One language of a reader's "日本語 / English" message. The message may quote a tool's words (a path, an
    error) in both halves, so the separator is the middle one of the " / " found."""
    marks = []
    start = text.find(" / ")
    while start >= 0:
        marks.append(start)
        start = text.find(" / ", start + 1)
    if len(marks) % 2 == 0:
        return text  # not of that form
    middle = marks[len(marks) // 2]
    return text[:middle] if lang == "ja" else text[middle + 3 :]


def _time(ts: float | None) -> str:
    if ts is None:
        return "–"
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class JobView:
    """One job as shown: every value already in words (not yet escaped)."""

    name: str
    state: str  # the code (ok, missed...), for styling
    state_text: str
    kind: str
    schedule: str
    what: str
    where: str
    last_success: str
    last_success_age: str
    generations: str
    offline: str
    restore_test: str
    restore_test_age: str
    error: str
    checked: str


def job_view(job: BackupJob, status: BackupStatus | None, test: RestoreTest | None, now: float, lang: str) -> JobView:
    state = status.state if status is not None else "unchecked"
    if status is not None and status.generations is not None:
        generations = (
            f"{status.generations}（設定 {job.generations}）"
            if lang == "ja"
            else f"{status.generations} (declared {job.generations})"
        )
    else:
        generations = (
            f"–（設定 {job.generations}、この方法では数えられません）"
            if lang == "ja" and job.kind == "wsb"
            else (f"– (declared {job.generations}; not countable this way)" if job.kind == "wsb" else "–")
        )
    every = hours_text(job.every / 3600, lang)
    margin = hours_text(job.margin / 3600, lang)
    schedule = f"{every}ごと（猶予 {margin}）" if lang == "ja" else f"every {every} (margin {margin})"
    offline = ""
    if job.offline is not None:
        windows = ", ".join(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in job.offline.windows)
        windows = windows or ("なし" if lang == "ja" else "none")
        offline = (
            f"{job.offline.host}（オンライン可: {windows}）"
            if lang == "ja"
            else f"{job.offline.host} (online: {windows})"
        )
    elif job.immutable:
        offline = "変更不可（immutable）" if lang == "ja" else "immutable"
    test_text = test_age = "–"
    if test is not None:
        test_text = (
            f"{test.tested_on} {test.by}: {test.what}"
            if lang == "ja"
            else f"{test.tested_on} by {test.by}: {test.what}"
        )
        tested = dt.datetime.fromisoformat(test.tested_on).replace(tzinfo=dt.datetime.now().astimezone().tzinfo)
        test_age = age_text(now - tested.timestamp(), lang)
    return JobView(
        name=job.name,
        state=state,
        state_text=_w(STATE_WORDS.get(state, (state, state)), lang),
        kind=_w(KIND_WORDS.get(job.kind, (job.kind, job.kind)), lang),
        schedule=schedule,
        what=job.what,
        where=job.where or job.path or job.computer,
        last_success=_time(status.last_success) if status is not None else "–",
        last_success_age=age_text(now - status.last_success, lang)
        if status is not None and status.last_success is not None
        else "–",
        generations=generations,
        offline=offline or "–",
        restore_test=test_text,
        restore_test_age=test_age,
        error=in_language(status.error, lang) if status is not None else "",
        checked=_time(status.checked_at) if status is not None else "–",
    )
