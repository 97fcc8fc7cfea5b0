"""A live packet source the test feeds: the fake of ``mamori.capture.PacketSource`` (what the sensor captures
from), so that the sensor runs in a test without root and without an interface."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Iterable

from mamori.capture.decode import Decoder, Observation
from mamori.capture.sources import CaptureStats
from mamori.errors import CaptureError
from mamori.testing.pcapbuilder import LINKTYPE_ETHERNET

__all__ = ["FakeInterfaces", "FakeLiveSource"]

_BATCH = 4096  # frames per batch, as libpcap hands them to the real source


class FakeLiveSource:
    """An interface that captures the frames the test puts in, as :class:`mamori.capture.LiveSource` captures
    from the kernel: its descriptor (a pipe) is readable while frames wait, so ``wait_readable`` works on it;
    ``read_batch`` hands over up to 4,096 frames at a time, decoded by the real decoder, and keeps the same counts.
    There is no kernel filter here: put in the frames the BPF filter would let through.

    ``open_error``: ``open`` fails with this message (an interface that is missing or down) until it is cleared;
    :meth:`fail` makes the next read fail as a capture that broke."""

    def __init__(self, interface: str, *, linktype: int = LINKTYPE_ETHERNET, open_error: str | None = None) -> None:
        self.interface = interface
        self.linktype = linktype
        self.open_error = open_error
        self.stats = CaptureStats(name=interface)
        self.opened = 0  # how many times it was opened
        self._frames: deque[tuple[float, bytes]] = deque()
        self._decoder: Decoder | None = None
        self._pipe: tuple[int, int] | None = None
        self._failure: str | None = None
        self._lock = threading.Lock()

    @property
    def fd(self) -> int:
        return self._pipe[0] if self._pipe is not None else -1

    @property
    def is_open(self) -> bool:
        return self._pipe is not None

    def open(self) -> None:
        if self.open_error is not None:
            raise CaptureError(self.open_error)
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        self._pipe = (read_end, write_end)
        self._decoder = Decoder(self.linktype)
        self.opened += 1
        if self._frames:
            os.write(write_end, b"!")

    def close(self) -> None:
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
        self._pipe = None

    def put(self, frames: Iterable[tuple[float, bytes]]) -> None:
        """Frames (time, bytes) as if they had just arrived on the wire. Thread-safe."""
        with self._lock:
            self._frames.extend(frames)
            if self._pipe is not None:
                os.write(self._pipe[1], b"!")

    def fail(self, reason: str) -> None:
        """The next read fails (the interface went away): the source closes, as the real one does."""
        self._failure = reason

    @property
    def waiting(self) -> int:
        """Frames put in and not read yet."""
        return len(self._frames)

    def read_batch(self) -> list[Observation] | None:
        if self._pipe is None or self._decoder is None:
            return None
        if self._failure is not None:
            reason, self._failure = self._failure, None
            self.close()
            raise CaptureError(f"capture on {self.interface!r} failed: {reason}")
        with self._lock:
            with contextlib.suppress(BlockingIOError):
                os.read(self._pipe[0], 65536)
            batch = [self._frames.popleft() for _ in range(min(_BATCH, len(self._frames)))]
            if self._frames:
                os.write(self._pipe[1], b"!")  # more wait: stay readable
        if not batch:
            return None
        buf = bytearray()
        records = []
        for ts, frame in batch:
            sec = int(ts)
            records.append((sec, round((ts - sec) * 1e6), len(buf), len(frame)))
            buf += frame
        observations, last = self._decoder.decode_batch(bytes(buf), records)
        self.stats.matched += len(batch)
        self.stats.last_packet = last
        self.stats.decoded = self._decoder.decoded
        self.stats.malformed = self._decoder.malformed
        self.stats.problems = dict(self._decoder.problems)
        return observations

    def refresh_stats(self) -> CaptureStats:
        self.stats.received = self.stats.matched  # the kernel saw what it passed; nothing dropped here
        return self.stats


class FakeInterfaces:
    """The machine's interfaces for a sensor under test: ``open_source`` for the sensor, which hands out one
    FakeLiveSource per interface name and keeps it (the test feeds it by name). A name not in ``names`` fails to
    open as a missing interface does."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.sources: dict[str, FakeLiveSource] = {}

    def open_source(self, interface: str) -> FakeLiveSource:
        source = self.sources.get(interface)
        if source is None:
            problem = None
            if interface not in self.names:
                have = ", ".join(self.names) or "(なし / none)"
                problem = (
                    f"インタフェース {interface} はこの機械にありません（あるもの: {have}） / "
                    f"interface {interface!r} does not exist on this machine (it has: {have})"
                )
            source = self.sources[interface] = FakeLiveSource(interface, open_error=problem)
        return source

    def __getitem__(self, interface: str) -> FakeLiveSource:
        return self.sources[interface]
