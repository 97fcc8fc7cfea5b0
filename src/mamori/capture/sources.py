"""Packet sources on the plain libpcap API (pcapy-ng): capture files and live interfaces.

Only libpcap calls are used (open_offline, create/activate, setfilter, setnonblock, get_selectable_fd, stats), so
the same code runs on Windows with Npcap. libpcap applies the BPF filter from :mod:`mamori.capture.bpf` in the
kernel (live) or in C (files); Python sees only the packets that pass it, in batches. A classic pcap file is read
by the compiled walker instead where it is built (:class:`_Walker`: libpcap's own compiled filter, run over the
file in memory on a thread of its own; docs/design-notes.md, "analyze: the pcap walker").
"""

from __future__ import annotations

import contextlib
import mmap
import queue
import select
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mamori.capture.decode import Decoder, Observation, PayloadWatch, UnsupportedLinkType
from mamori.capture.interfaces import activation_problem
from mamori.errors import CaptureError

if TYPE_CHECKING:  # the forked reader's; multiprocessing is loaded only when a file is read by libpcap in a child
    from multiprocessing.connection import Connection

__all__ = ["CaptureStats", "FileSource", "LiveSource", "PacketSource", "wait_readable"]

_META = struct.Struct("=IIII")  # sec, usec, offset, caplen: one record per packet from next_batch
_WALKED = struct.Struct("=IIQI")  # the same from the pcap walker, the offset into the file (files above 4 GB)
_BATCH = 4096
_WALK_BATCH = 8192
_U32 = 0xFFFFFFFF
# Link types the walker reads (the file header's value is the DLT here): Ethernet, Linux cooked v1 and v2. Other
# link types (raw IP's file value differs from its DLT, and some need libpcap's header fix-ups) stay with libpcap.
_WALK_LINKS = frozenset({1, 113, 276})
_MAX_SNAPLEN = 262144  # libpcap's largest captured length for these link types
_PCAP_MAGIC = {  # classic pcap magic -> (byte order swapped, nanosecond time stamps)
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}


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


def _decode_batch(
    decoder: Decoder, buf: Any, meta: bytes, stats: CaptureStats, layout: struct.Struct = _META
) -> list[Observation]:
    observations, ts = decoder.decode_packed(buf, meta, layout is _WALKED)
    if meta:
        stats.matched += len(meta) // layout.size
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

    def _recover(self, reason: str | None, damaged: int = 0) -> Iterator[tuple[bytes, bytes, int]]:
        """Re-read from the start one packet at a time, past the packets already delivered, up to the damage.

        A record whose header cannot be a packet's (a time stamp outside the file format's unsigned 32 bits, as
        a damaged record header gives) is skipped and counted; libpcap's own error ends the reading. ``reason``:
        why the batch reading stopped; None when it was the walker that handed over (``error`` is then set only
        if libpcap fails too, with libpcap's reason)."""
        pcapy = _pcapy()
        reader = self._open()
        delivered = 0
        failure = reason
        chunks: list[bytes] = []
        metas: list[bytes] = []
        size = 0
        while True:
            try:
                header, data = reader.next()
            except pcapy.PcapError as exc:
                failure = failure or str(exc)
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
        if failure is not None:
            self.error = _damage_message(self.path, self.matched, failure, damaged)
        elif damaged:
            self.error = _damaged_records_message(self.path, damaged)
        if metas:
            yield b"".join(chunks), b"".join(metas), self.position()


def _damage_message(path: Path, matched: int, reason: str, damaged: int = 0) -> str:
    skipped = f"; {damaged} damaged packet records skipped" if damaged else ""
    return (
        f"{path}: the file is damaged or truncated after {matched} matching packets ({reason}"
        f"{skipped}); everything before that point was analysed / ファイルが途中で壊れているか切れています"
        f"（フィルタに合うパケット {matched} 件の後）。それより前はすべて解析しました"
    )


def _damaged_records_message(path: Path, damaged: int) -> str:
    return (
        f"{path}: {damaged} damaged packet records skipped (time stamps no capture writes); everything else was "
        f"analysed / 壊れたパケット記録 {damaged} 件（あり得ない時刻）を飛ばしました。ほかはすべて解析しました"
    )


