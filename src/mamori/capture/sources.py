"""Packet sources on the plain libpcap API (pcapy-ng): capture files and live interfaces.

Only libpcap calls are used (open_offline, create/activate, setfilter, setnonblock, get_selectable_fd, stats), so
the same code runs on Windows with Npcap. libpcap applies the BPF filter from :mod:`mamori.capture.bpf` in the
kernel (live) or in C (files); Python sees only the packets that pass it, in batches.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import select
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mamori.capture.decode import Decoder, Observation, PayloadWatch, UnsupportedLinkType
from mamori.capture.interfaces import activation_problem
from mamori.errors import CaptureError

__all__ = ["CaptureStats", "FileSource", "LiveSource", "PacketSource", "wait_readable"]

_META = struct.Struct("=IIII")  # sec, usec, offset, caplen: one record per packet from next_batch
_BATCH = 4096
_U32 = 0xFFFFFFFF


def _pcapy() -> Any:
    try:
        import pcapy
    except ImportError as exc:  # pragma: no cover - a broken install
        raise CaptureError(f"the libpcap binding (pcapy-ng) is not installed: {exc}") from exc
    return pcapy


@dataclass
class CaptureStats:
    """What a source has seen so far. ``matched`` counts packets that passed the BPF filter."""

    name: str
    matched: int = 0
    decoded: int = 0
    malformed: int = 0
    received: int = 0  # live only: packets the kernel saw (pcap_stats ps_recv)
    dropped: int = 0  # live only: packets the kernel dropped for lack of buffer space (ps_drop)
    if_dropped: int = 0  # live only: dropped by the interface or its driver (ps_ifdrop)
    last_packet: float | None = None
    problems: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _decode_batch(decoder: Decoder, buf: bytes, meta: bytes, stats: CaptureStats) -> list[Observation]:
    observations, ts = decoder.decode_batch(buf, _META.iter_unpack(meta))
    if meta:
        stats.matched += len(meta) // _META.size
        stats.last_packet = ts
    return observations


def _sync_decoder_stats(decoder: Decoder, stats: CaptureStats) -> None:
    stats.decoded = decoder.decoded
    stats.malformed = decoder.malformed
    stats.problems = dict(decoder.problems)


class _RawReader:
    """libpcap over one file: (buffer, packed metadata, file position) batches of the packets that pass the filter.

    When libpcap fails mid-file (truncated or damaged), the binding discards the batch it was filling, so the
    tail is re-read packet by packet: every packet before the damage is delivered, and ``error`` says what broke.
    """

    def __init__(self, path: Path, bpf: str) -> None:
        self.path = path
        self.bpf = bpf
        self.error: str | None = None
        self.matched = 0
        self._reader: Any = None
        self._fd = -1

    def open(self) -> int:
        self._reader = self._open()
        try:
            self._fd = self._reader.getfd()
        except Exception:
            self._fd = -1
        return int(self._reader.datalink())

    def _open(self) -> Any:
        pcapy = _pcapy()
        if not self.path.is_file():
            raise CaptureError(f"{self.path}: no such capture file")
        try:
            reader = pcapy.open_offline(str(self.path))
        except pcapy.PcapError as exc:
            raise CaptureError(f"{self.path}: not a readable pcap or pcapng file ({exc})") from exc
        try:
            reader.setfilter(self.bpf)
        except pcapy.PcapError as exc:
            raise CaptureError(f"{self.path}: the capture filter was refused ({exc})") from exc
        return reader

    def position(self) -> int:
        """Bytes of the file read so far (Linux: from /proc; elsewhere 0), for progress bars."""
        if self._fd < 0:
            return 0
        try:
            with open(f"/proc/self/fdinfo/{self._fd}", encoding="ascii") as info:
                return int(info.readline().split()[1])
        except (OSError, ValueError, IndexError):
            return 0

    def batches(self) -> Iterator[tuple[bytes, bytes, int]]:
        pcapy = _pcapy()
        reader = self._reader
        while True:
            try:
                buf, meta = reader.next_batch(_BATCH)
            except pcapy.PcapError as exc:
                yield from self._recover(str(exc))
                return
            if not meta:
                return
            self.matched += len(meta) // _META.size
            yield buf, meta, self.position()

    def _recover(self, reason: str) -> Iterator[tuple[bytes, bytes, int]]:
        """Re-read from the start one packet at a time, past the packets already delivered, up to the damage.

        A record whose header cannot be a packet's (a time stamp outside the file format's unsigned 32 bits, as
        a damaged record header gives) is skipped and counted; libpcap's own error ends the reading."""
        pcapy = _pcapy()
        reader = self._open()
        delivered = 0
        damaged = 0
        chunks: list[bytes] = []
        metas: list[bytes] = []
        size = 0
        while True:
            try:
                header, data = reader.next()
            except pcapy.PcapError:
                break
            if header is None:
                break
            if delivered < self.matched:
                delivered += 1
                continue
            sec, usec = header.getts()
            if not (0 <= sec <= _U32 and 0 <= usec <= _U32):
                damaged += 1
                continue
            metas.append(_META.pack(sec, usec, size, len(data)))
            chunks.append(data)
            size += len(data)
            if len(metas) >= _BATCH:
                self.matched += len(metas)
                yield b"".join(chunks), b"".join(metas), self.position()
                chunks, metas, size = [], [], 0
        self.matched += len(metas)
        skipped = f"; {damaged} damaged packet records skipped" if damaged else ""
        self.error = (
            f"{self.path}: the file is damaged or truncated after {self.matched} matching packets ({reason}"
            f"{skipped}); everything before that point was analysed / ファイルが途中で壊れているか切れています"
            f"（フィルタに合うパケット {self.matched} 件の後）。それより前はすべて解析しました"
        )
        if metas:
            yield b"".join(chunks), b"".join(metas), self.position()


