"""The backup rules' decisions: ``backup-missed`` and ``backup-generations`` from a job's evidence at a check, and
``backup-offline-exposed`` from what the sensor sees on the wire (a network detector).

**One state, one alert.** A job missed at one check and still missed at the next is the same alert, its count and
``last_seen`` growing and its facts (age, error) refreshed; when a success is seen again the alert is marked
recovered and its episode ends, so the next miss is a new alert. The checks run in separate processes (``mamori
backups`` from cron, the sensor's own schedule): each restores the open backup alerts from the store before
checking (``BackupChecker.restore``), so the episode continues whoever checks.

The offline copy: an ARP packet whose sender is the copy's address (or MAC), or a SYN or an answer from it, outside
its online window (local time in the window's time zone) is an alert; one per host until it has been quiet for an
hour. An ARP request *for* the address says nothing about the host and is not counted.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Iterable
from functools import cache

from mamori.detection.book import AlertBook
from mamori.detection.site_index import SiteIndex
from mamori.model import (
    Alert,
    ArpObservation,
    BackupEvidence,
    BackupJob,
    BackupStatus,
    ConnectionAttempt,
    OfflineCopy,
    PortResponse,
    Severity,
)

__all__ = [
    "CHECKED_RULES",
    "BackupChecker",
    "OfflineExposureDetector",
    "in_window",
    "local_text",
    "window_text",
]

MISSED = "backup-missed"
GENERATIONS = "backup-generations"
OFFLINE = "backup-offline-exposed"
CHECKED_RULES = (MISSED, GENERATIONS)
_OFFLINE_QUIET = 3600.0


def local_text(ts: float, zone: str | None = None) -> str:
    """``2026-11-30 13:05 +09:00``: minutes, in ``zone`` (None: this machine's time zone), with the offset."""
    tz = _zone(zone)
    when = dt.datetime.fromtimestamp(ts, tz=tz) if tz is not None else dt.datetime.fromtimestamp(ts).astimezone()
    return when.strftime("%Y-%m-%d %H:%M %z")[:-2] + ":" + when.strftime("%z")[-2:]


@cache
def _zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    return zoneinfo.ZoneInfo(name) if name else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600.0, 1)


class BackupChecker:
    """Judges each job's evidence at a check; the alerts go into ``book`` (collect them with
    ``book.collect_changes``)."""

    def __init__(self, book: AlertBook, *, local: Callable[[float], str] = local_text) -> None:
        self.book = book
        self.local = local

    def restore(self, alerts: Iterable[Alert]) -> int:
        """Continue the open episodes of earlier checks (their uids carry on)."""
        n = 0
        for alert in alerts:
            if alert.rule in CHECKED_RULES and not (alert.details.get("recovered_at")):
                self.book.restore(alert)
                n += 1
        return n

    def check(self, job: BackupJob, evidence: BackupEvidence, now: float) -> BackupStatus:
        due_at = evidence.last_success + job.every + job.margin if evidence.last_success is not None else None
        missed = due_at is None or now > due_at
        few = evidence.generations is not None and evidence.generations < job.generations
        self._missed(job, evidence, now, missed)
        self._generations(job, evidence, now, few)
        if missed and evidence.last_success is None and evidence.error:
            state = "unreadable"
        elif missed:
            state = "missed"
        elif few:
            state = "few-generations"
        else:
            state = "ok"
        return BackupStatus(
            job=job.name,
            kind=job.kind,
            checked_at=now,
            state=state,
            expected=job.generations,
            last_success=evidence.last_success,
            generations=evidence.generations,
            oldest=evidence.oldest,
            due_at=due_at,
            last_failure=evidence.last_failure,
            failure=evidence.failure,
            error=evidence.error,
            skipped=evidence.skipped,
            source=evidence.source,
        )

    def _missed(self, job: BackupJob, evidence: BackupEvidence, now: float, missed: bool) -> None:
        if not missed:
            self._recovered(MISSED, job.name, evidence, now)
            return
        state, _ = self.book.open(MISSED, job.name, now, severity=Severity.HIGH, quiet_period=math.inf)
        state.details.update(
            job=job.name,
            kind=job.kind,
            what=job.what or None,
            every_hours=_hours(job.every),
            margin_hours=_hours(job.margin),
            last_success=self.local(evidence.last_success) if evidence.last_success is not None else None,
            age_hours=_hours(now - evidence.last_success) if evidence.last_success is not None else None,
            last_failure=self.local(evidence.last_failure) if evidence.last_failure is not None else None,
            failure=evidence.failure or None,
            error=evidence.error or None,
        )
        state.add(evidence, now)

    def _generations(self, job: BackupJob, evidence: BackupEvidence, now: float, few: bool) -> None:
        if evidence.generations is None:
            return  # the evidence does not say (unreadable, or Windows Server Backup's events): no judgement
        if not few:
            self._recovered(GENERATIONS, job.name, evidence, now)
            return
        state, _ = self.book.open(GENERATIONS, job.name, now, severity=Severity.MEDIUM, quiet_period=math.inf)
        state.details.update(
            job=job.name,
            kind=job.kind,
            generations=evidence.generations,
            expected=job.generations,
            newest=self.local(evidence.last_success) if evidence.last_success is not None else None,
            oldest=self.local(evidence.oldest) if evidence.oldest is not None else None,
        )
        state.add(evidence, now)

    def _recovered(self, rule: str, name: str, evidence: BackupEvidence, now: float) -> None:
        state = self.book.get(rule, name)
        if state is None:
            return
        state.details["recovered_at"] = self.local(now)
        if rule == GENERATIONS:
            state.details["generations"] = evidence.generations
        state.add(evidence, now)
        self.book.close(rule, name)


