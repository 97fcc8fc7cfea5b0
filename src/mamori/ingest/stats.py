"""What a reader saw in one file (records read, events decoded, the problems it skipped over), and the part every
Windows log reader shares."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["MAX_PROBLEMS", "ReadStats", "ReaderBase"]

MAX_PROBLEMS = 20  # problem messages kept per file; the rest are only counted


@dataclass
class ReadStats:
    name: str
    kind: str
    records: int = 0  # records or lines read
    decoded: int = 0  # events handed on (after the event-id filter)
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)
    failed: str | None = None  # the file could not be read at all

    def problem(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    def fail(self, message: str) -> None:
        self.failed = message

    def warnings(self) -> list[str]:
        """One line per problem, for the user: ``file: message``, and how many more were not shown."""
        out = [f"{self.name}: {p}" for p in self.problems]
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
