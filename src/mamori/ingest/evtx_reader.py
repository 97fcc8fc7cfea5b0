"""Read .evtx files (Security.evtx, ForwardedEvents.evtx of Windows Event Forwarding...) with the Rust ``evtx``
parser, streaming: one chunk of 64 KiB at a time, so a 4 GB log needs no more memory than a small one.

Records arrive as JSON text. Their event id is read from the text first; only records whose id a rule wants
(``wanted``) are decoded into :class:`WindowsEvent` — decoding JSON costs twice the parsing, and most records of a
busy log concern no rule. A damaged chunk or record is reported (with the parser's reason) and skipped; the parser
goes on with the next one, so the rest of the file is still read.

Large inputs are read by worker processes, one per CPU. Each parses, filters and decodes a share of the work —
whole files, and a big file in blocks of chunks (an .evtx chunk is self-contained: its own string and template
tables) — and this process takes the events back in file and chunk order and runs the rules. Events travel as
``marshal`` data of plain tuples: rebuilding them here costs a quarter of decoding their JSON (measured in
benchmarks/bench_evtx.py's run), so the rules, which must run in one process, get most of its time; events no rule
could alert on (``keep``, the engine's hand-over filter) are not handed over at all. What a worker sends ahead of
the rules is bounded (:class:`EvtxWorkers`), so memory stays flat however large the input.
"""

from __future__ import annotations

import collections
import gc
import io
import itertools
import marshal
import multiprocessing
import os
import re
import select
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple, cast

from evtx import PyEvtxParser

from mamori.ingest.evtx_layout import CHUNK_SIZE as _CHUNK_SIZE
from mamori.ingest.evtx_layout import EVTX_MAGIC, count_records, truncation
from mamori.ingest.evtx_layout import HEADER_BLOCK as _HEADER_BLOCK
from mamori.ingest.stats import ReaderBase
from mamori.ingest.winevent import DecodeError, event_row, loads
from mamori.model import WindowsEvent

__all__ = [
    "EVTX_MAGIC",
    "EvtxFile",
    "EvtxWorkers",
    "count_records",
    "cpu_count",
    "read_evtx_files",
    "truncation",
]

_BATCH = 256  # records per batch: small batches keep the workers and the rules in step (measured)
_BLOCK_CHUNKS = 64  # chunks (4 MiB) per share of a big file handed to one worker


# The EventID from a record's JSON text without decoding it: ``"EventID":4625``, ``"EventID":"4625"`` (producers
# that write every value as text) or ``"EventID":{"#attributes":{"Qualifiers":16384},"#text":7045}`` (the text
# quoted or not), never looking past the EventID element. (A regular expression: four times faster than scanning
# in Python, and this runs on every record; this exact shape costs no more than the first form alone, measured.)
# A record in which it finds no id is decoded all the same, and judged on the id decoding finds: no record is
# dropped because its id is written in an unexpected way.
_EVENT_ID = re.compile(r'"EventID":(?:"?(\d+)|\{(?:"#attributes":\{[^{}]*\},)?"#text":"?(\d+))')


class _ChunkView(io.RawIOBase):
    """Chunks ``first`` .. ``first + count - 1`` of an .evtx file behind its file header, read as one file: the
    share of a big file one worker parses, or a file cut short. A chunk the file stops inside reads as zeros after
    the cut: the parser skips a short chunk altogether, and reads the records before the cut of a padded one."""

    def __init__(self, path: str, first: int, count: int) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY)
        self._header = os.pread(self._fd, _HEADER_BLOCK, 0)
        self._base = _HEADER_BLOCK + first * _CHUNK_SIZE
        self._size = _HEADER_BLOCK + count * _CHUNK_SIZE
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            pos = self._pos
            want = min(len(view) - done, self._size - pos)
            if pos < _HEADER_BLOCK:
                data = self._header[pos : pos + min(want, _HEADER_BLOCK - pos)]
            else:
                data = os.pread(self._fd, want, self._base + pos - _HEADER_BLOCK) or bytes(want)  # zeros after a cut
            if not data:
                break
            view[done : done + len(data)] = data
            done += len(data)
            self._pos += len(data)
        return done

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class _Job(NamedTuple):
    """A share of the work: a whole file (``chunks`` 0, read by path) or ``chunks`` chunks from ``first``."""

    file: int  # index among the files being read
    path: str
    first: int = 0
    chunks: int = 0


