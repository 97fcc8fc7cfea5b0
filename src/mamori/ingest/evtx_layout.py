"""The layout of an .evtx file, from its headers alone: a 4 KiB file header, then chunks of 64 KiB (each with its
own header giving the record ids it holds), as many as the file header counts. What the readers learn without
parsing: how many records a file holds (for progress) and whether it ends early (a copy made while Windows was
writing it, a partial download)."""

from __future__ import annotations

import struct
from pathlib import Path

from mamori.ingest.stats import Truncation

__all__ = ["CHUNK_SIZE", "EVTX_MAGIC", "HEADER_BLOCK", "count_records", "truncation"]

EVTX_MAGIC = b"ElfFile\x00"
_CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_BLOCK = 4096
CHUNK_SIZE = 65536
_CHUNK_IDS = struct.Struct("<QQ")  # first and last event record id, at offset 24 of a chunk header
_FILE_HEADER = struct.Struct("<8sQQQIHHHH")  # magic, first/last chunk, next record id, sizes, versions, chunks


def count_records(path: Path) -> int:
    """Records in the file, from its chunk headers (for a progress bar; damaged headers count as empty)."""
    total = 0
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            for offset in range(HEADER_BLOCK, size - 40, CHUNK_SIZE):
                f.seek(offset)
                head = f.read(40)
                if head[:8] == _CHUNK_MAGIC:
                    first, last = _CHUNK_IDS.unpack_from(head, 24)
                    if first <= last < first + CHUNK_SIZE:
                        total += last - first + 1
    except OSError:
        return 0
    return total


def truncation(path: Path, size: int, head: bytes | None = None) -> Truncation | None:
    """Whether the .evtx file ``path`` of ``size`` bytes ends early, and where: shorter than the chunks its header
    counts, or stopping inside a chunk (a whole file is a 4 KiB header and chunks of 64 KiB). None when it is whole,
    or is no .evtx file at all (that is reported when it is read). ``head``: its first bytes, when already read."""
    if head is None or len(head) < _FILE_HEADER.size:
        try:
            with path.open("rb") as f:
                head = f.read(_FILE_HEADER.size)
        except OSError:
            return None
    head = head[: _FILE_HEADER.size]
    if len(head) < 8 or head[:8] != EVTX_MAGIC:
        return None
    chunks, next_record = 0, 0
    if len(head) == _FILE_HEADER.size:
        _, _, _, next_record, _, _, _, _, chunks = _FILE_HEADER.unpack(head)
    expected = HEADER_BLOCK + chunks * CHUNK_SIZE
    body = size - HEADER_BLOCK
    inside = body > 0 and body % CHUNK_SIZE != 0
    if size >= expected and not inside and body >= 0:
        return None
    return Truncation(
        at=size,
        expected=expected if expected > size else None,
        chunk=max(0, body) // CHUNK_SIZE,
        chunks=chunks,
        inside_chunk=inside,
        last_record=next_record - 1 if 1 < next_record < 1 << 48 else None,
    )