def _walk_module() -> Any:
    """The compiled walker, or None where it was not built (an install without a C compiler)."""
    try:
        from mamori.capture import _pcapwalk  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _pcapwalk


class _Walker:
    """A classic pcap file read in place (an mmap of it) by the compiled walker, on a thread of its own.

    The walker runs the BPF program libpcap compiles for the file's link type over every record without the GIL
    and hands back where the matching packets are; the decoder reads them from the mapping, so nothing is copied.
    pcapng files, other link types and an install without the compiled module are read by libpcap instead
    (:meth:`open` answers None). docs/design-notes.md, "analyze: the pcap walker".
    """

    def __init__(self, path: Path, bpf: str) -> None:
        self.path = path
        self.bpf = bpf
        self.link = 0
        self.position = 0
        self.matched = 0
        self.damaged = 0
        self.status = 0  # the walk's last status (the module's MORE, END, TRUNCATED, BOGUS)
        self._program: Any = None
        self._module: Any = None
        self._mm: mmap.mmap | None = None
        self._order = "<"
        self._nsec = False
        self._maxcap = _MAX_SNAPLEN
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=32)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, path: Path, bpf: str) -> _Walker | None:
        module = _walk_module()
        if module is None:
            return None
        walker = cls(path, bpf)
        try:
            with path.open("rb") as f:
                head = f.read(24)
                if len(head) < 24 or head[:4] not in _PCAP_MAGIC:
                    return None
                walker._order, walker._nsec = _PCAP_MAGIC[head[:4]]
                major, _minor, _zone, _sigfigs, snaplen, link = struct.unpack_from(walker._order + "HHiIII", head, 4)
                if major != 2 or link not in _WALK_LINKS:
                    return None
                pcapy = _pcapy()
                try:
                    program = module.Program(pcapy.compile(link, _MAX_SNAPLEN, bpf, 1, _U32).get_bpf())
                except (pcapy.PcapError, ValueError):
                    return None  # libpcap reports a refused filter in its own words
                walker._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None  # libpcap says what is wrong with the file
        with contextlib.suppress(OSError, AttributeError):
            walker._mm.madvise(mmap.MADV_SEQUENTIAL)
        walker._module, walker._program, walker.link = module, program, link
        walker._maxcap = snaplen if 0 < snaplen <= _MAX_SNAPLEN else _MAX_SNAPLEN  # as libpcap takes the snapshot
        walker.position = 24
        return walker

    @property
    def buffer(self) -> mmap.mmap:
        if self._mm is None:
            raise CaptureError(f"{self.path}: the walker was closed")
        return self._mm

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="mamori-pcap-walker", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        mm, program, module = self.buffer, self._program, self._module
        pos, end, swapped = 24, len(mm), self._order != _NATIVE_ORDER
        try:
            while not self._stop.is_set():
                item = program.walk(mm, pos, end, swapped, self._nsec, self._maxcap, _WALK_BATCH)
                self._put(item)
                pos = item[1]
                if item[2] != module.MORE:
                    return
        except BaseException as exc:  # handed to the reading side, which raises it there
            self._put(exc)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def batches(self) -> Iterator[bytes]:
        """The walker's matches, batch by batch (``_WALKED`` records); afterwards ``status`` says how it ended."""
        self.start()
        while True:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            matches, self.position, self.status, damaged = item
            self.damaged += damaged
            if matches:
                self.matched += len(matches) // _WALKED.size
                yield matches
            if self.status != self._module.MORE:
                return

    def truncation(self) -> str | None:
        """Why the walk stopped short of the file's end, in the words of the damage message (None: it did not)."""
        if self._mm is None or self.status != self._module.TRUNCATED:
            return None
        left = len(self._mm) - self.position
        if left < 16:
            return f"the last record header is cut: {left} of its 16 bytes are in the file"
        caplen = struct.unpack_from(self._order + "I", self._mm, self.position + 8)[0]
        return f"the last record is cut: {left - 16} of its {caplen} captured bytes are in the file"

    @property
    def bogus(self) -> bool:
        """The walk met a record header libpcap must judge (a captured length above the file's snapshot)."""
        return self._mm is not None and self.status == self._module.BOGUS

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    self._queue.get(timeout=0.05)
            self._thread = None
        if self._mm is not None:
            with contextlib.suppress(BufferError):  # a decoded batch still holding a view: the GC closes it
                self._mm.close()
            self._mm = None


