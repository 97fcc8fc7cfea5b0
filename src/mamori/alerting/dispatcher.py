"""Routing alerts to actions: choice by rule and severity, dedup and throttling, retries with back-off, records.

Each action has its own worker thread and queue, so a slow or failing action never blocks detection or the other
actions. An alert is delivered once when it appears (``new``) and then as ``update`` at most once per the action's
``throttle`` while it grows; the update always carries the newest figures (a queued update is replaced by a newer
one). Every attempt is recorded as a :class:`~mamori.model.Delivery` through ``record``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from mamori.alerting.base import Action, Notification, Outcome, PermanentDeliveryError
from mamori.config import ActionSettings
from mamori.model import Alert, Delivery, Severity

__all__ = ["MAX_TRACKS", "TRACK_TTL", "Dispatcher"]

log = logging.getLogger(__name__)

TRACK_TTL = 86400.0  # seconds after an alert's last change that its delivery state is kept
MAX_TRACKS = 200_000  # (action, alert) pairs remembered at most
_QUEUE_LIMIT = 10_000  # pending notifications per action; beyond it the oldest updates are dropped (and counted)
_DETAIL_LIMIT = 4000


@dataclass
class _Track:
    """What one action knows of one alert."""

    sent_count: int = -1  # the alert's count at the last notification queued
    sent_at: float = float("-inf")  # monotonic time of that
    waiting: Alert | None = None  # a newer state held back by the throttle
    touched: float = 0.0  # monotonic time the alert last changed (or was restored)


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    note: Notification = field(compare=False)
    attempt: int = field(compare=False, default=1)


class _Worker:
    """One action's thread: a priority queue of jobs by due time (retries wait for their back-off)."""

    def __init__(
        self,
        action: Action,
        settings: ActionSettings,
        record: Callable[[list[Delivery]], None],
        *,
        ticks: bool = True,
    ) -> None:
        self.action = action
        self.ticks = ticks
        self.settings = settings
        self.record = record
        self._jobs: list[_Job] = []
        self._pending_update: dict[str, _Job] = {}  # alert uid -> its queued update, to replace with a newer one
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._closing = False
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"mamori-action-{action.name}", daemon=True)
        self._thread.start()

    def put(self, note: Notification) -> None:
        with self._cond:
            uid = note.alert.uid
            if note.event == "update" and uid in self._pending_update:
                self._pending_update[uid].note = note  # not sent yet: send the newest figures instead
                return
            if len(self._jobs) >= _QUEUE_LIMIT:
                self._drop_one()
            job = _Job(time.monotonic(), next(self._seq), note)
            heapq.heappush(self._jobs, job)
            if note.event == "update":
                self._pending_update[uid] = job
            self._cond.notify()

    def _drop_one(self) -> None:
        updates = [j for j in self._jobs if j.note.event == "update"]
        victim = min(updates or self._jobs, key=lambda j: j.seq)
        self._jobs.remove(victim)
        heapq.heapify(self._jobs)
        self._pending_update.pop(victim.note.alert.uid, None)
        self.dropped += 1
        log.warning("action %s: queue full, dropped a notification for %s", self.action.name, victim.note.alert.uid)

    def idle(self) -> bool:
        with self._cond:
            return not self._jobs

    def stop(self, deadline: float) -> None:
        """Deliver what is queued until ``deadline`` (monotonic), record the rest as abandoned, then stop."""
        with self._cond:
            while self._jobs and time.monotonic() < deadline:
                self._cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            abandoned = list(self._jobs)
            self._jobs.clear()
            self._closing = True
            self._cond.notify_all()
        self._thread.join(max(0.1, deadline - time.monotonic()) + self.settings.timeout)
        if abandoned:
            now = time.time()
            self.record(
                [
                    Delivery(
                        j.note.alert.uid,
                        self.action.name,
                        self.action.type,
                        j.note.event,
                        j.attempt,
                        now,
                        False,
                        True,
                        "abandoned at shutdown",
                        j.note.alert.count,
                    )
                    for j in abandoned
                ]
            )
        try:
            self.action.close()
        except Exception:
            log.exception("action %s: error while closing", self.action.name)

    def _next(self) -> _Job | None:
        """The next due job, or None when closing. Ticks the action while waiting."""
        with self._cond:
            while not self._closing:
                now = time.monotonic()
                if self._jobs and self._jobs[0].due <= now:
                    job = heapq.heappop(self._jobs)
                    if self._pending_update.get(job.note.alert.uid) is job:
                        del self._pending_update[job.note.alert.uid]
                    return job
                wait = min(1.0, self._jobs[0].due - now) if self._jobs else 1.0
                self._cond.wait(wait)
                if not self._jobs or self._jobs[0].due > time.monotonic():
                    self._cond.release()
                    try:
                        self._tick()
                    finally:
                        self._cond.acquire()
        return None

    def _tick(self) -> None:
        if not self.ticks:
            return
        try:
            self.action.tick(time.time())
        except Exception:
            log.exception("action %s: tick failed", self.action.name)

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            self._attempt(job)
            with self._cond:
                self._cond.notify_all()  # close() may be waiting for the queue to empty

    def _attempt(self, job: _Job) -> None:
        try:
            outcome = self.action.deliver(job.note)
        except PermanentDeliveryError as exc:
            outcome = Outcome(False, str(exc), retry=False)
        except Exception as exc:  # any failure of the far end is a failed attempt
            outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
        settings = self.settings
        retry = not outcome.ok and outcome.retry and job.attempt <= settings.retries
        self.record(
            [
                Delivery(
                    job.note.alert.uid,
                    self.action.name,
                    self.action.type,
                    job.note.event,
                    job.attempt,
                    time.time(),
                    outcome.ok,
                    not retry,
                    outcome.detail[:_DETAIL_LIMIT],
                    job.note.alert.count,
                )
            ]
        )
        if outcome.ok:
            return
        if not retry:
            log.error(
                "action %s: giving up on %s after %d attempts: %s",
                self.action.name,
                job.note.alert.uid,
                job.attempt,
                outcome.detail,
            )
            return
        delay = min(settings.backoff * (2 ** (job.attempt - 1)), settings.max_backoff)
        log.warning(
            "action %s: attempt %d failed (%s); retrying in %.0f s",
            self.action.name,
            job.attempt,
            outcome.detail[:200],
            delay,
        )
        with self._cond:
            if job.note.event == "update" and job.note.alert.uid in self._pending_update:
                return  # a newer update is already queued: it supersedes this one
            retry_job = _Job(time.monotonic() + delay, next(self._seq), job.note, job.attempt + 1)
            heapq.heappush(self._jobs, retry_job)
            if job.note.event == "update":
                self._pending_update[job.note.alert.uid] = retry_job
            self._cond.notify()


