"""Open alerts: one mutable state per (rule, key) episode, snapshotted into frozen :class:`Alert` records.

An ongoing attack updates its alert (count, last_seen, details) instead of raising a new one per packet. After a
rule's quiet period without a new hit, the next hit starts a new episode with a new uid. The book is bounded: when
full, the stalest state is closed (its last snapshot stays available) so that memory cannot grow without limit.
An alert keeps at most SAMPLES_FIRST + SAMPLES_LAST samples (its first and its latest), across restarts too.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.model import (
    ALERT_FIELDS,
    Alert,
    ArpObservation,
    BackupEvidence,
    ConnectionAttempt,
    PacketData,
    PortResponse,
    Severity,
    VpnEvent,
    WindowsEvent,
    flags_text,
)
from mamori.rules import Catalogue, Details, catalogue

__all__ = ["SAMPLES_FIRST", "SAMPLES_LAST", "AlertBook", "AlertState", "sample_of"]

SAMPLES_FIRST = 5
SAMPLES_LAST = 5
_SAMPLE_FIELDS = 40  # event data fields kept per Windows event sample
_SAMPLE_VALUE = 512  # characters kept per field value (command lines and scripts can be long)

# The alert fields an episode's state carries under the same names (details and samples are built apart).
_COPIED = tuple(name for name in ALERT_FIELDS if name not in ("details", "samples"))


def sample_of(obs: Any) -> dict[str, Any]:
    """A small JSON-ready description of one observation, kept as evidence."""
    if isinstance(obs, ConnectionAttempt):
        sample: dict[str, Any] = {
            "ts": obs.ts,
            "kind": "attempt",
            "proto": obs.proto,
            "src_mac": obs.src_mac,
            "src_ip": obs.src_ip,
            "src_port": obs.src_port,
            "dst_mac": obs.dst_mac,
            "dst_ip": obs.dst_ip,
            "dst_port": obs.dst_port,
        }
        if obs.proto == "tcp":
            sample["flags"] = flags_text(obs.flags)
        for name in ("vlan", "action", "device", "interface"):
            value = getattr(obs, name)
            if value is not None:
                sample[name] = value
        return sample
    if isinstance(obs, PortResponse):
        return {
            "ts": obs.ts,
            "kind": obs.kind,
            "proto": obs.proto,
            "src_mac": obs.src_mac,
            "src_ip": obs.src_ip,
            "src_port": obs.src_port,
            "dst_ip": obs.dst_ip,
            "dst_port": obs.dst_port,
        }
    if isinstance(obs, ArpObservation):
        return {
            "ts": obs.ts,
            "kind": "arp-reply" if obs.op == 2 else "arp-request",
            "eth_src": obs.eth_src,
            "sender_mac": obs.sender_mac,
            "sender_ip": obs.sender_ip,
            "target_mac": obs.target_mac,
            "target_ip": obs.target_ip,
            "gratuitous": obs.gratuitous,
        }
    if isinstance(obs, WindowsEvent):
        return {
            "ts": obs.ts,
            "kind": "windows-event",
            "computer": obs.computer,
            "channel": obs.channel,
            "provider": obs.provider,
            "event_id": obs.event_id,
            "record_id": obs.record_id,
            "source": obs.source,
            "fields": {
                name: value if len(value) <= _SAMPLE_VALUE else value[:_SAMPLE_VALUE] + "…"
                for name, value in list(obs.fields.items())[:_SAMPLE_FIELDS]
            },
        }
    if isinstance(obs, VpnEvent):
        return {
            "ts": obs.ts,
            "kind": "vpn",
            "event": obs.kind,
            "device": obs.device,
            "protocol": obs.protocol,
            "user": obs.user,
            "remote_ip": obs.remote_ip,
            "assigned_ip": obs.assigned_ip,
            "tunnel": obs.tunnel,
        }
    if isinstance(obs, BackupEvidence):
        return {
            "ts": obs.read_at,
            "kind": "backup-check",
            "job": obs.job,
            "backup_kind": obs.kind,
            "last_success": obs.last_success,
            "generations": obs.generations,
            "error": obs.error[:_SAMPLE_VALUE],
        }
    if isinstance(obs, PacketData):  # its header only: the contents may hold a password
        return {
            "ts": obs.ts,
            "kind": "packet",
            "proto": obs.proto,
            "src_mac": obs.src_mac,
            "src_ip": obs.src_ip,
            "src_port": obs.src_port,
            "dst_ip": obs.dst_ip,
            "dst_port": obs.dst_port,
        }
    return {"value": repr(obs)}


@dataclass(slots=True, eq=False)
class AlertState:
    rule: str
    key: str
    uid: str
    severity: Severity
    first_seen: float
    last_seen: float
    kind: type[Details]  # the rule's declared details
    count: int = 0
    src_mac: str | None = None
    src_ip: str | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    system: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    first_samples: list[Any] = field(default_factory=list)
    last_samples: deque[Any] = field(default_factory=lambda: deque(maxlen=SAMPLES_LAST))
    restored_samples: tuple[Mapping[str, Any], ...] = ()
    dirty: bool = True

    def add(self, obs: Any, ts: float, n: int = 1) -> None:
        """Count ``n`` more observations behind this alert; keep the first and the latest few as samples."""
        self.count += n
        if ts > self.last_seen:
            self.last_seen = ts
        elif ts < self.first_seen:
            self.first_seen = ts
        if len(self.first_samples) < SAMPLES_FIRST:
            self.first_samples.append(obs)
        else:
            self.last_samples.append(obs)
        self.dirty = True

    def snapshot(self) -> Alert:
        samples = (
            self.restored_samples
            + tuple(sample_of(o) for o in self.first_samples)
            + tuple(sample_of(o) for o in self.last_samples)
        )
        samples = _first_and_last(samples)  # after a restart: the episode's first samples and its latest
        return Alert(
            **{name: getattr(self, name) for name in _COPIED},
            details=self.kind.from_facts(self.details),
            samples=samples,
        )


def _first_and_last(samples: tuple[Mapping[str, Any], ...]) -> tuple[Mapping[str, Any], ...]:
    if len(samples) <= SAMPLES_FIRST + SAMPLES_LAST:
        return samples
    return samples[:SAMPLES_FIRST] + samples[-SAMPLES_LAST:]


def _freeze(details: dict[str, Any]) -> dict[str, Any]:
    """A copy safe to hand out: lists and sets become sorted lists, nested dicts are copied."""
    out: dict[str, Any] = {}
    for name, value in details.items():
        if isinstance(value, set | frozenset):
            out[name] = sorted(value)
        elif isinstance(value, list):
            out[name] = list(value)
        elif isinstance(value, dict):
            out[name] = dict(value)
        else:
            out[name] = value
    return out


class AlertBook:
    """All open alert states, keyed by (rule, key), bounded to ``max_open``."""

    def __init__(
        self,
        max_open: int = 20_000,
        new_uid: Callable[[], str] | None = None,
        rule_catalogue: Catalogue | None = None,
    ) -> None:
        self.max_open = max_open
        self.catalogue = rule_catalogue if rule_catalogue is not None else catalogue()
        # OrderedDict: evicting the oldest is O(1); a plain dict's next(iter()) degrades after many deletions.
        self._states: OrderedDict[tuple[str, str], AlertState] = OrderedDict()
        self._closed: list[Alert] = []  # evicted or expired states whose last change was not yet collected
        self._new_uid = new_uid or (lambda: uuid.uuid4().hex)
        self.evicted = 0

    def get(self, rule: str, key: str) -> AlertState | None:
        return self._states.get((rule, key))

    def open(
        self,
        rule: str,
        key: str,
        ts: float,
        *,
        severity: Severity,
        quiet_period: float,
        **fields: Any,
    ) -> tuple[AlertState, bool]:
        """The open state for (rule, key), or a new episode. Returns (state, created)."""
        state = self._states.get((rule, key))
        if state is not None:
            # Within the quiet period after the episode (or before it: files of event logs need not be in order).
            if ts - state.last_seen <= quiet_period and state.first_seen - ts <= quiet_period:
                return state, False
            self._close((rule, key))
        if len(self._states) >= self.max_open:
            self._close(next(iter(self._states)))  # the oldest, in O(1) even under a flood of new keys
            self.evicted += 1
        state = AlertState(
            rule=rule,
            key=key,
            uid=self._new_uid(),
            severity=severity,
            first_seen=ts,
            last_seen=ts,
            kind=self.catalogue.rule(rule).details,
            **fields,
        )
        self._states[(rule, key)] = state
        return state, True

    def restore(self, alert: Alert) -> None:
        """Re-open an alert loaded from the store after a restart, so that it continues rather than duplicates."""
        self._states[(alert.rule, alert.key)] = AlertState(
            **{name: getattr(alert, name) for name in _COPIED},
            kind=self.catalogue.rule(alert.rule).details,
            details=dict(alert.details),
            restored_samples=_first_and_last(tuple(alert.samples)),
            dirty=False,
        )

    def close(self, rule: str, key: str) -> None:
        """End the episode of (rule, key) now (a condition that cleared: a backup seen again); its last change is
        handed out by the next ``collect_changes``."""
        if (rule, key) in self._states:
            self._close((rule, key))

    def _close(self, key: tuple[str, str]) -> None:
        state = self._states.pop(key)
        if state.dirty:
            self._closed.append(state.snapshot())

    def expire(self, now: float, quiet_periods: Mapping[str, float]) -> None:
        """Close every episode silent for longer than its rule's quiet period."""
        stale = [k for k, s in self._states.items() if now - s.last_seen > quiet_periods.get(s.rule, 3600.0)]
        for key in stale:
            self._close(key)

    def states(self) -> Iterable[AlertState]:
        return self._states.values()

    def collect_changes(self) -> list[Alert]:
        """Snapshots of every alert created or changed since the last call."""
        changes = self._closed
        self._closed = []
        for state in self._states.values():
            if state.dirty:
                changes.append(state.snapshot())
                state.dirty = False
        return changes

    def __len__(self) -> int:
        return len(self._states)