# -- the offline copy on the wire ----------------------------------------------------------------------------------


def in_window(ts: float, copy: OfflineCopy) -> bool:
    """Whether ``ts`` falls in one of the copy's online windows, in its time zone."""
    tz = _zone(copy.timezone)
    when = dt.datetime.fromtimestamp(ts, tz=tz) if tz is not None else dt.datetime.fromtimestamp(ts).astimezone()
    minute = when.hour * 60 + when.minute
    return any(start <= minute < end if start < end else minute >= start or minute < end for start, end in copy.windows)


def window_text(copy: OfflineCopy) -> str:
    def hm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    zone = f" ({copy.timezone})" if copy.timezone else ""
    return ", ".join(f"{hm(a)}-{hm(b)}" for a, b in copy.windows) + (zone if copy.windows else "")


class OfflineExposureDetector:
    """``backup-offline-exposed``: the offline copies' hosts seen on the wire outside their windows."""

    rule = OFFLINE
    quiet_period = _OFFLINE_QUIET
    response_kinds = ("synack", "rst", "rstack", "unreachable")

    def __init__(self, index: SiteIndex, book: AlertBook) -> None:
        self.book = book
        self.use_index(index)

    def use_index(self, index: SiteIndex) -> None:
        self.by_ip: dict[str, tuple[BackupJob, OfflineCopy]] = {}
        self.by_mac: dict[str, tuple[BackupJob, OfflineCopy]] = {}
        for job in index.site.backups:
            if job.offline is not None:
                self.by_ip.setdefault(job.offline.host, (job, job.offline))
                if job.offline.mac:
                    self.by_mac.setdefault(job.offline.mac, (job, job.offline))

    def on_arp(self, obs: ArpObservation) -> None:
        found = self.by_ip.get(obs.sender_ip) or self.by_mac.get(obs.sender_mac) or self.by_mac.get(obs.eth_src)
        if found is not None:
            self._seen(obs.ts, found, "arp", obs, obs.sender_mac)

    def on_attempt(self, obs: ConnectionAttempt) -> None:
        found = self.by_ip.get(obs.src_ip)
        if found is not None:
            self._seen(obs.ts, found, "syn", obs, obs.src_mac)

    def on_response(self, obs: PortResponse) -> None:
        found = self.by_ip.get(obs.src_ip)
        if found is not None:
            self._seen(obs.ts, found, "answer", obs, obs.src_mac)

    def _seen(self, ts: float, found: tuple[BackupJob, OfflineCopy], how: str, obs: object, mac: str | None) -> None:
        job, copy = found
        if in_window(ts, copy):
            return
        state, created = self.book.open(
            self.rule, copy.host, ts, severity=Severity.HIGH, quiet_period=self.quiet_period, src_ip=copy.host
        )
        if created:
            state.details.update(
                job=job.name,
                host=copy.host,
                mac=mac or copy.mac,
                window=window_text(copy) or None,
                seen_at=local_text(ts, copy.timezone),
                how=how,
            )
            state.src_mac = mac
        state.add(obs, ts)
