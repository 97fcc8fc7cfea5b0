"""Looking after closed days of the evidence archive: compression, retention, and the mirror copy.

None of it touches the open day's records: compression works on days whose manifest is written, checks that the
compressed file holds exactly the manifest's content before removing the original, and is crash-safe (a ``.tmp``
is finished, synced and renamed, and only then the ``.log`` removed). Retention removes the day files older than
the retention period and keeps their small signed manifests, so the verifier can tell "removed by retention"
from "deleted". The mirror copies the archive to a second folder (another disk, or a share mounted from another
host) and never destroys anything there: a mirror file that disagrees with the archive is set aside, not
overwritten.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from mamori.storage.archive import fsync_dir, manifest_path, read_json
from mamori.storage.archive_format import day_path, list_day_files

__all__ = ["MirrorResult", "apply_retention", "compress_closed_days", "retention_days", "sync_mirror"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def retention_days(years: float) -> int:
    return math.ceil(years * 365.25)


def _sha256_of(stream_path: Path, *, compressed: bool) -> str:
    h = hashlib.sha256()
    with gzip.open(stream_path, "rb") if compressed else stream_path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def compress_closed_days(root: Path, *, level: int = 6) -> list[str]:
    """gzip every closed day still in plain text. Returns what was done (for the log)."""
    notes: list[str] = []
    for day, files in list_day_files(root).items():
        plain = day_path(root, day)
        if plain not in files:
            continue
        manifest = read_json(manifest_path(root, day))
        if manifest is None:
            continue  # the open day (or a day not closed yet)
        packed = day_path(root, day, compressed=True)
        tmp = packed.with_name(packed.name + ".tmp")
        tmp.unlink(missing_ok=True)
        if not packed.exists():
            with plain.open("rb") as source, open(tmp, "wb") as raw_out:
                with gzip.GzipFile(filename=plain.name, mode="wb", fileobj=raw_out, compresslevel=level, mtime=0) as gz:
                    shutil.copyfileobj(source, gz, _CHUNK)
                raw_out.flush()
                os.fsync(raw_out.fileno())
            if _sha256_of(tmp, compressed=True) != manifest.get("content_sha256"):
                tmp.unlink(missing_ok=True)
                notes.append(f"{plain}: not compressed: its content does not match its manifest (run mamori verify)")
                continue
            os.replace(tmp, packed)
            fsync_dir(packed.parent)
        elif _sha256_of(packed, compressed=True) != manifest.get("content_sha256"):
            notes.append(f"{packed}: differs from the manifest; {plain.name} is kept (run mamori verify)")
            continue
        plain.unlink()
        fsync_dir(plain.parent)
        notes.append(f"{plain}: compressed to {packed.name}")
    return notes


def apply_retention(root: Path, keep_days: int, today: dt.date) -> list[str]:
    """Remove day files older than ``keep_days`` (their manifests stay). Returns the files removed."""
    cutoff = (today - dt.timedelta(days=keep_days)).isoformat()
    removed: list[str] = []
    for day, files in list_day_files(root).items():
        if day >= cutoff:
            break
        if not manifest_path(root, day).exists():
            continue  # never remove a day that was not closed and signed
        for path in files:
            path.unlink()
            removed.append(str(path))
    if removed:
        log.info("archive retention: removed %d file(s) older than %s", len(removed), cutoff)
    return removed


@dataclass
class MirrorResult:
    copied: list[str] = field(default_factory=list)
    appended_bytes: int = 0
    set_aside: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _files(root: Path) -> list[Path]:
    found = [p for p in root.glob("[0-9][0-9][0-9][0-9]/*") if p.is_file() and not p.name.endswith(".tmp")]
    head = root / "head.json"
    if head.exists():
        found.append(head)
    return sorted(found)


def _set_aside(path: Path, result: MirrorResult) -> None:
    aside = path.with_name(f"{path.name}.diverged-{time.strftime('%Y%m%dT%H%M%S')}")
    os.replace(path, aside)
    result.set_aside.append(str(aside))
    log.error("mirror: %s disagrees with the archive; kept as %s", path, aside.name)


def _copy(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    with source.open("rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, target)


def _append(source: Path, target: Path, have: int, result: MirrorResult) -> None:
    with source.open("rb") as src, open(target, "ab") as dst:
        src.seek(have)
        while chunk := src.read(_CHUNK):
            dst.write(chunk)
            result.appended_bytes += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())


def _same_prefix(source: Path, target: Path, length: int, window: int = 1 << 16) -> bool:
    """Whether the two files agree on the last ``window`` bytes before ``length`` (what an append continues
    from; comparing whole day files every few seconds would cost too much — verify checks the mirror fully)."""
    start = max(0, length - window)
    with source.open("rb") as a, target.open("rb") as b:
        a.seek(start)
        b.seek(start)
        return a.read(length - start) == b.read(length - start)


def _sync_growing(source: Path, target: Path, result: MirrorResult) -> None:
    """The open day's file grows by appends: copy what is new. A longer mirror copy is only trimmed when the extra
    bytes are a torn record the archive itself cut off at restart; anything else is set aside."""
    size = source.stat().st_size
    have = target.stat().st_size if target.exists() else -1
    if have == size:
        return
    if have > size:
        with target.open("rb") as stream:
            stream.seek(size)
            extra = stream.read()
        if b"\n" not in extra and _same_prefix(source, target, size):
            os.truncate(target, size)
            return
        _set_aside(target, result)
        have = -1
    if have < 0:
        _copy(source, target)
        result.copied.append(str(target))
        return
    if not _same_prefix(source, target, have):
        _set_aside(target, result)
        _copy(source, target)
        result.copied.append(str(target))
        return
    _append(source, target, have, result)


def sync_mirror(root: Path, mirror: Path) -> MirrorResult:
    """Bring the mirror up to date with the archive."""
    result = MirrorResult()
    mirror.mkdir(parents=True, exist_ok=True)
    for source in _files(root):
        relative = source.relative_to(root)
        target = mirror / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.name.endswith(".log"):
            _sync_growing(source, target, result)
        elif source.name == "head.json" or not target.exists():
            _copy(source, target)
            if source.name != "head.json":
                result.copied.append(str(target))
        elif target.stat().st_size != source.stat().st_size:
            _set_aside(target, result)
            _copy(source, target)
            result.copied.append(str(target))
    for target in mirror.glob("[0-9][0-9][0-9][0-9]/*.log"):
        packed_src = root / target.parent.name / (target.name + ".gz")
        packed_dst = target.with_name(target.name + ".gz")
        source = root / target.relative_to(mirror)
        if not source.exists() and packed_src.exists() and packed_dst.exists():
            target.unlink()  # the archive compressed this day and the mirror has the compressed copy
            result.removed.append(str(target))
    return result
