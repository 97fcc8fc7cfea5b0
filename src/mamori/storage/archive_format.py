"""The evidence archive's file format: one text line per received message, chained by SHA-256.

A day file (``YYYY/YYYY-MM-DD.log``, gzip-compressed to ``.log.gz`` once the day is closed) starts with a header
line and then holds one record per line::

    #mamori-archive 1 day=2026-11-23 first_seq=1001 prev=<64 hex> created=2026-11-23T00:00:00.004+09:00
    1001<TAB>2026-11-23T00:00:00.004518+09:00<TAB>udp<TAB>10.1.0.1<TAB>514<TAB><raw line><TAB><64 hex>

Fields: sequence number (global, never reused), receive time (local, with offset), transport, sender address,
sender port, the raw bytes as received, and the record hash
``SHA-256(previous record's hash (32 bytes) || everything before the last TAB)``. The first record of a file
links to ``prev`` of its header, which is the last hash of the day before (the genesis value for a new archive
is 32 zero bytes). The hash covers the content, not the file's bytes, so it survives compression.

Raw bytes are stored as they came, except ``\\`` -> ``\\\\``, LF -> ``\\n``, CR -> ``\\r`` and TAB -> ``\\t``
(so that a record is exactly one line and splits into seven fields); :func:`unescape` reverses it exactly.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "FORMAT_VERSION",
    "GENESIS",
    "HEADER_PREFIX",
    "DayHeader",
    "Record",
    "chain_hash",
    "day_of_file",
    "day_path",
    "escape",
    "format_header",
    "iter_lines",
    "list_day_files",
    "open_day",
    "parse_header",
    "parse_record",
    "unescape",
]

FORMAT_VERSION = 1
GENESIS = bytes(32)
HEADER_PREFIX = b"#mamori-archive "
_DAY_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.log(\.gz)?$")
_UNESCAPE_RE = re.compile(rb"\\(.)")
_UNESCAPES = {b"\\": b"\\", b"n": b"\n", b"r": b"\r", b"t": b"\t"}


def escape(raw: bytes) -> bytes:
    if b"\\" in raw:
        raw = raw.replace(b"\\", b"\\\\")
    if b"\n" in raw:
        raw = raw.replace(b"\n", b"\\n")
    if b"\r" in raw:
        raw = raw.replace(b"\r", b"\\r")
    if b"\t" in raw:
        raw = raw.replace(b"\t", b"\\t")
    return raw


def unescape(stored: bytes) -> bytes:
    if b"\\" not in stored:
        return stored
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPES.get(m.group(1), b"\\" + m.group(1)), stored)


def chain_hash(prev: bytes, content: bytes) -> bytes:
    """The record hash: SHA-256 over the previous record's hash and this record's content."""
    h = hashlib.sha256(prev)
    h.update(content)
    return h.digest()


@dataclass(frozen=True)
class Record:
    """One archived message, as read back."""

    seq: int
    received_at: str
    transport: str
    sender: str
    sender_port: int
    raw: bytes
    hash: bytes
    content: bytes  # everything the hash covers (the line up to its last TAB)

    @property
    def received_ts(self) -> float:
        return dt.datetime.fromisoformat(self.received_at).timestamp()


def parse_record(line: bytes) -> Record | None:
    """A record line (without its newline) -> Record; None if it is not one (damaged)."""
    cut = line.rfind(b"\t")
    if cut < 0 or len(line) - cut - 1 != 64:
        return None
    parts = line[:cut].split(b"\t")
    if len(parts) != 6:
        return None
    try:
        seq = int(parts[0])
        port = int(parts[4])
        digest = bytes.fromhex(line[cut + 1 :].decode("ascii"))
        received_at = parts[1].decode("ascii")
        transport = parts[2].decode("ascii")
        sender = parts[3].decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    return Record(seq, received_at, transport, sender, port, unescape(parts[5]), digest, line[:cut])


@dataclass(frozen=True)
class DayHeader:
    day: str
    first_seq: int
    prev: bytes
    created: str


def format_header(day: str, first_seq: int, prev: bytes, created: str) -> bytes:
    return (
        HEADER_PREFIX
        + f"{FORMAT_VERSION} day={day} first_seq={first_seq} prev={prev.hex()} created={created}\n".encode("ascii")
    )


def parse_header(line: bytes) -> DayHeader | None:
    if not line.startswith(HEADER_PREFIX):
        return None
    fields: dict[str, str] = {}
    for item in line[len(HEADER_PREFIX) :].decode("ascii", "replace").split()[1:]:
        key, _, value = item.partition("=")
        fields[key] = value
    try:
        return DayHeader(fields["day"], int(fields["first_seq"]), bytes.fromhex(fields["prev"]), fields["created"])
    except (KeyError, ValueError):
        return None


def day_path(root: Path, day: str, *, compressed: bool = False) -> Path:
    return root / day[:4] / (f"{day}.log.gz" if compressed else f"{day}.log")


def day_of_file(path: Path) -> str | None:
    m = _DAY_RE.match(path.name)
    return m.group(1) if m else None


def list_day_files(root: Path) -> dict[str, list[Path]]:
    """Day -> its files (``.log`` and/or ``.log.gz``), oldest day first."""
    days: dict[str, list[Path]] = {}
    if not root.is_dir():
        return days
    for year in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        for path in sorted(year.iterdir()):
            day = day_of_file(path)
            if day is not None:
                days.setdefault(day, []).append(path)
    return dict(sorted(days.items()))


def open_day(path: Path) -> BinaryIO:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def iter_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number from 1, line without newline, whether it ended with a newline) for a day file."""
    with open_day(path) as stream:
        for number, line in enumerate(stream, 1):
            complete = line.endswith(b"\n")
            yield number, line[:-1] if complete else line, complete
