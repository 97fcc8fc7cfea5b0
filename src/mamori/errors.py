"""The exceptions mamori raises on purpose. Everything derives from :class:`MamoriError`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CaptureError", "ConfigError", "ConfigProblem", "MamoriError", "StorageError"]


class MamoriError(Exception):
    """Root of every error mamori raises deliberately; the CLI prints these without a traceback."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a settings file, located at file:line:column and a dotted field path."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class ConfigError(MamoriError):
    """A settings file could not be loaded; carries every problem found, each with its location."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class CaptureError(MamoriError):
    """A packet source could not be opened or read (missing file, unknown format, no permission)."""


class StorageError(MamoriError):
    """The store could not be opened or written."""
