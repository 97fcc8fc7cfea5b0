"""Verify the whole evidence archive and say exactly where it was altered, cut, added to or reordered.

Every record's hash is recomputed from its predecessor's hash (looked up by sequence number, so a reordering is
told apart from an alteration), sequence numbers are checked for gaps (deleted records), duplicates (inserted
ones) and backward steps (reordered ones), each day file is checked against its signed manifest (record count,
last sequence number and hash, SHA-256 of the content), consecutive days against each other (a day's first
record links to the day before), and the open day against the signed head checkpoint. Findings name the file,
the line and the record's sequence number: ``2026/2026-11-23.log.gz:1042: record 1041: altered: ...``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.storage.archive import manifest_path, read_json
from mamori.storage.archive_format import GENESIS, chain_hash, iter_lines, list_day_files, parse_header, parse_record
from mamori.storage.archive_keys import Verifier

__all__ = ["Finding", "VerifyReport", "verify_archive"]

_WINDOW = 65536  # records kept for looking up a predecessor that arrives out of place
_MAX_FINDINGS = 10000


@dataclass(frozen=True)
class Finding:
    level: str  # "error" (the archive was tampered with or damaged), "warning", "info"
    file: str
    line: int | None
    seq: int | None
    kind: str  # altered, deleted, inserted, reordered, damaged, torn, manifest, signature, chain, missing...
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        record = f" record {self.seq}:" if self.seq is not None else ""
        return f"{where}:{record} {self.kind}: {self.message}"


@dataclass
class VerifyReport:
    root: Path
    findings: list[Finding] = field(default_factory=list)
    days: int = 0
    records: int = 0
    signatures: int = 0
    first_seq: int | None = None
    last_seq: int | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, level: str, file: str, line: int | None, seq: int | None, kind: str, message: str) -> None:
        if len(self.findings) < _MAX_FINDINGS:
            self.findings.append(Finding(level, file, line, seq, kind, message))


@dataclass
class _Chain:
    """Where the chain stands between days."""

    prev: bytes = GENESIS
    next_seq: int = 1
    anchored: bool = False  # False until a day (or a retained manifest) has set it


@dataclass
class _FileScan:
    """Results of one pass over a day file."""

    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: bytes | None = None
    max_seq: int = 0
    content_sha256: str = ""
    torn: bool = False
    watch_seq: int | None = None  # the record the signed head checkpoint names
    watched_hash: bytes | None = None


def verify_archive(
    root: Path,
    verifier: Verifier | None,
    *,
    keep_days: int | None = None,
    today: dt.date | None = None,
) -> VerifyReport:
    """Check everything under ``root``. ``verifier`` None: signatures are reported as not checked."""
    report = VerifyReport(root)
    days = list_day_files(root)
    manifests = {p.name[:10]: p for p in root.glob("[0-9][0-9][0-9][0-9]/*.manifest.json")}
    all_days = sorted(set(days) | set(manifests))
    chain = _Chain()
    today = today or dt.date.today()
    cutoff = (today - dt.timedelta(days=keep_days)).isoformat() if keep_days else None
    newest = all_days[-1] if all_days else None
    head = read_json(root / "head.json")
    for day in all_days:
        report.days += 1
        manifest = _manifest(report, root, day, verifier)
        files = days.get(day, [])
        if not files:
            _removed_day(report, root, day, manifest, chain, cutoff)
            continue
        path = next((p for p in files if p.name.endswith(".log")), files[0])
        rel = str(path.relative_to(root))
        is_open = manifest is None and day == newest
        watch = head.get("seq") if is_open and head is not None and head.get("day") == day else None
        scan = _scan_file(report, path, rel, chain, is_open=is_open, watch=watch if isinstance(watch, int) else None)
        if manifest is not None:
            _against_manifest(report, rel, scan, manifest)
        elif day != newest:
            report.add("error", rel, None, None, "manifest", "the day was never closed: its signed manifest is missing")
        if scan.last_seq is not None:
            chain.prev = scan.last_hash or chain.prev
            chain.next_seq = scan.last_seq + 1
        if manifest is not None and "last_seq" in manifest:
            chain.prev = _hex(manifest.get("last_hash")) or chain.prev
            chain.next_seq = int(manifest["last_seq"]) + 1
        if day == newest and manifest is None:
            _against_head(report, root, rel, day, scan, head, verifier)
    return report


def _hex(value: Any) -> bytes | None:
    try:
        return bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _manifest(report: VerifyReport, root: Path, day: str, verifier: Verifier | None) -> dict[str, Any] | None:
    path = manifest_path(root, day)
    if not path.exists():
        return None
    rel = str(path.relative_to(root))
    doc = read_json(path)
    if doc is None:
        report.add("error", rel, None, None, "manifest", "the manifest cannot be read (damaged)")
        return None
    if verifier is None:
        report.add("warning", rel, None, None, "signature", "not checked: no key given (use --public-key)")
    elif doc.get("algorithm") == "none":
        report.add("error", rel, None, None, "signature", "the manifest is not signed")
    else:
        problem = verifier.check(doc)
        if problem is not None:
            report.add("error", rel, None, None, "signature", f"the manifest's signature is bad: {problem}")
        else:
            report.signatures += 1
    return doc


def _removed_day(
    report: VerifyReport, root: Path, day: str, manifest: dict[str, Any] | None, chain: _Chain, cutoff: str | None
) -> None:
    rel = str(manifest_path(root, day).relative_to(root))
    if manifest is None:
        return
    if cutoff is not None and day < cutoff:
        report.add("info", rel, None, None, "retention", f"the day file was removed by retention (before {cutoff})")
    else:
        report.add("error", rel, None, None, "deleted", f"the day file of {day} is missing (deleted)")
    if "last_seq" in manifest:
        chain.prev = _hex(manifest.get("last_hash")) or chain.prev
        chain.next_seq = int(manifest["last_seq"]) + 1
        chain.anchored = True


def _scan_file(
    report: VerifyReport, path: Path, rel: str, chain: _Chain, *, is_open: bool, watch: int | None = None
) -> _FileScan:
    scan = _FileScan(watch_seq=watch)
    lines = iter_lines(path)
    file_hash = hashlib.sha256()
    try:
        _, first, complete = next(lines)
    except (StopIteration, OSError, EOFError) as exc:
        report.add("error", rel, None, None, "damaged", f"the file cannot be read: {exc or 'empty'}")
        return scan
    header = parse_header(first)
    file_hash.update(first + b"\n" if complete else first)
    if header is None:
        report.add("error", rel, 1, None, "damaged", "the first line is not an archive header")
        return scan
    if chain.anchored and (header.prev != chain.prev or header.first_seq != chain.next_seq):
        report.add(
            "error",
            rel,
            1,
            header.first_seq,
            "chain",
            f"the day does not continue the day before (expected record {chain.next_seq} linked to "
            f"{chain.prev.hex()[:16]}…, found record {header.first_seq} linked to {header.prev.hex()[:16]}…)",
        )
    chain.anchored = True
    try:
        _scan_records(report, rel, lines, header.first_seq, header.prev, scan, file_hash, is_open)
    except (OSError, EOFError) as exc:
        report.add("error", rel, None, None, "damaged", f"the file cannot be read to its end: {exc}")
    scan.content_sha256 = file_hash.hexdigest()
    report.records += scan.records
    if scan.first_seq is not None:
        report.first_seq = scan.first_seq if report.first_seq is None else min(report.first_seq, scan.first_seq)
        report.last_seq = max(report.last_seq or 0, scan.max_seq)
    return scan


def _scan_records(
    report: VerifyReport,
    rel: str,
    lines: Iterator[tuple[int, bytes, bool]],
    first_seq: int,
    anchor: bytes,
    scan: _FileScan,
    file_hash: Any,
    is_open: bool,
) -> None:
    checker = _Checker(report, rel, first_seq, anchor, scan)
    for number, line, complete in lines:
        file_hash.update(line + b"\n" if complete else line)
        if not complete:
            scan.torn = True
            level = "warning" if is_open else "error"
            report.add(level, rel, number, None, "torn", "the last record is incomplete (cut off by a crash or a copy)")
            break
        record = parse_record(line)
        if record is None:
            report.add("error", rel, number, None, "damaged", "the line is not a readable record (altered or damaged)")
            continue
        checker.record(number, record)
    _report_sequence(report, rel, first_seq, scan.max_seq, checker.seen, checker.gaps_at, checker.lines_of, checker.bad)


class _Checker:
    """Checks records one by one: links looked up by sequence number, duplicates, order, gaps."""

    def __init__(self, report: VerifyReport, rel: str, first_seq: int, anchor: bytes, scan: _FileScan) -> None:
        self.report = report
        self.rel = rel
        self.first_seq = first_seq
        self.scan = scan
        self.known: OrderedDict[int, bytes] = OrderedDict({first_seq - 1: anchor})
        self.waiting: dict[int, list[tuple[int, Any]]] = {}
        self.seen = bytearray()
        self.bad: dict[int, int] = {}  # seq -> line of a record whose link failed
        self.lines_of: dict[int, list[int]] = {}  # seq -> lines, only for sequence numbers seen more than once
        self.gaps_at: dict[int, int] = {}  # first missing seq -> line where the gap shows
        self.prev_pos: tuple[int, int] | None = None  # (seq, line) of the record before in the file
        self.before_prev: int | None = None

    def record(self, number: int, record: Any) -> None:
        seq = record.seq
        scan = self.scan
        scan.records += 1
        if scan.first_seq is None:
            scan.first_seq = seq
        self._mark_seen(seq, number)
        self._order(seq, number)
        predecessor = self.known.get(seq - 1)
        if predecessor is None:
            self.waiting.setdefault(seq - 1, []).append((number, record))
        elif chain_hash(predecessor, record.content) != record.hash:
            self.bad[seq] = number
        self.known[seq] = record.hash
        if len(self.known) > _WINDOW:
            self.known.popitem(last=False)
        for w_number, w_record in self.waiting.pop(seq, ()):
            if chain_hash(record.hash, w_record.content) != w_record.hash:
                self.bad[w_record.seq] = w_number
        scan.max_seq = max(scan.max_seq, seq)
        scan.last_seq = seq
        scan.last_hash = record.hash
        if seq == scan.watch_seq:
            scan.watched_hash = record.hash

    def _mark_seen(self, seq: int, number: int) -> None:
        offset = seq - self.first_seq
        if not 0 <= offset < 1 << 34:
            return
        seen = self.seen
        if offset >= len(seen):
            seen.extend(bytes(max(offset + 1 - len(seen), len(seen))))
        if seen[offset]:
            self.lines_of.setdefault(seq, []).append(number)
        seen[offset] = 1

    def _order(self, seq: int, number: int) -> None:
        prev_pos = self.prev_pos
        if prev_pos is not None:
            if seq < prev_pos[0]:
                swapped = prev_pos[0] == seq + 1 and self.before_prev == seq - 1
                message = (
                    f"records {seq} and {seq + 1} are swapped (record {seq + 1} is on line {prev_pos[1]})"
                    if swapped
                    else f"out of order: it comes after record {prev_pos[0]} (line {prev_pos[1]})"
                )
                self.report.add("error", self.rel, number, seq, "reordered", message)
            elif seq > prev_pos[0] + 1:
                self.gaps_at.setdefault(prev_pos[0] + 1, number)
        self.before_prev = prev_pos[0] if prev_pos is not None else None
        self.prev_pos = (seq, number)


def _report_sequence(
    report: VerifyReport,
    rel: str,
    first_seq: int,
    max_seq: int,
    seen: bytearray,
    gaps_at: dict[int, int],
    lines_of: dict[int, list[int]],
    bad: dict[int, int],
) -> None:
    seq = first_seq
    while seq <= max_seq:
        offset = seq - first_seq
        if offset < len(seen) and seen[offset]:
            seq += 1
            continue
        start = seq
        while seq <= max_seq and not (seq - first_seq < len(seen) and seen[seq - first_seq]):
            seq += 1
        what = f"record {start} is missing" if seq - 1 == start else f"records {start}-{seq - 1} are missing"
        line = gaps_at.get(start)
        where = f" (before line {line})" if line is not None else ""
        report.add("error", rel, line, start, "deleted", f"{what}{where}: deleted from the archive")
    for dup_seq, numbers in lines_of.items():
        for number in numbers:
            report.add("error", rel, number, dup_seq, "inserted", "a second record with this sequence number")
    for bad_seq, number in sorted(bad.items()):
        if bad_seq in lines_of:
            continue
        if bad_seq - 1 in bad:
            message = "does not link to the altered record before it"
            level_kind = "chain"
        else:
            message = "its content or hash was altered: it does not match the hash chain"
            level_kind = "altered"
        report.add("error", rel, number, bad_seq, level_kind, message)


def _against_manifest(report: VerifyReport, rel: str, scan: _FileScan, manifest: dict[str, Any]) -> None:
    checks = (
        ("records", manifest.get("records"), scan.records),
        ("last_seq", manifest.get("last_seq"), scan.last_seq),
        ("last_hash", manifest.get("last_hash"), scan.last_hash.hex() if scan.last_hash else None),
        ("content_sha256", manifest.get("content_sha256"), scan.content_sha256),
    )
    for name, expected, found in checks:
        if expected != found:
            if name == "last_seq" and isinstance(expected, int) and isinstance(found, int) and found < expected:
                report.add(
                    "error",
                    rel,
                    None,
                    found + 1,
                    "deleted",
                    f"records {found + 1}-{expected} at the end of the day are missing (the manifest ends at "
                    f"{expected})",
                )
                continue
            report.add(
                "error", rel, None, None, "manifest", f"{name} is {found!r}, the signed manifest says {expected!r}"
            )


def _against_head(
    report: VerifyReport,
    root: Path,
    rel: str,
    day: str,
    scan: _FileScan,
    head: dict[str, Any] | None,
    verifier: Verifier | None,
) -> None:
    """The open day: its end must reach the last signed checkpoint."""
    if head is None or head.get("day") != day:
        return
    if verifier is not None:
        problem = verifier.check(head)
        if problem is not None:
            report.add(
                "error", "head.json", None, None, "signature", f"the head checkpoint's signature is bad: {problem}"
            )
            return
        report.signatures += 1
    seq = head.get("seq")
    if not isinstance(seq, int):
        return
    if scan.last_seq is None or scan.max_seq < seq:
        have = scan.max_seq if scan.last_seq is not None else "none"
        report.add(
            "error",
            rel,
            None,
            (scan.max_seq + 1) if scan.last_seq is not None else seq,
            "deleted",
            f"the day ends at record {have}, but the signed checkpoint of {head.get('at')} saw record {seq}: "
            f"records at the end were removed",
        )
        return
    stored = scan.watched_hash
    if stored is not None and stored.hex() != head.get("hash"):
        report.add("error", rel, None, seq, "altered", "the record differs from the one the signed checkpoint saw")
