"""Which reader reads a file: .evtx by its signature, JSON lines (also gzip-compressed) and XML by their first
bytes, whatever the file is called. Folders are searched recursively for the files these readers take."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from mamori.ingest.event_xml import XmlEventsFile, looks_like_xml
from mamori.ingest.evtx_reader import EVTX_MAGIC, EvtxFile
from mamori.ingest.forwarded import GZIP_MAGIC, JsonLinesFile
from mamori.ingest.stats import ReadStats
from mamori.model import WindowsEvent

__all__ = ["LOG_SUFFIXES", "WindowsLogFile", "expand_paths", "open_log"]

# What a folder search picks up. Files named on the command line are read whatever their name.
LOG_SUFFIXES = (".evtx", ".json", ".jsonl", ".ndjson", ".xml", ".gz", ".log")


class WindowsLogFile(Protocol):
    """A source of Windows events: decodes only, knows no rule."""

    path: Path
    size: int
    stats: ReadStats

    def batches(self) -> Iterator[list[WindowsEvent]]: ...

    def position(self) -> int: ...


def expand_paths(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Files named directly, and the log files inside named folders (sorted). Returns (files, problems)."""
    files: list[Path] = []
    problems: list[str] = []
    for path in paths:
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)  # one system call where is_dir() and exists() made two
        except OSError:
            problems.append(f"{path}: no such file or folder")
            continue
        if is_dir:
            found = sorted(_walk(path))
            if not found:
                problems.append(f"{path}: no .evtx, JSON lines or XML event files in this folder")
            files.extend(found)
        else:
            files.append(path)
    return files, problems


def _walk(folder: Path) -> Iterator[Path]:
    """The log files under ``folder``, by their names; the directory entries say which are files (no stat each)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path))
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in LOG_SUFFIXES:
                yield Path(entry.path)
        except OSError:
            continue


class _Unreadable:
    """A file no reader takes: reported, never read."""

    kind = "unknown"

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.size = 0
        self.stats = ReadStats(str(path), self.kind)
        self.stats.fail(reason)

    def batches(self) -> Iterator[list[WindowsEvent]]:
        return iter(())

    def position(self) -> int:
        return 0


def _head(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        head = os.read(fd, 64)
    finally:
        os.close(fd)
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as g:
                return g.read(64)
        except (OSError, EOFError):
            return b""
    return head


def open_log(path: Path, wanted: frozenset[int] | None = None, *, tz: dt.tzinfo | None = None) -> WindowsLogFile:
    """The reader for ``path``, chosen by content: .evtx, JSON lines (ECS, NXLog, evtx_dump), or XML events."""
    try:
        head = _head(path)
    except OSError as exc:
        return _Unreadable(path, f"cannot open: {exc.strerror or exc}")
    if head.startswith(EVTX_MAGIC):
        return EvtxFile(path, wanted, head=head)  # its header, to see whether the file ends early
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"{"):
        return JsonLinesFile(path, wanted, tz=tz)
    if looks_like_xml(head):
        return XmlEventsFile(path, wanted)
    if not head:
        return _Unreadable(path, "empty file")
    return _Unreadable(path, "not a Windows event log (.evtx, JSON lines or XML events)")