class Dispatcher:
    """Hands alert changes to the configured actions. ``submit`` never blocks."""

    def __init__(
        self,
        settings: Sequence[ActionSettings],
        actions: Sequence[Action],
        *,
        record: Callable[[list[Delivery]], None],
        monotonic: Callable[[], float] = time.monotonic,
        heartbeat: bool = True,
        track_ttl: float = TRACK_TTL,
        max_tracks: int = MAX_TRACKS,
    ) -> None:
        """``heartbeat=False``: the actions' periodic work (the Zabbix heartbeat) is not done by this process —
        ``analyze --act`` on an old capture must not make a stopped sensor look alive.

        What an action knows of an alert is forgotten ``track_ttl`` seconds after the alert last changed (an episode
        that quiet has ended: the next one has a new uid), and the least recently changed is forgotten first beyond
        ``max_tracks``; an update still held back by the throttle is sent before it is forgotten."""
        self._monotonic = monotonic
        self._workers: list[tuple[ActionSettings, _Worker]] = [
            (s, _Worker(a, s, record, ticks=heartbeat)) for s, a in zip(settings, actions, strict=True) if s.enabled
        ]
        self._by_name = {s.name: (s, w) for s, w in self._workers}
        # Least recently changed first: forgetting the stalest is O(1), and tick() reads only ``_waiting``.
        self._tracks: OrderedDict[tuple[str, str], _Track] = OrderedDict()
        self._waiting: dict[tuple[str, str], _Track] = {}  # the tracks holding an update back
        self.track_ttl = track_ttl
        self.max_tracks = max_tracks
        self.forgotten = 0
        self._lock = threading.Lock()

    @property
    def actions(self) -> list[str]:
        return [s.name for s, _ in self._workers]

    @property
    def tracked(self) -> int:
        """How many (action, alert) pairs are remembered now."""
        return len(self._tracks)

    def restore(self, delivered: Iterable[Delivery]) -> None:
        """After a restart: what each action already delivered is not sent again."""
        now = self._monotonic()
        with self._lock:
            for d in delivered:
                if d.action in self._by_name:  # an action since removed or disabled has nothing to remember
                    track = self._touch((d.action, d.alert_uid), now)
                    track.sent_count = max(track.sent_count, d.alert_count)
            self._forget(now)

    def submit(self, alerts: Iterable[Alert]) -> None:
        now = self._monotonic()
        with self._lock:
            for alert in alerts:
                for settings, worker in self._workers:
                    if not _wants(settings, alert):
                        continue
                    key = (settings.name, alert.uid)
                    track = self._touch(key, now)
                    if track.sent_count < 0:
                        self._send(worker, key, track, alert, "new", now)
                    elif alert.count != track.sent_count:
                        if now - track.sent_at >= settings.throttle:
                            self._send(worker, key, track, alert, "update", now)
                        else:
                            track.waiting = alert
                            self._waiting[key] = track
            self._forget(now)

    def tick(self) -> None:
        """Send the updates the throttle held back once their time has come, and forget what has gone quiet. Call
        about once a second: it reads only the held-back updates and the stalest tracks, never all of them."""
        now = self._monotonic()
        with self._lock:
            for key, track in list(self._waiting.items()):
                settings, worker = self._by_name[key[0]]
                if track.waiting is not None and now - track.sent_at >= settings.throttle:
                    self._send(worker, key, track, track.waiting, "update", now)
            self._forget(now)

    def _touch(self, key: tuple[str, str], now: float) -> _Track:
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track()
        else:
            self._tracks.move_to_end(key)
        track.touched = now
        return track

    def _forget(self, now: float) -> None:
        tracks = self._tracks
        while tracks:
            key, oldest = next(iter(tracks.items()))
            if len(tracks) <= self.max_tracks and now - oldest.touched <= self.track_ttl:
                return
            del tracks[key]
            if oldest.waiting is not None:  # the last figures still go out
                self._send(self._by_name[key[0]][1], key, oldest, oldest.waiting, "update", now)
            self.forgotten += 1

    def _send(self, worker: _Worker, key: tuple[str, str], track: _Track, alert: Alert, event: str, now: float) -> None:
        track.sent_count = alert.count
        track.sent_at = now
        track.waiting = None
        self._waiting.pop(key, None)
        worker.put(Notification(alert, event))

    def flush_throttled(self) -> None:
        """Send every held-back update now (at the end of an analysis, or at shutdown)."""
        with self._lock:
            now = self._monotonic()
            for key, track in list(self._waiting.items()):
                if track.waiting is not None:
                    self._send(self._by_name[key[0]][1], key, track, track.waiting, "update", now)

    def idle(self) -> bool:
        return all(worker.idle() for _, worker in self._workers)

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is pending (all actions together within ``timeout`` seconds) and stop the workers."""
        self.flush_throttled()
        deadline = time.monotonic() + timeout
        for _, worker in self._workers:
            worker.stop(deadline)


def _wants(settings: ActionSettings, alert: Alert) -> bool:
    if settings.rules is not None and alert.rule not in settings.rules:
        return False
    return alert.severity >= Severity.parse(settings.min_severity)