def _reader_process(path: str, bpf: str, conn: Connection) -> None:
    """Runs in a child process: libpcap reads and filters while the parent decodes and detects."""
    try:
        raw = _RawReader(Path(path), bpf)
        conn.send(("link", raw.open()))
        for buf, meta, pos in raw.batches():
            conn.send(("batch", (buf, meta, pos)))
        conn.send(("end", raw.error))
    except CaptureError as exc:
        conn.send(("fail", str(exc)))
    except BaseException as exc:
        conn.send(("fail", f"{path}: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class FileSource:
    """Reads a pcap or pcapng file (any link type libpcap and :class:`Decoder` support) through a BPF filter.

    Files larger than ``parallel_min_bytes`` are read by libpcap in a child process, so that reading and
    filtering (in C) overlap with decoding and detection (in Python) on a second core.
    """

    def __init__(
        self,
        path: str | Path,
        bpf: str,
        *,
        parallel_min_bytes: int = 64 * 1024 * 1024,
        watch: PayloadWatch | None = None,
    ) -> None:
        self.path = Path(path)
        self.bpf = bpf
        self.watch = watch
        self.stats = CaptureStats(name=str(self.path))
        self.size = 0
        self.parallel_min_bytes = parallel_min_bytes
        self._position = 0
        self._reader: tuple[Any, Connection] | None = None  # a reader process started ahead: (process, pipe)

    def position(self) -> int:
        return self._position

    def start(self) -> None:
        """Start reading now, before :meth:`batches` is asked for: a large file's reader process begins at once, so
        that libpcap reads while the caller gets ready (the terminal ledger, the detectors). Call :meth:`close`
        if the batches are then not read. A small file, or one that cannot be read, waits for :meth:`batches`."""
        if self._reader is None and _can_fork() and _file_size(self.path) >= self.parallel_min_bytes:
            self._reader = self._spawn()

    def close(self) -> None:
        """Stop a reader process that :meth:`start` began and :meth:`batches` did not consume."""
        if self._reader is not None:
            proc, conn = self._reader
            self._reader = None
            conn.close()
            proc.kill()
            proc.join(timeout=5)

    def batches(self) -> Iterator[list[Observation]]:
        """Yield decoded observations batch by batch. A truncated or damaged file ends with a message in
        ``stats.errors``; every packet before the damage is still delivered."""
        try:
            self.size = self.path.stat().st_size
        except OSError as exc:
            self.close()
            raise CaptureError(f"{self.path}: cannot read ({exc.strerror})") from exc
        if self._reader is not None or (self.size >= self.parallel_min_bytes and _can_fork()):
            reader, self._reader = self._reader or self._spawn(), None
            raw_batches = self._child_batches(*reader)
        else:
            raw_batches = self._local_batches()
        decoder: Decoder | None = None
        stats = self.stats
        try:
            for item in raw_batches:
                if isinstance(item, int):
                    try:
                        decoder = Decoder(item, self.watch)
                    except UnsupportedLinkType as exc:
                        raise CaptureError(f"{self.path}: {exc}") from exc
                    continue
                buf, meta, self._position = item
                if decoder is None:  # the reader always announces the link type first
                    raise CaptureError(f"{self.path}: the reader sent packets before the link type")
                yield _decode_batch(decoder, buf, meta, stats)
                _sync_decoder_stats(decoder, stats)
        finally:
            if decoder is not None:
                _sync_decoder_stats(decoder, stats)

    def _local_batches(self) -> Iterator[int | tuple[bytes, bytes, int]]:
        raw = _RawReader(self.path, self.bpf)
        yield raw.open()
        yield from raw.batches()
        if raw.error:
            self.stats.errors.append(raw.error)

    def _spawn(self) -> tuple[Any, Connection]:
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_reader_process, args=(str(self.path), self.bpf, child), daemon=True)
        proc.start()
        child.close()
        return proc, parent

    def _child_batches(self, proc: Any, parent: Connection) -> Iterator[int | tuple[bytes, bytes, int]]:
        try:
            while True:
                try:
                    kind, value = parent.recv()
                except EOFError:
                    raise CaptureError(f"{self.path}: the reader process ended unexpectedly") from None
                if kind == "link":
                    yield int(value)
                elif kind == "batch":
                    yield value
                elif kind == "end":
                    if value:
                        self.stats.errors.append(str(value))
                    return
                else:
                    raise CaptureError(str(value))
        finally:
            parent.close()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class PacketSource(Protocol):
    """A live source of packets as the sensor uses it: :class:`LiveSource` on an interface, or
    ``mamori.testing.FakeLiveSource`` in tests. ``fd`` is a descriptor ``select()`` reports readable when packets
    wait (-1 while closed); ``read_batch`` never blocks and raises CaptureError when the source failed (it is closed
    then; ``open`` it again later)."""

    interface: str

    @property
    def fd(self) -> int: ...

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def read_batch(self) -> list[Observation] | None: ...

    def refresh_stats(self) -> CaptureStats: ...


class LiveSource:
    """A live interface. Non-blocking with ``select()`` on libpcap's selectable descriptor (docs/design.md §5)."""

    def __init__(
        self,
        interface: str,
        bpf: str,
        *,
        snaplen: int = 256,
        buffer_bytes: int = 64 * 1024 * 1024,
        promiscuous: bool = True,
        watch: PayloadWatch | None = None,
    ) -> None:
        self.interface = interface
        self.watch = watch
        self.bpf = bpf
        self.snaplen = snaplen
        self.buffer_bytes = buffer_bytes
        self.promiscuous = promiscuous
        self.stats = CaptureStats(name=interface)
        self._handle: Any = None
        self._decoder: Decoder | None = None
        self._fd = -1
        self._base = (0, 0, 0)

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def is_open(self) -> bool:
        return self._handle is not None

    def open(self) -> None:
        pcapy = _pcapy()
        try:
            handle = pcapy.create(self.interface)
            handle.set_snaplen(self.snaplen)
            handle.set_promisc(1 if self.promiscuous else 0)
            handle.set_buffer_size(self.buffer_bytes)
            handle.set_timeout(100)
            problem = activation_problem(self.interface, handle.activate() or 0, pcapy)
            if problem is not None:
                raise CaptureError(problem)
            handle.setfilter(self.bpf)
            handle.setnonblock(1)
            self._decoder = Decoder(handle.datalink(), self.watch)
            self._fd = handle.getfd()
        except (pcapy.PcapError, UnsupportedLinkType) as exc:
            raise CaptureError(f"cannot capture on interface {self.interface!r}: {exc}") from exc
        if self._fd < 0:
            raise CaptureError(f"interface {self.interface!r} has no selectable descriptor on this platform")
        # Counters restart when an interface is re-opened; keep the totals monotonic.
        self._base = (self.stats.received, self.stats.dropped, self.stats.if_dropped)
        self._handle = handle

    def close(self) -> None:
        if self._handle is not None:
            self._refresh_kernel_stats()
            with contextlib.suppress(Exception):  # closing a dead handle must never mask the reason it died
                self._handle.close()
        self._handle = None
        self._fd = -1

    def read_batch(self) -> list[Observation] | None:
        """One batch (up to 4,096 packets) of what the kernel buffered, decoded; None when nothing was waiting.
        Non-blocking. Raises CaptureError if the interface failed (it is closed then; open() again later)."""
        pcapy = _pcapy()
        handle = self._handle
        decoder = self._decoder
        if handle is None or decoder is None:
            return None
        try:
            buf, meta = handle.next_batch(_BATCH)
        except pcapy.PcapError as exc:
            self.close()
            raise CaptureError(f"capture on {self.interface!r} failed: {exc}") from exc
        if not meta:
            return None
        batch = _decode_batch(decoder, buf, meta, self.stats)
        _sync_decoder_stats(decoder, self.stats)
        return batch

    def _refresh_kernel_stats(self) -> None:
        if self._handle is None:
            return
        try:
            recv, drop, ifdrop = self._handle.stats()
        except Exception:
            return
        base_recv, base_drop, base_ifdrop = self._base
        self.stats.received = base_recv + recv
        self.stats.dropped = base_drop + drop
        self.stats.if_dropped = base_ifdrop + ifdrop

    def refresh_stats(self) -> CaptureStats:
        self._refresh_kernel_stats()
        return self.stats


_Source = TypeVar("_Source", bound=PacketSource)


def wait_readable(sources: Sequence[_Source], timeout: float) -> list[_Source]:
    """Block until one of the open sources has packets, or ``timeout`` seconds pass."""
    fds = {s.fd: s for s in sources if s.is_open}
    if not fds:
        return []
    try:
        ready, _, _ = select.select(list(fds), [], [], timeout)
    except (OSError, ValueError):
        return list(fds.values())
    return [fds[fd] for fd in ready]