_NATIVE_ORDER = "<" if struct.pack("=H", 1) == b"\x01\x00" else ">"


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

    A classic pcap file is walked by the compiled walker on a thread (``walk=False``: libpcap reads it). Other files
    larger than ``parallel_min_bytes`` are read by libpcap in a child process. Either way reading and filtering
    (in C) overlap with decoding and detection (in Python) on a second core.
    """

    def __init__(
        self,
        path: str | Path,
        bpf: str,
        *,
        parallel_min_bytes: int = 64 * 1024 * 1024,
        watch: PayloadWatch | None = None,
        walk: bool = True,
    ) -> None:
        self.path = Path(path)
        self.bpf = bpf
        self.watch = watch
        self.stats = CaptureStats(name=str(self.path))
        self.size = 0
        self.parallel_min_bytes = parallel_min_bytes
        self.walk = walk
        self._position = 0
        self._reader: tuple[Any, Connection] | None = None  # a reader process started ahead: (process, pipe)
        self._walker: _Walker | None = None  # the walker started ahead

    def position(self) -> int:
        return self._position

    def start(self) -> None:
        """Start reading now, before :meth:`batches` is asked for, so that the file is read while the caller gets
        ready (the terminal ledger, the detectors): the walker's thread for a classic pcap file, else a large file's
        reader process. Call :meth:`close` if the batches are then not read. A small file that libpcap reads, or
        one that cannot be read, waits for :meth:`batches`."""
        if self._walker is None and self._reader is None and self.walk:
            self._walker = _Walker.open(self.path, self.bpf)
        if self._walker is not None:
            self._walker.start()
        elif self._reader is None and _can_fork() and _file_size(self.path) >= self.parallel_min_bytes:
            self._reader = self._spawn()

    def close(self) -> None:
        """Stop the walker or reader process that :meth:`start` began and :meth:`batches` did not consume."""
        if self._walker is not None:
            self._walker.close()
            self._walker = None
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
        walker, self._walker = self._walker, None
        if walker is None and self._reader is None and self.walk:
            walker = _Walker.open(self.path, self.bpf)
        raw_batches: Iterator[int | tuple[Any, bytes, int] | tuple[Any, bytes, int, struct.Struct]]
        if walker is not None:
            raw_batches = self._walked_batches(walker)
        elif self._reader is not None or (self.size >= self.parallel_min_bytes and _can_fork()):
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
                buf, meta, self._position, *layout = item
                if decoder is None:  # the reader always announces the link type first
                    raise CaptureError(f"{self.path}: the reader sent packets before the link type")
                yield _decode_batch(decoder, buf, meta, stats, *layout)
                _sync_decoder_stats(decoder, stats)
        finally:
            if walker is not None:
                walker.close()
            if decoder is not None:
                _sync_decoder_stats(decoder, stats)

    def _walked_batches(
        self, walker: _Walker
    ) -> Iterator[int | tuple[Any, bytes, int] | tuple[Any, bytes, int, struct.Struct]]:
        yield walker.link
        for matches in walker.batches():
            yield walker.buffer, matches, walker.position, _WALKED
        reason = walker.truncation()
        if reason is not None:
            self.stats.errors.append(_damage_message(self.path, walker.matched, reason, walker.damaged))
        elif walker.bogus:  # a record libpcap must judge: it reads the rest, past what was delivered
            raw = _RawReader(self.path, self.bpf)
            raw.open()
            raw.matched = walker.matched + walker.damaged
            yield from raw._recover(None, walker.damaged)
            if raw.error:
                self.stats.errors.append(raw.error)
        elif walker.damaged:
            self.stats.errors.append(_damaged_records_message(self.path, walker.damaged))

    def _local_batches(self) -> Iterator[int | tuple[bytes, bytes, int]]:
        raw = _RawReader(self.path, self.bpf)
        yield raw.open()
        yield from raw.batches()
        if raw.error:
            self.stats.errors.append(raw.error)

    def _spawn(self) -> tuple[Any, Connection]:
        import multiprocessing

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
    import multiprocessing

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
