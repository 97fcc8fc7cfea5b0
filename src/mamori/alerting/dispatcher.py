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
from mamori.model import Alert, Clock, Delivery, Severity, SystemClock

__all__ = ["MAX_TRACKS", "TRACK_TTL", "Dispatcher"]

log = logging.getLogger(__name__)

TRACK_TTL = 86400.0  # seconds after an alert's last change that its delivery state is kept
MAX_TRACKS = 200_000  # (action, alert) pairs remembered at most
_QUEUE_LIMIT = 10_000  # pending notifications per action; beyond it the oldest updates are dropped (and counted)
_DETAIL_LIMIT = 4000
_TICK = 1.0  # seconds of the clock between an action's ticks (heartbeats)


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
    """One action's thread: a priority queue of jobs by due time (retries wait for their back-off). Time comes from
    the clock (``mamori.model.Clock``): with ``mamori.testing.FakeClock`` a back-off or a heartbeat passes when the
    test moves the clock, and :meth:`settle` says when the worker has done what is due."""

    def __init__(
        self,
        action: Action,
        settings: ActionSettings,
        record: Callable[[list[Delivery]], None],
        *,
        clock: Clock,
        ticks: bool = True,
    ) -> None:
        self.action = action
        self.ticks = ticks
        self.settings = settings
        self.record = record
        self.clock = clock
        self._jobs: list[_Job] = []
        self._pending_update: dict[str, _Job] = {}  # alert uid -> its queued update, to replace with a newer one
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._closing = False
        self._busy = False  # a delivery (or a tick) is running
        self._next_tick = clock.monotonic() + _TICK
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
            job = _Job(self.clock.monotonic(), next(self._seq), note)
            heapq.heappush(self._jobs, job)
            if note.event == "update":
                self._pending_update[uid] = job
            self._cond.notify_all()

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
            return not self._jobs and not self._busy

    def _due_work(self) -> bool:
        """Whether something is running or due now (the caller holds the lock)."""
        now = self.clock.monotonic()
        due_tick = self.ticks and now >= self._next_tick
        return self._busy or due_tick or bool(self._jobs and self._jobs[0].due <= now)

    def settle(self, timeout: float) -> bool:
        """Wait until nothing is running and nothing is due by the clock: every notification due has been tried
        (a retry waiting for its back-off is not due). ``timeout`` is real seconds, a guard against a hung action;
        False if it ran out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closing and self._due_work():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self, deadline: float) -> None:
        """Deliver what is due before ``deadline`` (the clock's monotonic seconds), record the rest as abandoned (a
        retry due after the deadline is not waited for), then stop."""
        with self._cond:
            while self._jobs or self._busy:
                now = self.clock.monotonic()
                if now >= deadline or (not self._busy and self._jobs[0].due > deadline):
                    break
                self.clock.wait(self._cond, deadline - now)
            abandoned = list(self._jobs)
            self._jobs.clear()
            self._closing = True
            self._cond.notify_all()
        self._thread.join(max(0.1, deadline - self.clock.monotonic()) + self.settings.timeout)
        if abandoned:
            now = self.clock.now()
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
        """The next due job, or None when closing. Ticks the action about once a second of the clock."""
        with self._cond:
            while not self._closing:
                now = self.clock.monotonic()
                if self._jobs and self._jobs[0].due <= now:
                    job = heapq.heappop(self._jobs)
                    if self._pending_update.get(job.note.alert.uid) is job:
                        del self._pending_update[job.note.alert.uid]
                    self._busy = True
                    return job
                if self.ticks and now >= self._next_tick:
                    self._next_tick = now + _TICK
                    self._busy = True
                    self._cond.release()
                    try:
                        self._tick()
                    finally:
                        self._cond.acquire()
                        self._busy = False
                        self._cond.notify_all()
                    continue
                wake = [self._jobs[0].due] if self._jobs else []
                if self.ticks:
                    wake.append(self._next_tick)
                self.clock.wait(self._cond, min(wake) - now if wake else None)  # put() and stop() notify
        return None

    def _tick(self) -> None:
        try:
            self.action.tick(self.clock.now())
        except Exception:
            log.exception("action %s: tick failed", self.action.name)

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                self._attempt(job)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()  # settle() and stop() may be waiting for the queue to empty

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
                    self.clock.now(),
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
            retry_job = _Job(self.clock.monotonic() + delay, next(self._seq), job.note, job.attempt + 1)
            heapq.heappush(self._jobs, retry_job)
            if job.note.event == "update":
                self._pending_update[job.note.alert.uid] = retry_job
            self._cond.notify_all()


class Dispatcher:
    """Hands alert changes to the configured actions. ``submit`` never blocks."""

    def __init__(
        self,
        settings: Sequence[ActionSettings],
        actions: Sequence[Action],
        *,
        record: Callable[[list[Delivery]], None],
        clock: Clock | None = None,
        heartbeat: bool = True,
        track_ttl: float = TRACK_TTL,
        max_tracks: int = MAX_TRACKS,
    ) -> None:
        """``heartbeat=False``: the actions' periodic work (the Zabbix heartbeat) is not done by this process —
        ``analyze --act`` on an old capture must not make a stopped sensor look alive.

        What an action knows of an alert is forgotten ``track_ttl`` seconds after the alert last changed (an episode
        that quiet has ended: the next one has a new uid), and the least recently changed is forgotten first beyond
        ``max_tracks``; an update still held back by the throttle is sent before it is forgotten.

        ``clock``: where the dispatcher and its workers take time from (throttles, back-offs, heartbeats, the
        records' times); ``mamori.testing.FakeClock`` in tests, with :meth:`settle` to wait for what is due."""
        self.clock: Clock = clock or SystemClock()
        self._monotonic = self.clock.monotonic
        self._workers: list[tuple[ActionSettings, _Worker]] = [
            (s, _Worker(a, s, record, clock=self.clock, ticks=heartbeat))
            for s, a in zip(settings, actions, strict=True)
            if s.enabled
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

    def settle(self, timeout: float = 10.0, *, actions: Iterable[str] | None = None) -> bool:
        """Wait until every action (or those named) has tried what is due by the clock (retries waiting for their
        back-off are not due yet). ``timeout``: real seconds, a guard against a hung action; False if it ran out."""
        deadline = time.monotonic() + timeout
        chosen = None if actions is None else set(actions)
        workers = [w for s, w in self._workers if chosen is None or s.name in chosen]
        return all(worker.settle(max(0.0, deadline - time.monotonic())) for worker in workers)

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is due (all actions together within ``timeout`` seconds of the clock; a retry due later is
        recorded as abandoned) and stop the workers."""
        self.flush_throttled()
        deadline = self.clock.monotonic() + timeout
        for _, worker in self._workers:
            worker.stop(deadline)


def _wants(settings: ActionSettings, alert: Alert) -> bool:
    if settings.rules is not None and alert.rule not in settings.rules:
        return False
    return alert.severity >= Severity.parse(settings.min_severity)
