"""Read .evtx files (Security.evtx, ForwardedEvents.evtx of Windows Event Forwarding...) with the Rust ``evtx``
parser, streaming: one chunk of 64 KiB at a time, so a 4 GB log needs no more memory than a small one.

Records arrive as JSON text. Their event id is read from the text first; only records whose id a rule wants
(``wanted``) are decoded into :class:`WindowsEvent` — decoding JSON costs twice the parsing, and most records of a
busy log concern no rule. A damaged chunk or record is reported (with the parser's reason) and skipped; the parser
goes on with the next one, so the rest of the file is still read.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import re
import struct
import warnings
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from mamori.ingest.stats import ReaderBase
from mamori.ingest.winevent import DecodeError, event_from_xml_json, loads
from mamori.model import WindowsEvent

__all__ = ["EVTX_MAGIC", "EvtxFile", "count_records", "read_evtx_files"]

EVTX_MAGIC = b"ElfFile\x00"
_CHUNK_MAGIC = b"ElfChnk\x00"
_HEADER_BLOCK = 4096
_CHUNK_SIZE = 65536
_CHUNK_IDS = struct.Struct("<QQ")  # first and last event record id, at offset 24 of a chunk header
_BATCH = 1024


def count_records(path: Path) -> int:
    """Records in the file, from its chunk headers (for a progress bar; damaged headers count as empty)."""
    total = 0
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            for offset in range(_HEADER_BLOCK, size - 40, _CHUNK_SIZE):
                f.seek(offset)
                head = f.read(40)
                if head[:8] == _CHUNK_MAGIC:
                    first, last = _CHUNK_IDS.unpack_from(head, 24)
                    if first <= last < first + _CHUNK_SIZE:
                        total += last - first + 1
    except OSError:
        return 0
    return total


_EVENT_ID = re.compile(r'"EventID":(?:(\d+)|\{.*?"#text":(\d+))')


def _event_id_in(data: str) -> int:
    """The EventID from a record's JSON text without decoding it: ``"EventID":4625`` or
    ``"EventID":{"#attributes":{"Qualifiers":16384},"#text":7045}``. -1 when absent. (A regular expression:
    four times faster than scanning in Python, and this runs on every record.)"""
    found = _EVENT_ID.search(data)
    return int(found.group(1) or found.group(2)) if found else -1


Raw = list[tuple[int | None, str]]  # (record id, JSON text) of the records that passed the event-id filter


def _raw_batches(path: str, wanted: frozenset[int] | None, batch_size: int) -> Iterator[tuple[Raw, int, list[str]]]:
    """Parse ``path``; yield (selected records, records read, problems) per batch. Runs in-process or in the child.

    The parser skips a damaged chunk or record and warns (``RuntimeWarning``); the warnings are collected per batch
    (the context is never held open across a ``yield``) and handed on as problems.
    """
    try:
        from evtx import PyEvtxParser

        # The stub says __next__ may return None; it never yields one (its documentation: exceptions are raised).
        records = cast(Iterator[dict[str, Any]], PyEvtxParser(path, skip_errors=True, indent=False).records_json())
    except (OSError, RuntimeError, ValueError) as exc:
        raise _Unreadable(f"cannot read as .evtx: {exc}") from None
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
                    if wanted is None or _event_id_in(data) in wanted:
                        selected.append((record.get("event_record_id"), data))
                done = n < batch_size
            except RuntimeError as exc:  # not recoverable: the parser cannot go on
                problems.append(f"reading stopped: {exc}")
                done = True
        for warning in caught:
            if issubclass(warning.category, RuntimeWarning):
                problems.append(str(warning.message).removeprefix("Skipping EVTX data: "))
            else:  # not the parser's: pass it on
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        yield selected, n, problems


class _Unreadable(Exception):
    pass


class EvtxFile(ReaderBase):
    """One .evtx file as batches of events. ``wanted``: event ids to decode (None: every record)."""

    kind = "evtx"

    def __init__(self, path: Path, wanted: frozenset[int] | None = None, *, batch_size: int = _BATCH) -> None:
        super().__init__(path, wanted, batch_size)
        self._expected = 0

    def position(self) -> int:
        """Bytes read so far, estimated from the records read (for progress)."""
        if not self._expected:
            self._expected = count_records(self.path) or 1
        return min(self.size, self.size * self.stats.records // self._expected)

    def batches(self) -> Iterator[list[WindowsEvent]]:
        try:
            for selected, n, problems in _raw_batches(str(self.path), self.wanted, self.batch_size):
                batch = self.decode(selected, n, problems)
                if batch:
                    yield batch
        except _Unreadable as exc:
            self.stats.fail(str(exc))

    def decode(self, selected: Raw, n: int, problems: list[str]) -> list[WindowsEvent]:
        """Records (as JSON text) -> events; the counts and problems go into ``stats``."""
        stats = self.stats
        stats.records += n
        for problem in problems:
            stats.problem(problem)
        source = self.path.name
        batch: list[WindowsEvent] = []
        for record_id, data in selected:
            try:
                batch.append(event_from_xml_json(loads(data)["Event"], source, record_id))
            except (DecodeError, ValueError, KeyError, TypeError) as exc:
                stats.problem(f"record {record_id}: {exc}")
        stats.decoded += len(batch)
        return batch


# -- several files, parsed in a child process -------------------------------------------------------------------


def _reader_process(paths: list[str], wanted: frozenset[int] | None, batch_size: int, conn: Connection) -> None:
    """Runs in a child process: the Rust parser reads and the event-id filter drops while the parent decodes and
    runs the rules (the parser holds the GIL, so a thread would not overlap)."""
    # Only short-lived strings and lists are made here, never cycles: without the collector, the child never walks
    # (and so never copies, page by page) the heap it shares with the parent after the fork.
    gc.disable()
    try:
        for index, path in enumerate(paths):
            try:
                for selected, n, problems in _raw_batches(path, wanted, batch_size):
                    conn.send(("batch", index, (selected, n, problems)))
            except _Unreadable as exc:
                conn.send(("fail", index, str(exc)))
            conn.send(("end", index, None))
    except BaseException as exc:  # tell the parent rather than die silently
        conn.send(("abort", -1, f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def read_evtx_files(
    files: Sequence[EvtxFile], *, parallel_min_bytes: int = 4 * 1024 * 1024
) -> Iterator[tuple[EvtxFile, list[WindowsEvent]]]:
    """Batches of events from several .evtx files, in order. When they add up to ``parallel_min_bytes`` or more
    (and the system can fork), one child process parses them all while this process decodes; otherwise they are
    read here. A file that cannot be read is marked in its ``stats`` and the others are still read."""
    if not files:
        return
    if sum(f.size for f in files) < parallel_min_bytes or "fork" not in multiprocessing.get_all_start_methods():
        for file in files:
            for batch in file.batches():
                yield file, batch
        return
    yield from _parallel(files)


def _widen(conn: Connection) -> None:
    """A pipe of 1 MiB rather than 64 KiB: the child hands over a batch with fewer round trips (Linux only)."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def _parallel(files: Sequence[EvtxFile]) -> Iterator[tuple[EvtxFile, list[WindowsEvent]]]:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    _widen(parent)
    paths = [str(f.path) for f in files]
    proc = ctx.Process(target=_reader_process, args=(paths, files[0].wanted, files[0].batch_size, child), daemon=True)
    gc.freeze()  # the child inherits a heap its collector will not visit
    try:
        proc.start()
    finally:
        gc.unfreeze()
    child.close()
    try:
        while True:
            try:
                kind, index, value = parent.recv()
            except EOFError:
                raise OSError("the .evtx reader process ended unexpectedly") from None
            if kind == "batch":
                batch = files[index].decode(*value)
                if batch:
                    yield files[index], batch
            elif kind == "fail":
                files[index].stats.fail(str(value))
            elif kind == "abort":
                raise OSError(f"the .evtx reader process failed: {value}")
            elif kind == "end" and index == len(files) - 1:
                return
    finally:
        parent.close()
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
