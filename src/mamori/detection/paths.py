"""``new-path``: the first connection ever seen between two segments on a dangerous port, after a learning period.

Like Zeek's known-services, the paths seen are remembered (``KnownPaths``), in the database through a small
:class:`PathMemory` that ``runtime`` wires to the store (detection never imports storage), so that they survive a
restart: a path known before the restart stays known. During the learning period (``detection.new_path.
learning_period``, 14 days by default, counted from the first connection on a dangerous port between segments ever
seen) paths are only learned; after it, a path not seen before is an alert. A connection the zone policy forbids is
a ``zone-policy`` alert at once, learning or not, which says it was a new path (``new_path: true``); it is not
reported a second time here (docs/design.md §10). Connections a firewall denied do not make a path.

A path is (source segment, destination segment, protocol, destination port); addresses in no segment are the
segment ``""`` (outside). The table packs each path into one int key and its first and last seen seconds into one
int value: a million paths take about 110 MB (benchmarks/bench_known_paths.py). It is bounded
(``max_paths``): when full, the 1 % of paths unseen for longest are forgotten (a forgotten path would be new again).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Protocol

from mamori.config import NewPathSettings
from mamori.detection.book import AlertBook, AlertState
from mamori.detection.site_index import SiteIndex
from mamori.model import ConnectionAttempt, KnownPath, Segment, Severity

__all__ = ["RULE", "KnownPaths", "NewPathDetector", "PathMemory"]

RULE = "new-path"
_PROTO_IDS = {"tcp": 0, "udp": 1}
_PROTO_NAMES = ("tcp", "udp", "other")
_SEGMENT_BITS = 20  # a million segment names: far more than any site has
_SECONDS = 0xFFFFFFFF  # the last-seen half of a value (seconds until 2106)
_LAST_SEEN_STEP = 3600  # last-seen is kept to the hour: fewer writes
_LIST_CAP = 64  # addresses listed in an alert's details
_OPEN_CAP = 4096  # open new-path alerts followed for their later connections


class PathMemory(Protocol):
    """Where the known paths live between runs: the store (``runtime`` wires it), or
    ``mamori.testing.MemoryPaths``. ``load`` gives when learning started (None: not yet) and every known path;
    ``save`` hands over the paths new or seen again since the last call (``src_ip``/``dst_ip`` empty when only
    ``last_seen`` moved) and must not block for long: the runtime's store queues it for its writer thread."""

    def load(self) -> tuple[float | None, Iterable[KnownPath]]: ...

    def save(self, learning_started: float | None, paths: Sequence[KnownPath]) -> None: ...


