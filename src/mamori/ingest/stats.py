"""What a reader saw in one file (records read, events decoded, the problems it skipped over), and the part every
Windows log reader shares."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["MAX_PROBLEMS", "ReadStats", "ReaderBase", "Truncation"]

MAX_PROBLEMS = 20  # problem messages kept per file; the rest are only counted


@dataclass(frozen=True)
class Truncation:
    """Where a file that ends early stops (an .evtx copied while Windows was writing it, a partial download):
    a whole .evtx is a 4 KiB header and chunks of 64 KiB, as many as its header says."""

    at: int  # the file's size in bytes: where it stops
    expected: int | None  # the size its header implies, when that is more than ``at``
    chunk: int  # the chunk it stops in, or before (numbered from 0, as in the parser's messages)
    chunks: int  # chunks, by its header
    inside_chunk: bool  # whether it stops inside a chunk (the records before the cut are still read)
    last_record: int | None  # the highest record number its header gives

    def message(self, records: int) -> str:
        """For the user, in Japanese and English, with the ``records`` read."""
        at, chunk = f"{self.at:,}", self.chunk
        ja = f"ファイルが途中で終わっています: {at} バイトで切れています"
        en = f"the file ends early: it stops at byte {at}"
        if self.expected is not None:
            ja += f"（ヘッダーでは {self.expected:,} バイト、チャンク {self.chunks} 個）"
            en += f" of {self.expected:,} (its header counts {self.chunks} chunks)"
        where_ja, where_en = ("の途中", "inside") if self.inside_chunk else ("の手前", "just before")
        ja += f"。切れ目はチャンク番号 {chunk} {where_ja}です。読めたレコードは {records:,} 件です"
        en += f"; the cut is {where_en} chunk number {chunk}; {records:,} records were read"
        if self.last_record is not None:
            ja += f"（ヘッダーのレコード番号は {self.last_record:,} まで）"
            en += f" (the header numbers records up to {self.last_record:,})"
        return f"{ja} / {en}"


@dataclass
class ReadStats:
    name: str
    kind: str
    records: int = 0  # records or lines read
    decoded: int = 0  # events handed on (after the event-id filter)
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)
    failed: str | None = None  # the file could not be read at all
    cut: Truncation | None = None  # the file ends early
    last_event: float | None = None  # the time of the last event handed on

    def problem(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    def fail(self, message: str) -> None:
        self.failed = message

    @property
    def ends_early(self) -> str | None:
        """Where the file stops and how many records were read, when it ends early (for the user)."""
        return self.cut.message(self.records) if self.cut is not None else None

    def warnings(self) -> list[str]:
        """One line per problem, for the user: ``file: message`` (first whether the file ends early), and how many
        more were not shown."""
        out = [f"{self.name}: {self.ends_early}"] if self.cut is not None else []
        out += [f"{self.name}: {p}" for p in self.problems]
        if self.problem_count > len(self.problems):
            out.append(f"{self.name}: … and {self.problem_count - len(self.problems)} more problems")
        return out


class ReaderBase:
    """One log file: its path, the event ids to decode (None: every record), its size and its statistics.
    ``position()`` is how far the open file has been read (its size once closed), for progress."""

    kind = "file"

    def __init__(self, path: Path, wanted: frozenset[int] | None, batch_size: int) -> None:
        self.path = path if isinstance(path, Path) else Path(path)
        self.wanted = wanted
        self.batch_size = batch_size
        self.stats = ReadStats(str(self.path), self.kind)
        try:
            self.size = os.stat(self.path).st_size
        except OSError:
            self.size = 0
        self._raw: IO[bytes] | None = None

    def position(self) -> int:
        try:
            return self._raw.tell() if self._raw is not None and not self._raw.closed else self.size
        except (OSError, ValueError):
            return self.size
