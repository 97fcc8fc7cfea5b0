"""The evidence archive writer: append-only day files, hash-chained records, fsync, signed manifests.

Every received line is appended raw (see :mod:`mamori.storage.archive_format`) with a sequence number and a
SHA-256 chain. Writes go straight to the file descriptor (``os.write``: in the page cache, so a ``kill -9`` loses
nothing written), and ``sync`` calls ``fsync`` at the configured interval (a power cut loses at most that).
A failed write (disk full, I/O error) truncates the file back to the last complete record and raises
:class:`ArchiveWriteError` with nothing committed, so the caller can keep the lines and try again.

At the first record of a new local day the previous day is closed: synced, and a manifest (record count, first
and last sequence number, the chain's first link and last hash, SHA-256 of the file) is written and signed. While
a day is open a signed checkpoint of the head (``head.json``) is rewritten every ``checkpoint_interval``, so that
cutting records off the end of the open day is detected too. On start, a torn last record (the process was killed
in the middle of a write) is cut off and reported, and the chain continues from the last complete record.

Compression, retention and the mirror copy are in :mod:`mamori.storage.archive_maintenance`.
This module does no network I/O and no asyncio; one thread calls it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import time
from binascii import hexlify
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mamori.errors import StorageError
from mamori.storage.archive_format import (
    GENESIS,
    day_path,
    escape,
    format_header,
    list_day_files,
    parse_header,
    parse_record,
)
from mamori.storage.archive_keys import Signer

__all__ = [
    "Archive",
    "ArchiveItem",
    "ArchiveWriteError",
    "LocalDays",
    "fsync_dir",
    "manifest_path",
    "read_json",
    "write_json_atomic",
]

log = logging.getLogger(__name__)

ArchiveItem = tuple[float, str, str, int, bytes]
"""(received_at, transport, sender address, sender port, raw bytes): one line to archive."""

_SPECIAL = re.compile(rb"[\\\n\r\t]")
_TAIL_SCAN = 4 << 20  # more than the longest record (1 MiB message, escaped)


class ArchiveWriteError(StorageError):
    """A write to the archive failed; nothing of the batch was committed. ``errno`` tells why (ENOSPC...)."""

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


def manifest_path(root: Path, day: str) -> Path:
    return root / day[:4] / f"{day}.manifest.json"


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write-then-rename, synced: a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    data = (json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalDays:
    """Local calendar days and ISO times with offset, cached per second (the archive's clock arithmetic)."""

    def __init__(self, zone: dt.tzinfo | None = None) -> None:
        self.zone = zone
        self._sec = -1
        self._prefix = b""
        self._offset = b""

    def _local(self, ts: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts, self.zone) if self.zone else dt.datetime.fromtimestamp(ts).astimezone()

    def day(self, ts: float) -> str:
        return self._local(ts).strftime("%Y-%m-%d")

    def day_end(self, ts: float) -> float:
        """The POSIX time of the next local midnight after ``ts``."""
        local = self._local(ts)
        midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), local.tzinfo)
        if self.zone is None:
            midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0)).astimezone()
        return midnight.timestamp()

    def parts(self, sec: int) -> tuple[bytes, bytes]:
        """(``2026-11-23T10:15:02``, ``+09:00``) for a whole second, cached."""
        if sec != self._sec:
            local = self._local(sec)
            self._sec = sec
            self._prefix = local.strftime("%Y-%m-%dT%H:%M:%S").encode("ascii")
            offset = local.strftime("%z")
            self._offset = f"{offset[:3]}:{offset[3:]}".encode("ascii")
        return self._prefix, self._offset

    def stamp(self, ts: float) -> bytes:
        sec = int(ts)
        prefix, offset = self.parts(sec)
        return b"%s.%06d%s" % (prefix, int((ts - sec) * 1_000_000), offset)

    def iso(self, ts: float) -> str:
        return self.stamp(ts).decode("ascii")


