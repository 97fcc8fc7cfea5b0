"""Connections between segments counted per hour: the figures of the zone map and the dangerous-port matrix.

The zone detector (detection/zones.py) has already placed both ends of every connection attempt in their segments
and judged it by the policy; it hands each one between two segments to :class:`FlowRollup`, which adds one to a
counter keyed by (hour, source segment, destination segment, protocol, port, forbidden). About once a second (the
engine's tick), at the end of a capture, and whenever the counters grow past ``max_pending``, the counters are
handed to a :class:`FlowSink` that ``runtime`` wires to the store (detection never imports storage), which adds
them to a table on the alert writer's thread: one database write per second at most, never one per packet.

Bounded: within one hour and one (pair of segments, protocol, verdict), at most ``ports_per_hour`` ports that are
not dangerous keep their own counter; the others are counted under port 0 ("other ports"), so a
port scan between segments makes a handful of rows, not 65,535.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mamori.model import ConnectionAttempt, FlowCount

__all__ = ["FlowRollup", "FlowSink"]

_HOUR = 3600
_KEPT_CAP = 200_000  # the admitted keys remembered for the per-hour port bound


class FlowSink(Protocol):
    """Where the hourly counts go: the store (``runtime`` wires it), or ``mamori.testing.MemoryFlows``. ``save``
    receives counts to add to what is stored, and must not block for long (the store queues it for its writer)."""

    def save(self, flows: Sequence[FlowCount]) -> None: ...


class FlowRollup:
    """Counters of connections between segments, per hour, handed to a :class:`FlowSink` in batches."""

    def __init__(
        self,
        sink: FlowSink,
        names: Sequence[str],
        dangerous: frozenset[int],
        *,
        max_pending: int = 20_000,
        ports_per_hour: int = 32,
    ) -> None:
        self.sink = sink
        self.max_pending = max_pending
        self.ports_per_hour = ports_per_hour
        self.use_segments(names, dangerous)
        # key -> [count, blocked, new]; several keys may share one list (the ports gathered under port 0)
        self._pending: dict[tuple[int, int, int, str, int, bool], list[int]] = {}
        self._rows: list[tuple[tuple[int, int, int, str, int, bool], list[int]]] = []
        self._kept: set[tuple[int, int, int, str, int, bool]] = set()  # keys with a port of their own this hour
        self._ports: dict[tuple[int, int, int, str, bool], int] = {}  # ports of their own per hour and pair
        self.saved = 0

    def use_segments(self, names: Sequence[str], dangerous: frozenset[int]) -> None:
        """The segments' names by the zone detector's index (an address in no segment, index -1, is "")."""
        if getattr(self, "_rows", None):
            self.flush()  # the counts so far belong to the old names
        self._names = [*names, ""]
        self._dangerous = dangerous

    def add(self, src: int, dst: int, obs: ConnectionAttempt, forbidden: bool, new: bool) -> None:
        key = (int(obs.ts) // _HOUR, src, dst, obs.proto, obs.dst_port, forbidden)
        entry = self._pending.get(key)
        if entry is None:
            entry = self._admit(key)
        entry[0] += 1
        if obs.action == "deny":
            entry[1] += 1
        if new:
            entry[2] += 1

    def _admit(self, key: tuple[int, int, int, str, int, bool]) -> list[int]:
        hour, src, dst, proto, port, forbidden = key
        counted = key
        if port not in self._dangerous and key not in self._kept:
            pair = (hour, src, dst, proto, forbidden)
            ports = self._ports.get(pair, 0)
            if ports >= self.ports_per_hour:
                counted = (hour, src, dst, proto, 0, forbidden)
            else:
                if len(self._kept) >= _KEPT_CAP:
                    self._kept.clear()
                    self._ports.clear()
                self._kept.add(key)
                self._ports[pair] = ports + 1
        entry = self._pending.get(counted)
        if entry is None:
            if len(self._rows) >= self.max_pending:
                self.flush()
            entry = [0, 0, 0]
            self._pending[counted] = entry
            self._rows.append((counted, entry))
        self._pending[key] = entry
        return entry

    def flush(self) -> None:
        """Hand the counts since the last call to the sink."""
        if not self._rows:
            return
        names = self._names
        flows = [
            FlowCount(float(hour * _HOUR), names[src], names[dst], proto, port, forbidden, *counts)
            for (hour, src, dst, proto, port, forbidden), counts in self._rows
        ]
        self._rows = []
        self._pending = {}
        self.saved += len(flows)
        self.sink.save(flows)
