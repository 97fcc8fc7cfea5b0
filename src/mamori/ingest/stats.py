"""What a reader saw in one file: records read, events decoded, and the problems it skipped over."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MAX_PROBLEMS", "ReadStats"]

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