Raw = list[tuple[int | None, str]]  # (record id, JSON text) of the records that passed the event-id filter


def _raw_batches(job: _Job, wanted: frozenset[int] | None, batch_size: int) -> Iterator[tuple[Raw, int, list[str]]]:
    """Parse the job's records; yield (selected records, records read, problems) per batch.

    The parser skips a damaged chunk or record and warns (``RuntimeWarning``); the warnings are collected per batch
    (the context is never held open across a ``yield``) and handed on as problems, with the chunk numbers of the file.
    """
    view = _ChunkView(job.path, job.first, job.chunks) if job.chunks else None
    try:
        # One parser thread: more only spin (records are handed over one at a time) and compete with the workers.
        # The stub says __next__ may return None; it never yields one (its documentation: exceptions are raised).
        parser = PyEvtxParser(view or job.path, number_of_threads=1, skip_errors=True, indent=False)
        records = cast(Iterator[dict[str, Any]], parser.records_json())
    except (OSError, RuntimeError, ValueError) as exc:
        if view is not None:
            view.close()
        raise _Unreadable(f"cannot read as .evtx: {exc}") from None
    try:
        yield from _selected(records, wanted, batch_size, job.first)
    finally:
        if view is not None:
            view.close()


def _in_file(message: str, first: int) -> str:
    """A parser message about a chunk of a share, numbered as in the whole file."""
    message = message.removeprefix("Skipping EVTX data: ")
    if first:
        message = re.sub(r"chunk number (\d+)", lambda m: f"chunk number {int(m.group(1)) + first}", message)
    return message


def _selected(
    records: Iterator[dict[str, Any]], wanted: frozenset[int] | None, batch_size: int, first: int
) -> Iterator[tuple[Raw, int, list[str]]]:
    # The ids as text: compared with the digits found, no int() per record.
    wanted_text = None if wanted is None else frozenset(str(i) for i in wanted)
    search = _EVENT_ID.search
    done = False
    while not done:
        selected: Raw = []
        problems: list[str] = []
        n = 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            try:
                for record in itertools.islice(records, batch_size):
                    n += 1
                    data: str = record["data"]
                    if wanted_text is not None:
                        found = search(data)
                        if found is not None and (found[1] or found[2]) not in wanted_text:
                            continue  # no id found: decoded, and kept if its id is wanted (``_decode``)
                    selected.append((record.get("event_record_id"), data))
                done = n < batch_size
            except RuntimeError as exc:  # not recoverable: the parser cannot go on
                problems.append(f"reading stopped: {_in_file(str(exc), first)}")
                done = True
        for warning in caught:
            if issubclass(warning.category, RuntimeWarning):
                problems.append(_in_file(str(warning.message), first))
            else:  # not the parser's: pass it on
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        yield selected, n, problems


Keep = Callable[[WindowsEvent], bool]  # which decoded events to hand over (a rule engine's handover_filter)


def _decode(
    selected: Raw, source: str, problems: list[str], wanted: frozenset[int] | None, keep: Keep | None
) -> list[WindowsEvent]:
    """Records (as JSON text) -> the events of ``wanted`` ids that ``keep`` wants (the id is checked again: the
    text filter lets through the records it finds no id in); a record that cannot be decoded becomes a problem."""
    events: list[WindowsEvent] = []
    for record_id, data in selected:
        try:
            event = _new(WindowsEvent, event_row(loads(data)["Event"], source, record_id))
        except (DecodeError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"record {record_id}: {exc}")
            continue
        if (wanted is None or event.event_id in wanted) and (keep is None or keep(event)):
            events.append(event)
    return events


_new = tuple.__new__  # a WindowsEvent from its fields as a tuple, without the NamedTuple's argument handling


class _Unreadable(Exception):
    pass


