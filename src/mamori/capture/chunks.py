"""A large classic pcap file read by several libpcap processes at once, each over one part of the file.

libpcap reads a file from its start; to read a part, each reader process opens a pipe (``/dev/fd/N``) into which a
feeder process writes the file's 24-byte header and then the part's bytes (``splice``: the page cache's pages are
handed over, not copied in Python). The parts begin where a packet record begins: near each split point, the first
offset from which a chain of plausible record headers (time stamps near the file's first, fractions below a second,
lengths within libpcap's limits) runs on for :data:`CHAIN` records or to the end of the file. A part that does not
end cleanly where the next begins (libpcap reports a truncated record) means the split was wrong or the file is
damaged there: the caller then reads the file again from its start in one process, past the packets it has already
delivered, which gives exactly what reading it in one piece gives (docs/design.md §5).

The parent takes the parts' packets in the file's order: part 0's to its end, then part 1's, and so on; a thread per
reader receives its batches meanwhile, up to :data:`LANE_BYTES` ahead, so that later parts are read while earlier
ones are decoded.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import multiprocessing
import os
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

__all__ = ["CHAIN", "LANE_BYTES", "Part", "PartReaders", "split_file"]

CHAIN = 16  # record headers that must follow one another for an offset to count as a record's start
LANE_BYTES = 256 * 1024 * 1024  # matching packets a reader may have sent ahead of the one being consumed
_MAX_RECORD = 262_144  # libpcap's largest snapshot length (MAXIMUM_SNAPLEN)
_HEADER = 24
_RECORD = 16
_SEARCH = _MAX_RECORD + 2 * _RECORD  # a record starts within this many bytes after any offset
_BATCH = 4096
_PIPE_SIZE = 1 << 20
_SECONDS_NEAR = 366 * 86400  # a record's time stamp within a year of the file's first one
# magic -> (byte order, fractions of a second per second)
_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}


@dataclass(frozen=True)
class Part:
    """Bytes ``start`` to ``end`` of the file: whole packet records."""

    start: int
    end: int


def split_file(path: Path, parts: int) -> tuple[bytes, list[Part]]:
    """The file's header and its division into up to ``parts`` parts; one part (the whole file after the header) when
    it is not a classic pcap file, is too small, or no record's start could be made sure of near a split point."""
    size = path.stat().st_size
    with path.open("rb") as f:
        header = f.read(_HEADER)
        if len(header) < _HEADER or header[:4] not in _MAGICS or size < _HEADER + _RECORD or parts < 2:
            return header, [Part(_HEADER, size)]
        order, per_second = _MAGICS[header[:4]]
        record = struct.Struct(order + "IIII")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            first_sec = record.unpack_from(data, _HEADER)[0]
            starts = [_HEADER]
            for k in range(1, parts):
                at = _record_start(data, size, size * k // parts, record, per_second, first_sec)
                if at is not None and at > starts[-1]:
                    starts.append(at)
    ends = [*starts[1:], size]
    return header, [Part(s, e) for s, e in zip(starts, ends, strict=True)]


def _record_start(
    data: Any, size: int, near: int, record: struct.Struct, per_second: int, first_sec: int
) -> int | None:
    limit = min(size - _RECORD, near + _SEARCH)
    for offset in range(max(near, _HEADER), limit + 1):
        if _chain(data, size, offset, record, per_second, first_sec):
            return offset
    return None


def _chain(data: Any, size: int, offset: int, record: struct.Struct, per_second: int, first_sec: int) -> bool:
    unpack = record.unpack_from
    for _ in range(CHAIN):
        if offset == size:
            return True  # the chain reached the end of the file exactly
        if offset + _RECORD > size:
            return False
        sec, frac, caplen, length = unpack(data, offset)
        if (
            frac >= per_second
            or caplen > _MAX_RECORD
            or length > _MAX_RECORD
            or caplen > length
            or abs(sec - first_sec) > _SECONDS_NEAR
        ):
            return False
        offset += _RECORD + caplen
        if offset > size:
            return False
    return True


# -- the reader processes -------------------------------------------------------------------------------------------


def _feed(path: str, header: bytes, part: Part, fd: int, fed: Any) -> None:
    """In the feeder process: the header, then the part's bytes, into the pipe ``fd``."""
    source = os.open(path, os.O_RDONLY)
    try:
        os.write(fd, header)
        offset = part.start
        splice = getattr(os, "splice", None)
        while offset < part.end:
            want = min(part.end - offset, _PIPE_SIZE)
            if splice is not None:
                n = splice(source, fd, want, offset_src=offset)
            else:  # pragma: no cover - not Linux
                n = os.write(fd, os.pread(source, want, offset))
            if n <= 0:
                break
            offset += n
            fed.value = offset - part.start
    finally:
        os.close(source)


def _part_reader(path: str, bpf: str, header: bytes, part: Part, fed: Any, conn: Connection) -> None:
    """A reader process: libpcap over one part, through a pipe a feeder process fills. Sends ("link", dlt), then
    ("batch", (buffer, metadata)) messages, then ("end", None) or ("end", libpcap's complaint)."""
    try:
        import pcapy

        r, w = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # a larger pipe: fewer wake-ups (Linux)
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)  # type: ignore[attr-defined,unused-ignore]
        feeder = os.fork()
        if feeder == 0:  # pragma: no cover - the feeder process (coverage does not follow it)
            code = 0
            try:
                os.close(r)
                _feed(path, header, part, w, fed)
            except BaseException:
                code = 1  # the reader went away (a broken pipe) or the file did: the reader reports it
            finally:
                os._exit(code)
        os.close(w)
        try:
            reader = pcapy.open_offline(f"/dev/fd/{r}")
            reader.setfilter(bpf)
            conn.send(("link", int(reader.datalink())))
            error = None
            while True:
                try:
                    buf, meta = reader.next_batch(_BATCH)
                except pcapy.PcapError as exc:
                    error = str(exc)
                    break
                if not meta:
                    break
                conn.send(("batch", (buf, meta)))
            conn.send(("end", error))
        finally:
            os.close(r)
            os.waitpid(feeder, 0)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            conn.send(("end", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class _Lane:
    """One reader process's messages, received by a thread as they come, up to LANE_BYTES of batches ahead."""

    def __init__(self, proc: Any, conn: Connection, part: Part, fed: Any) -> None:
        self.proc = proc
        self.conn = conn
        self.part = part
        self.fed = fed
        self._items: deque[tuple[str, Any]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._receive, name="mamori-part-reader", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while True:
            try:
                item = self.conn.recv()
            except Exception:  # EOF or a closed pipe: the process ended (or was stopped by close())
                item = ("end", "the reader process ended unexpectedly")
            size = len(item[1][0]) if item[0] == "batch" else 0
            with self._cond:
                while self._bytes > LANE_BYTES and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                self._items.append(item)
                self._bytes += size
                self._cond.notify_all()
            if item[0] == "end":
                return

    def take(self) -> tuple[str, Any]:
        with self._cond:
            while not self._items:
                self._cond.wait()
            item = self._items.popleft()
            if item[0] == "batch":
                self._bytes -= len(item[1][0])
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self._thread.join(timeout=5)  # the process's end of the pipe is closed now: the thread sees the end
        self.conn.close()


class PartReaders:
    """Reader processes over the parts of one file, started at once; :meth:`messages` gives their messages in
    the file's order. ``position()`` is how far the feeders have come in the part being consumed."""

    def __init__(self, path: Path, bpf: str, header: bytes, parts: list[Part]) -> None:
        ctx = multiprocessing.get_context("fork")
        self.lanes: list[_Lane] = []
        self._current = 0
        try:
            for part in parts:
                fed = ctx.Value("Q", 0, lock=False)
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_part_reader, args=(str(path), bpf, header, part, fed, child), daemon=True)
                proc.start()
                child.close()
                self.lanes.append(_Lane(proc, parent, part, fed))
        except BaseException:
            self.close()
            raise

    def position(self) -> int:
        if self._current >= len(self.lanes):
            return self.lanes[-1].part.end if self.lanes else 0
        lane = self.lanes[self._current]
        return min(lane.part.start + int(lane.fed.value), lane.part.end)

    def messages(self) -> Iterator[tuple[int, str, Any]]:
        """(part index, kind, value) in the file's order; every part ends with ("end", error or None)."""
        for index, lane in enumerate(self.lanes):
            self._current = index
            while True:
                kind, value = lane.take()
                yield index, kind, value
                if kind == "end":
                    break
            lane.close()
        self._current = len(self.lanes)

    def close(self) -> None:
        for lane in self.lanes:
            lane.close()