class KnownPaths:
    """The known paths: key -> (first seen << 32 | last seen), whole seconds. Segment names get small ids."""

    def __init__(self, max_paths: int) -> None:
        self.max_paths = max_paths
        self._ids: dict[str, int] = {"": 0}
        self._names: list[str] = [""]
        self.table: dict[int, int] = {}
        self.evicted = 0

    def segment_id(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            if len(self._names) >= 1 << _SEGMENT_BITS:
                raise ValueError("too many segment names for the known-paths table")
            found = len(self._names)
            self._ids[name] = found
            self._names.append(name)
        return found

    @staticmethod
    def key(src_id: int, dst_id: int, proto: str, port: int) -> int:
        return ((((src_id << _SEGMENT_BITS) | dst_id) << 2 | _PROTO_IDS.get(proto, 2)) << 16) | port

    def describe(self, key: int) -> tuple[str, str, str, int]:
        """(source segment, destination segment, protocol, port) of a key."""
        port = key & 0xFFFF
        proto = _PROTO_NAMES[(key >> 16) & 3]
        dst = (key >> 18) & ((1 << _SEGMENT_BITS) - 1)
        src = key >> (18 + _SEGMENT_BITS)
        return self._names[src], self._names[dst], proto, port

    def add(self, key: int, first: int, last: int) -> list[int]:
        """Remember a path; returns the keys forgotten to make room."""
        forgotten: list[int] = []
        if len(self.table) >= self.max_paths and key not in self.table:
            count = max(1, len(self.table) // 100)
            forgotten = [k for k, _ in heapq.nsmallest(count, self.table.items(), key=lambda kv: kv[1] & _SECONDS)]
            for old in forgotten:
                del self.table[old]
            self.evicted += len(forgotten)
        self.table[key] = (first << 32) | last
        return forgotten

    def record(self, key: int, src_ip: str = "", dst_ip: str = "") -> KnownPath:
        value = self.table[key]
        src, dst, proto, port = self.describe(key)
        return KnownPath(src, dst, proto, port, float(value >> 32), float(value & _SECONDS), src_ip, dst_ip)

    def __len__(self) -> int:
        return len(self.table)

    def __contains__(self, key: object) -> bool:
        return key in self.table


class NewPathDetector:
    rule = RULE

    def __init__(
        self, settings: NewPathSettings, book: AlertBook, index: SiteIndex, memory: PathMemory | None = None
    ) -> None:
        self.book = book
        self.index = index
        self.learning_period = settings.learning_period
        self.quiet_period = settings.quiet_period
        self.paths = KnownPaths(settings.max_paths)
        self.learning_started: float | None = None
        self.memory = memory
        self._pending: dict[int, tuple[str, str]] = {}  # path -> first connection (or "", "": seen again)
        self._learning_dirty = False
        self._open: OrderedDict[int, AlertState] = OrderedDict()
        self._port_names: dict[int, str] = {}
        if memory is not None:
            self._load(memory)

    def _load(self, memory: PathMemory) -> None:
        started, loaded = memory.load()
        self.learning_started = started
        paths = list(loaded)
        if len(paths) > self.paths.max_paths:  # the bound was lowered: keep the paths seen most recently
            paths = heapq.nlargest(self.paths.max_paths, paths, key=lambda p: p.last_seen)
        for path in paths:
            key = KnownPaths.key(
                self.paths.segment_id(path.src_segment), self.paths.segment_id(path.dst_segment), path.proto, path.port
            )
            self.paths.add(key, int(path.first_seen), int(path.last_seen))

    def use_index(self, index: SiteIndex) -> None:
        self.index = index
        self._port_names = {p.port: p.name for p in index.site.dangerous_ports}

    def segment_id(self, segment: Segment | None) -> int:
        return self.paths.segment_id(segment.name if segment is not None else "")

    def observe(
        self,
        src_id: int,
        dst_id: int,
        src: Segment | None,
        dst: Segment | None,
        obs: ConnectionAttempt,
        forbidden: bool,
    ) -> bool:
        """A connection between two segments on a dangerous port. Returns whether its path was new."""
        key = KnownPaths.key(src_id, dst_id, obs.proto, obs.dst_port)
        value = self.paths.table.get(key)
        second = int(obs.ts)
        if value is not None:
            if second - (value & _SECONDS) >= _LAST_SEEN_STEP:
                self.paths.table[key] = (value & ~_SECONDS) | second
                if self.memory is not None:
                    self._pending.setdefault(key, ("", ""))
            if self._open:
                self._follow(key, obs)
            return False
        if self.learning_started is None:
            self.learning_started = obs.ts
            self._learning_dirty = True
        for old in self.paths.add(key, second, second):
            self._pending.pop(old, None)
        if self.memory is not None:
            self._pending[key] = (obs.src_ip, obs.dst_ip)
        if not forbidden and obs.ts - self.learning_started >= self.learning_period:
            self._raise(key, src, dst, obs)
        return True

    def _raise(self, key: int, src: Segment | None, dst: Segment | None, obs: ConnectionAttempt) -> None:
        src_name = src.name if src is not None else ""
        dst_name = dst.name if dst is not None else ""
        dst_zone = dst.zone if dst is not None else "external"
        src_zone = src.zone if src is not None else "external"
        severity = Severity.HIGH if dst_zone == "hsz" or src is None else Severity.MEDIUM
        state, created = self.book.open(
            RULE,
            f"{src_name}>{dst_name}|{obs.proto}/{obs.dst_port}",
            obs.ts,
            severity=severity,
            quiet_period=self.quiet_period,
            src_mac=self.index.source_mac(obs.src_mac),
            src_ip=obs.src_ip,
            dst_ip=obs.dst_ip,
            dst_port=obs.dst_port,
        )
        if created:
            state.details.update(
                src_segment=src.name if src is not None else None,
                dst_segment=dst.name if dst is not None else None,
                src_zone=src_zone,
                dst_zone=dst_zone,
                proto=obs.proto,
                port=obs.dst_port,
                port_name=self._port_names.get(obs.dst_port, ""),
                learning_started=self.learning_started,
                src_ips=[],
                dst_ips=[],
            )
        if len(self._open) >= _OPEN_CAP:
            self._open.popitem(last=False)
        self._open[key] = state
        self._count(state, obs)

    def _follow(self, key: int, obs: ConnectionAttempt) -> None:
        """A later connection on a path reported as new, while its alert is open: part of that alert."""
        state = self._open.get(key)
        if state is None:
            return
        if obs.ts - state.last_seen > self.quiet_period or self.book.get(RULE, state.key) is not state:
            del self._open[key]
            return
        self._count(state, obs)

    @staticmethod
    def _count(state: AlertState, obs: ConnectionAttempt) -> None:
        d = state.details
        for name, value in (("src_ips", obs.src_ip), ("dst_ips", obs.dst_ip)):
            values = d.setdefault(name, [])
            if len(values) < _LIST_CAP and value not in values:
                values.append(value)
        state.add(obs, obs.ts)

    def flush(self) -> None:
        """Hand the paths learned or seen again since the last call to the memory (if any)."""
        if self.memory is None or not (self._pending or self._learning_dirty):
            return
        records = [self.paths.record(key, *first) for key, first in self._pending.items() if key in self.paths]
        self._pending.clear()
        self._learning_dirty = False
        self.memory.save(self.learning_started, records)