@dataclass
class _OpenDay:
    day: str
    path: Path
    fd: int
    size: int
    records: int
    first_seq: int
    prev: bytes  # the chain link of the header
    opened_at: str
    file_hash: Any  # hashlib object over every byte written so far


class Archive:
    """Append-only writer of the evidence archive. Not thread-safe: one writer thread owns it."""

    def __init__(
        self,
        root: Path,
        *,
        signer: Signer | None = None,
        fsync_interval: float = 1.0,
        checkpoint_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        zone: dt.tzinfo | None = None,
        on_day_closed: Callable[[str], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.signer = signer
        self.fsync_interval = fsync_interval
        self.checkpoint_interval = checkpoint_interval
        self.clock = clock
        self.days = LocalDays(zone)
        self.on_day_closed = on_day_closed
        self.seq = 0
        self.prev = GENESIS
        self.written = 0
        self.notes: list[str] = []
        self._open: _OpenDay | None = None
        self._day_end = float("-inf")
        self._dirty = False
        self._last_sync = time.monotonic()
        self._last_checkpoint = time.monotonic()
        self._checkpointed_seq = -1
        self._middles: dict[tuple[str, str, int], bytes] = {}
        self._lock_fd: int | None = None

    # -- start --------------------------------------------------------------------------------------------------

    def open(self) -> list[str]:
        """Find where the chain stands, repair a torn tail, close days left open. Returns notes for the log."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the archive folder {self.root}: {exc.strerror}") from exc
        self._lock()
        days = list_day_files(self.root)
        last_manifest = self._newest_manifest()
        if last_manifest is not None:
            self.seq = int(last_manifest["last_seq"])
            self.prev = bytes.fromhex(last_manifest["last_hash"])
        today = self.days.day(self.clock())
        for day, files in days.items():
            plain = [p for p in files if p.name.endswith(".log")]
            if not plain or manifest_path(self.root, day).exists():
                continue
            state = self._recover(day, plain[0])
            if day == today:
                self._open = state
                self._day_end = self.days.day_end(self.clock())
            else:
                self._close(state, note="closed at start (it was left open)")
        return self.notes

    def _lock(self) -> None:
        """One writer per archive: a second one would fork the chain."""
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StorageError(
                f"the archive {self.root} is being written by another process (mamori collect or watch)"
            ) from None
        self._lock_fd = fd

    def _newest_manifest(self) -> dict[str, Any] | None:
        manifests = sorted(self.root.glob("[0-9][0-9][0-9][0-9]/*.manifest.json"))
        for path in reversed(manifests):
            doc = read_json(path)
            if doc is not None and "last_seq" in doc and "last_hash" in doc:
                return doc
        return None

    def _recover(self, day: str, path: Path) -> _OpenDay:
        """Reopen a day file for appending after a stop or a crash; cut off a torn last record."""
        size = path.stat().st_size
        with path.open("rb") as stream:
            header_line = stream.readline()
            header = parse_header(header_line.rstrip(b"\n"))
            if header is None or not header_line.endswith(b"\n"):
                raise StorageError(f"{path}: the first line is not an archive header; the file is not mamori's")
            good = self._last_good_offset(stream, size, len(header_line), header.prev, header.first_seq, path)
        if good < size:
            with path.open("r+b") as stream:
                stream.truncate(good)
                os.fsync(stream.fileno())
            self.notes.append(f"{path}: cut off {size - good} byte(s) of a record torn by a crash")
        file_hash = hashlib.sha256()
        records = 0
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                file_hash.update(chunk)
                records += chunk.count(b"\n")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        return _OpenDay(day, path, fd, good, records - 1, header.first_seq, header.prev, header.created, file_hash)

    def _last_good_offset(
        self, stream: BinaryIO, size: int, header_end: int, header_prev: bytes, first_seq: int, path: Path
    ) -> int:
        """The end of the last complete, well-formed record; sets ``seq``/``prev`` from it."""
        start = max(header_end, size - _TAIL_SCAN)
        stream.seek(start)
        tail = stream.read()
        end = tail.rfind(b"\n")
        while end >= 0:
            begin = tail.rfind(b"\n", 0, end) + 1
            if begin == 0 and start > header_end:
                break  # the record began before the scanned tail: trust it
            record = parse_record(tail[begin:end])
            if record is not None:
                self.seq = record.seq
                self.prev = record.hash
                return start + end + 1
            self.notes.append(f"{path}: a damaged last record at byte {start + begin} was cut off")
            end = begin - 1
        if start <= header_end:
            self.prev = header_prev  # no record yet: the chain stands at the header's link
            self.seq = first_seq - 1
            return header_end
        raise StorageError(f"{path}: no complete record in the last {_TAIL_SCAN} bytes; check it with mamori verify")

    # -- appending ----------------------------------------------------------------------------------------------

    def append(self, items: Sequence[ArchiveItem]) -> None:
        """Append lines, in order. Raises ArchiveWriteError with nothing committed if the write fails."""
        start = 0
        n = len(items)
        while start < n:
            ts = items[start][0]
            if self._open is None or ts >= self._day_end:
                self._rotate(ts)
            end = start
            day_end = self._day_end
            while end < n and items[end][0] < day_end:
                end += 1
            if end == start:  # a timestamp from before the open day (clock stepped back): keep it in this day
                end = start + 1
            self._write_chunk(items, start, end)
            start = end

    def _write_chunk(self, items: Sequence[ArchiveItem], start: int, end: int) -> None:
        # The hot path: ~2-3 µs per line. The fields between the time and the raw line (transport, sender, port)
        # repeat from one line to the next and are formatted once per sender; the time is formatted once per
        # second; lines without a byte to escape (nearly all) are not copied.
        day = self._open
        if day is None:
            raise StorageError("internal: no open day to write to")
        seq = self.seq
        prev = self.prev
        days = self.days
        middles = self._middles
        special = _SPECIAL.search
        sha256 = hashlib.sha256
        second = -1
        prefix = b""
        out = []
        for i in range(start, end):
            ts, transport, sender, port, raw = items[i]
            middle = middles.get((transport, sender, port))
            if middle is None:
                if len(middles) > 100_000:
                    middles.clear()
                middle = middles[(transport, sender, port)] = b"\t%s\t%s\t%d\t" % (
                    transport.encode("ascii", "replace"),
                    sender.encode("ascii", "replace"),
                    port,
                )
            sec = int(ts)
            if sec != second:
                second = sec
                prefix, suffix = days.parts(sec)
            if special(raw) is not None:
                raw = escape(raw)
            seq += 1
            content = b"%d\t%s.%06d%s%s%s" % (seq, prefix, int((ts - sec) * 1_000_000), suffix, middle, raw)
            prev = sha256(prev + content).digest()
            out.append(b"%s\t%s\n" % (content, hexlify(prev)))
        data = b"".join(out)
        self._write(day, data)
        day.file_hash.update(data)
        day.records += end - start
        self.seq = seq
        self.prev = prev
        self.written += end - start
        self._dirty = True

    def _write(self, day: _OpenDay, data: bytes) -> None:
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                done += os.write(day.fd, view[done:])
        except OSError as exc:
            try:
                os.ftruncate(day.fd, day.size)  # back to the last complete record
            except OSError:
                log.exception("cannot truncate %s after a failed write", day.path)
            raise ArchiveWriteError(f"cannot write to the archive {day.path}: {exc.strerror}", exc.errno) from exc
        day.size += len(data)

    def _rotate(self, ts: float) -> None:
        if self._open is not None:
            self._close(self._open)
            self._open = None
        day = self.days.day(ts)
        path = day_path(self.root, day)
        if path.exists() or manifest_path(self.root, day).exists():
            raise StorageError(f"{path}: the day is already in the archive (has the clock been set back?)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            created = self.days.iso(ts)
            header = format_header(day, self.seq + 1, self.prev, created)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
        except OSError as exc:
            raise ArchiveWriteError(f"cannot create the archive file {path}: {exc.strerror}", exc.errno) from exc
        state = _OpenDay(day, path, fd, 0, 0, self.seq + 1, self.prev, created, hashlib.sha256())
        try:
            self._write(state, header)
            os.fsync(fd)
            fsync_dir(path.parent)
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise ArchiveWriteError(f"cannot create the archive file {path}: {exc.strerror}", exc.errno) from exc
        state.file_hash.update(header)
        self._open = state
        self._day_end = self.days.day_end(ts)

    # -- syncing, closing -----------------------------------------------------------------------------------------

    def sync(self, *, force: bool = False) -> bool:
        """fsync the open day if it is due (or ``force``); write the signed head checkpoint when due.
        Returns whether an fsync happened."""
        now = time.monotonic()
        day = self._open
        synced = False
        if day is not None and self._dirty and (force or now - self._last_sync >= self.fsync_interval):
            try:
                os.fsync(day.fd)
            except OSError as exc:
                raise ArchiveWriteError(f"cannot sync the archive {day.path}: {exc.strerror}", exc.errno) from exc
            self._dirty = False
            self._last_sync = now
            synced = True
        due = force or now - self._last_checkpoint >= self.checkpoint_interval
        if self.seq != self._checkpointed_seq and due and not self._dirty:
            self._checkpoint()
            self._last_checkpoint = now
        return synced

    def _checkpoint(self) -> None:
        day = self._open
        document: dict[str, Any] = {
            "format": 1,
            "seq": self.seq,
            "hash": self.prev.hex(),
            "day": day.day if day is not None else None,
            "records_in_day": day.records if day is not None else 0,
            "at": self.days.iso(self.clock()),
        }
        if self.signer is not None:
            document = self.signer.sign_document(document)
        try:
            write_json_atomic(self.root / "head.json", document)
        except OSError as exc:
            raise ArchiveWriteError(f"cannot write {self.root / 'head.json'}: {exc.strerror}", exc.errno) from exc
        self._checkpointed_seq = self.seq

    def _close(self, day: _OpenDay, note: str | None = None) -> None:
        try:
            os.fsync(day.fd)
        finally:
            os.close(day.fd)
        document: dict[str, Any] = {
            "format": 1,
            "day": day.day,
            "file": day.path.name,
            "records": day.records,
            "first_seq": day.first_seq,
            "last_seq": day.first_seq + day.records - 1,
            "prev_hash": day.prev.hex(),
            "last_hash": self.prev.hex(),
            "content_sha256": day.file_hash.hexdigest(),
            "bytes": day.size,
            "opened_at": day.opened_at,
            "closed_at": self.days.iso(self.clock()),
        }
        if day.records and day.first_seq + day.records - 1 != self.seq:
            log.error("archive %s: record count and sequence disagree; manifest records what was written", day.path)
        if self.signer is not None:
            document = self.signer.sign_document(document)
        else:
            document["algorithm"] = "none"
        try:
            write_json_atomic(manifest_path(self.root, day.day), document)
        except OSError as exc:
            raise ArchiveWriteError(f"cannot write the manifest of {day.day}: {exc.strerror}", exc.errno) from exc
        self.notes.append(f"{day.path}: day closed with {day.records} record(s)" + (f"; {note}" if note else ""))
        log.info("archive day %s closed: %d record(s), manifest signed", day.day, day.records)
        if self.on_day_closed is not None:
            self.on_day_closed(day.day)

    def roll_over(self) -> None:
        """Close the open day if midnight has passed (call this while idle, so a quiet night still closes)."""
        if self._open is not None and self.clock() >= self._day_end:
            self._close(self._open)
            self._open = None
            self._day_end = float("-inf")

    def close(self) -> None:
        """Sync and checkpoint; the day stays open (it is continued at the next start)."""
        if self._open is not None:
            self.sync(force=True)
            os.close(self._open.fd)
            self._open = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    @property
    def open_day(self) -> str | None:
        return self._open.day if self._open is not None else None

    @property
    def open_path(self) -> Path | None:
        return self._open.path if self._open is not None else None