class EvtxFile(ReaderBase):
    """One .evtx file as batches of events. ``wanted``: event ids to decode (None: every record)."""

    kind = "evtx"

    def __init__(
        self,
        path: Path,
        wanted: frozenset[int] | None = None,
        *,
        batch_size: int = _BATCH,
        head: bytes | None = None,
    ) -> None:
        """``head``: the file's first bytes, when the caller has read them (to tell what kind of file it is)."""
        super().__init__(path, wanted, batch_size)
        self.keep: Keep | None = None  # which decoded events to hand on (None: all)
        self._expected = 0
        self.stats.cut = truncation(self.path, self.size, head)

    def position(self) -> int:
        """Bytes read so far, estimated from the records read (for progress)."""
        if not self._expected:
            self._expected = count_records(self.path) or 1
        return min(self.size, self.size * self.stats.records // self._expected)

    def batches(self) -> Iterator[list[WindowsEvent]]:
        try:
            for selected, n, problems in _raw_batches(self._whole(0), self.wanted, self.batch_size):
                events = _decode(selected, self.path.name, problems, self.wanted, self.keep)
                self.take(events, n, problems)
                if events:
                    yield events
        except _Unreadable as exc:
            self.fail(str(exc))

    def take(self, events: Sequence[WindowsEvent], n: int, problems: list[str]) -> None:
        """Count a batch read (here or by a worker): ``n`` records, ``events`` decoded and handed on, the problems."""
        stats = self.stats
        stats.records += n
        stats.decoded += len(events)
        for problem in problems:
            stats.problem(problem)

    def fail(self, message: str) -> None:
        if self.stats.failed is None:  # every share of a file that cannot be read says the same
            self.stats.fail(message)

    def shares(self, index: int, block_chunks: int = _BLOCK_CHUNKS) -> list[_Job]:
        """The file as jobs for the workers: whole, or in blocks of ``block_chunks`` chunks when it has several
        (and a header the parser takes; otherwise one job, which reports the failure once)."""
        chunks = -(-max(0, self.size - _HEADER_BLOCK) // _CHUNK_SIZE)
        if chunks < 2 * block_chunks or not self._has_magic():
            return [self._whole(index)]
        return [
            _Job(index, str(self.path), first, min(block_chunks, chunks - first))
            for first in range(0, chunks, block_chunks)
        ]

    def _whole(self, index: int) -> _Job:
        """The whole file as one job: read by its path, or, when it stops inside a chunk, through a view that pads
        that chunk with zeros (so that the records before the cut are read too)."""
        cut = self.stats.cut
        if cut is not None and cut.inside_chunk:
            return _Job(index, str(self.path), 0, cut.chunk + 1)
        return _Job(index, str(self.path))

    def _has_magic(self) -> bool:
        try:
            with self.path.open("rb") as f:
                return f.read(len(EVTX_MAGIC)) == EVTX_MAGIC
        except OSError:
            return False


# -- several files, read by worker processes ------------------------------------------------------------------


_TAG = struct.Struct("<i")  # the job a worker's message is about, ahead of the message (-1: the worker failed)


def _worker(
    tasks: Connection,
    claim: Callable[[], int],
    wanted: frozenset[int] | None,
    keep: Keep | None,
    batch_size: int,
    conn: Connection,
    others: list[Connection],
) -> None:
    """Runs in a worker process: waits for the list of jobs, then claims the next job not yet taken, parses,
    filters and decodes it, sends the events on (as plain tuples, marshalled), and claims again. The parser holds
    the GIL, so threads would not overlap; processes do."""
    # Only short-lived strings, lists and dicts are made here, never cycles: without the collector, the worker never
    # walks (and so never copies, page by page) the heap it shares with the parent after the fork.
    gc.disable()
    for other in others:  # the parent's ends of the pipes made before: it must be their only holder
        other.close()

    def send(number: int, kind: str, value: Any) -> None:
        conn.send_bytes(_TAG.pack(number) + marshal.dumps((kind, value)))

    try:
        try:
            jobs = [_Job(*job) for job in marshal.loads(tasks.recv_bytes())]  # noqa: S302 - from the parent
        except EOFError:  # nothing to do after all
            return
        finally:
            tasks.close()
        number = claim()
        while number < len(jobs):
            job = jobs[number]
            source = Path(job.path).name
            held = None  # each batch is sent when the next one is ready, so that the last says it is the last
            try:
                for selected, n, problems in _raw_batches(job, wanted, batch_size):
                    if held is not None:
                        send(number, "batch", held)
                    events = _decode(selected, source, problems, wanted, keep)
                    rows = [tuple(event) for event in events]  # marshal: plain tuples
                    held = (rows, n, problems)
                send(number, "last", held if held is not None else ([], 0, []))
            except _Unreadable as exc:
                if held is not None:
                    send(number, "batch", held)
                send(number, "fail", str(exc))
            number = claim()
    except BaseException as exc:  # tell the parent rather than die silently
        send(-1, "abort", f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def read_evtx_files(
    files: Sequence[EvtxFile],
    *,
    parallel_min_bytes: int = 4 * 1024 * 1024,
    workers: int | None = None,
    block_chunks: int = _BLOCK_CHUNKS,
    pool: EvtxWorkers | None = None,
    keep: Keep | None = None,
) -> Iterator[tuple[EvtxFile, list[WindowsEvent]]]:
    """Batches of events from several .evtx files, in order (of the files, and of the chunks in a file). When they
    add up to ``parallel_min_bytes`` or more, worker processes parse and decode them: those of ``pool`` (started
    beforehand, see :class:`EvtxWorkers`), else ``workers`` new ones (one per CPU when None), if the system can
    fork; otherwise they are read here. ``keep`` says which decoded events to hand on (a pool has its own, given
    when it started). A file that cannot be read is marked in its ``stats`` and the others are still read."""
    if not files or sum(f.size for f in files) < parallel_min_bytes:
        pool = None
    elif pool is None:
        pool = EvtxWorkers.start(files[0].wanted, keep=keep, count=workers, batch_size=files[0].batch_size)
    if pool is None:
        for file in files:
            file.keep = keep
            for batch in file.batches():
                yield file, batch
        return
    yield from pool.read(files, block_chunks)


def _widen(conn: Connection) -> None:
    """A pipe of 1 MiB rather than 64 KiB: a worker hands over a batch with fewer round trips (Linux only)."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


class EvtxWorkers:
    """Worker processes that parse, filter and decode .evtx files for this one, which runs the rules.

    They are started before the work is known (:meth:`start`), so that they get going while the files are looked
    at, and are then given the jobs, all at once (:meth:`read`): whole files, and big files in blocks of chunks.
    Each worker claims the next job nobody has taken when it is done with its own, so the job this process asks for
    is always one a worker is on or has finished. Whatever the workers have sent is read ahead whenever this
    process looks, up to ``budget`` bytes per worker: a pipe holds at most 1 MiB, and without this a worker that is
    ahead would stop there while the rules are busy. Memory stays bounded by the budget.
    """

    budget = 32 * 1024 * 1024

    def __init__(self, procs: list[Any], tasks: list[Connection], conns: list[Connection], claims: Any) -> None:
        self.procs = procs
        self._tasks = tasks
        self.conns = conns
        self._claims = claims
        self._jobs: dict[int, collections.deque[bytes]] = collections.defaultdict(collections.deque)
        self._held = [0] * len(conns)  # bytes read ahead per worker
        self._owner: dict[int, int] = {}  # job -> worker that sent it
        self._open = len(conns)
        self._by_fd = {conn.fileno(): w for w, conn in enumerate(conns)}
        self._poll = select.poll()  # one, kept: multiprocessing's wait() builds a selector per call
        for fd in self._by_fd:
            self._poll.register(fd, select.POLLIN)
        self._paused: set[int] = set()  # workers over the budget, not polled until their queue shrinks

    @classmethod
    def start(
        cls,
        wanted: frozenset[int] | None,
        *,
        keep: Keep | None = None,
        count: int | None = None,
        batch_size: int = _BATCH,
    ) -> EvtxWorkers | None:
        """``count`` workers (one per CPU when None) that decode the events of ``wanted`` ids and hand on those
        ``keep`` wants; None where processes cannot be forked."""
        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        ctx = multiprocessing.get_context("fork")
        counter = ctx.Value("q", 0)

        def claim() -> int:
            with counter.get_lock():
                number = int(counter.value)
                counter.value = number + 1
            return number

        procs: list[Any] = []
        tasks: list[Connection] = []
        conns: list[Connection] = []
        gc.freeze()  # the workers inherit a heap their collector will not visit
        try:
            for _ in range(max(1, count or cpu_count())):
                task_end, task_child = ctx.Pipe(duplex=False)
                parent, child = ctx.Pipe(duplex=False)
                _widen(parent)
                args = (task_end, claim, wanted, keep, batch_size, child, [*conns, *tasks])
                proc = ctx.Process(target=_worker, args=args, daemon=True)
                proc.start()
                task_end.close()  # the worker's ends are the worker's alone: its exit is seen as the end of the pipe
                child.close()
                procs.append(proc)
                tasks.append(task_child)
                conns.append(parent)
        finally:
            gc.unfreeze()
        return cls(procs, tasks, conns, claim)

    def read(
        self, files: Sequence[EvtxFile], block_chunks: int = _BLOCK_CHUNKS
    ) -> Iterator[tuple[EvtxFile, list[WindowsEvent]]]:
        """The events of ``files``, in order; the workers are stopped at the end (a pool reads one set of files)."""
        jobs = [job for index, file in enumerate(files) for job in file.shares(index, block_chunks)]
        finished = False
        try:
            work = marshal.dumps([tuple(job) for job in jobs])
            for task in self._tasks:
                task.send_bytes(work)
                task.close()
            for number, job in enumerate(jobs):
                file = files[job.file]
                while True:
                    kind, value = self._receive(number)
                    if kind == "fail":
                        file.fail(str(value))
                        break
                    rows, n, problems = value
                    events = [_new(WindowsEvent, row) for row in rows]
                    file.take(events, n, problems)
                    if events:
                        yield file, events
                    if kind == "last":
                        break
            finished = True
        finally:
            self.stop(finished)

    def _read(self, block: bool) -> None:
        """Take one message from every worker that has one ready (waiting for one when ``block``)."""
        for w in [w for w in self._paused if self._held[w] < self.budget]:
            self._paused.discard(w)
            self._poll.register(self.conns[w].fileno(), select.POLLIN)
        for fd, _event in self._poll.poll(None if block else 0):
            w = self._by_fd[fd]
            try:
                data = self.conns[w].recv_bytes()
            except EOFError:
                self._poll.unregister(fd)
                self._open -= 1
                continue
            (number,) = _TAG.unpack_from(data)
            self._jobs[number].append(data)
            self._owner[number] = w
            self._held[w] += len(data)
            if self._held[w] >= self.budget:
                self._poll.unregister(fd)
                self._paused.add(w)

    def _receive(self, number: int) -> tuple[str, Any]:
        """The next message about job ``number``: (kind, value)."""
        self._read(block=False)
        queue = self._jobs[number]
        while not queue:
            if self._jobs.get(-1):
                queue = self._jobs[-1]
                break
            if not self._open:
                raise OSError("an .evtx reader process ended unexpectedly")
            if len(self._paused) == self._open:  # cannot happen: the job asked for is some worker's current one
                raise OSError(f"the .evtx reader processes are all ahead of job {number}")
            self._read(block=True)
        data = queue.popleft()
        self._held[self._owner[_TAG.unpack_from(data)[0]]] -= len(data)
        kind, value = marshal.loads(memoryview(data)[_TAG.size :])  # noqa: S302 - our own worker, over our own pipe
        if kind == "abort":
            raise OSError(f"an .evtx reader process failed: {value}")
        if kind in ("last", "fail"):
            del self._jobs[number]
        return kind, value

    def stop(self, finished: bool = False) -> None:
        """Close the pipes and wait for the workers (which have ended when ``finished``; else they are stopped)."""
        for conn in [*self._tasks, *self.conns]:
            conn.close()
        for proc in self.procs:
            if finished:
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
            proc.join()
