"""Forwarded Windows events as JSON lines (optionally gzip-compressed), one event per line, in the forms log
shippers write them:

- Winlogbeat / Elastic Agent (ECS): ``winlog.event_id``, ``winlog.channel``, ``winlog.provider_name``,
  ``winlog.computer_name``, ``winlog.record_id``, ``winlog.event_data`` / ``winlog.user_data``, ``@timestamp``
  (nested objects or dotted keys);
- NXLog ``im_msvistalog`` + ``to_json()``: ``EventTime``, ``Hostname``, ``Channel``, ``SourceName``, ``EventID``,
  ``RecordNumber`` and the event data as top-level keys (``EventTime`` is the agent's local time unless it carries
  an offset: give ``windows.log_timezone``);
- the XML-shaped JSON of ``evtx_dump -o jsonl`` (``{"Event": {"System": ..., "EventData": ...}}``).

Each line is recognised on its own, so a file may mix them. A line that is not JSON or not an event is reported
with its line number and skipped.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mamori.ingest.stats import ReaderBase
from mamori.ingest.winevent import (
    DecodeError,
    event_from_xml_json,
    flatten_data,
    flatten_user_data,
    int_of,
    loads,
    parse_time,
    shown,
    text_of,
)
from mamori.model import WindowsEvent

__all__ = ["GZIP_MAGIC", "JsonLinesFile", "event_from_json"]

GZIP_MAGIC = b"\x1f\x8b"
_BATCH = 2048

# NXLog im_msvistalog keys that describe the record rather than carry its event data.
_NXLOG_META = frozenset(
    {
        "EventTime",
        "EventReceivedTime",
        "SourceModuleName",
        "SourceModuleType",
        "Hostname",
        "Keywords",
        "EventType",
        "SeverityValue",
        "Severity",
        "EventID",
        "SourceName",
        "ProviderGuid",
        "Version",
        "Task",
        "OpcodeValue",
        "RecordNumber",
        "ActivityID",
        "RelatedActivityID",
        "ProcessID",
        "ThreadID",
        "Channel",
        "Domain",
        "AccountName",
        "UserID",
        "AccountType",
        "Category",
        "Opcode",
        "Message",
        "Level",
        "MessageSourceAddress",
    }
)


def _undot(obj: dict[str, Any]) -> dict[str, Any]:
    """``{"winlog.event_id": 1}`` -> ``{"winlog": {"event_id": 1}}`` (exports that flatten ECS documents)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = value
    return out


def _from_ecs(obj: dict[str, Any], source: str) -> WindowsEvent:
    winlog = obj["winlog"]
    event = obj.get("event") if isinstance(obj.get("event"), dict) else {}
    host = obj.get("host") if isinstance(obj.get("host"), dict) else {}
    event_id = winlog.get("event_id", event.get("code") if event else None)
    stamp = obj.get("@timestamp") or (event.get("created") if event else None)
    if event_id is None or not isinstance(stamp, str):
        raise DecodeError("ECS document without winlog.event_id or @timestamp")
    fields = flatten_data(winlog.get("event_data"))
    if winlog.get("user_data"):
        fields.update(flatten_user_data(winlog["user_data"]))
    computer = winlog.get("computer_name") or (host.get("name") or host.get("hostname") if host else "") or ""
    eid = int_of(event_id)
    if eid is None:
        raise DecodeError(f"event id {shown(event_id)} is not a number")
    return WindowsEvent(
        parse_time(stamp),
        text_of(computer),
        text_of(winlog.get("channel")),
        text_of(winlog.get("provider_name")),
        eid,
        int_of(winlog.get("record_id")),
        fields,
        source,
    )


def _from_nxlog(obj: dict[str, Any], source: str, tz: dt.tzinfo | None) -> WindowsEvent:
    stamp = obj.get("EventTime")
    if not isinstance(stamp, str):
        raise DecodeError("NXLog record without EventTime")
    eid = int_of(obj["EventID"])
    if eid is None:
        raise DecodeError(f"event id {shown(obj['EventID'])} is not a number")
    fields = {k: text_of(v) for k, v in obj.items() if k not in _NXLOG_META}
    return WindowsEvent(
        parse_time(stamp, tz),
        text_of(obj.get("Hostname")),
        text_of(obj.get("Channel")),
        text_of(obj.get("SourceName")),
        eid,
        int_of(obj.get("RecordNumber")),
        fields,
        source,
    )


def event_from_json(obj: Any, source: str = "", tz: dt.tzinfo | None = None) -> WindowsEvent:
    """One decoded JSON line in any of the supported forms. Raises :class:`DecodeError` otherwise."""
    if not isinstance(obj, dict):
        raise DecodeError("not a JSON object")
    if "Event" in obj and isinstance(obj["Event"], dict):
        return event_from_xml_json(obj["Event"], source)
    if "winlog" not in obj and any(k.startswith("winlog.") for k in obj):
        obj = _undot(obj)
    if isinstance(obj.get("winlog"), dict):
        return _from_ecs(obj, source)
    if "EventID" in obj and ("SourceName" in obj or "Channel" in obj):
        return _from_nxlog(obj, source, tz)
    raise DecodeError("not a Windows event (no winlog.*, no NXLog EventID/SourceName, no Event.System)")


class JsonLinesFile(ReaderBase):
    """A file of JSON lines (``.json``, ``.jsonl``, ``.ndjson``, possibly ``.gz``) as batches of events."""

    kind = "json-lines"

    def __init__(
        self,
        path: Path,
        wanted: frozenset[int] | None = None,
        *,
        tz: dt.tzinfo | None = None,
        batch_size: int = _BATCH,
    ) -> None:
        super().__init__(path, wanted, batch_size)
        self.tz = tz

    def _open(self) -> tuple[IO[bytes], IO[bytes]]:
        raw = self.path.open("rb")
        head = raw.read(2)
        raw.seek(0)
        if head == GZIP_MAGIC:
            return raw, gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
        return raw, raw

    def batches(self) -> Iterator[list[WindowsEvent]]:
        try:
            raw, stream = self._open()
        except OSError as exc:
            self.stats.fail(f"cannot open: {exc.strerror or exc}")
            return
        self._raw = raw
        with raw, stream:
            try:
                yield from self._read(stream)
            except (OSError, EOFError) as exc:  # a truncated or damaged gzip stream
                self.stats.problem(f"reading stopped at line {self.stats.records}: {exc}")

    def _read(self, stream: IO[bytes]) -> Iterator[list[WindowsEvent]]:
        wanted = self.wanted
        source = self.path.name
        stats = self.stats
        tz = self.tz
        batch: list[WindowsEvent] = []
        for number, raw_line in enumerate(stream, start=1):
            stats.records = number
            line = raw_line[3:] if number == 1 and raw_line.startswith(b"\xef\xbb\xbf") else raw_line
            if not line.strip():
                continue
            try:
                event = event_from_json(loads(line), source, tz)
            except (ValueError, UnicodeDecodeError) as exc:  # DecodeError and JSONDecodeError are ValueErrors
                stats.problem(f"line {number}: {exc}")
                continue
            if wanted is not None and event.event_id not in wanted:
                continue
            batch.append(event)
            if len(batch) >= self.batch_size:
                stats.decoded += len(batch)
                yield batch
                batch = []
        if batch:
            stats.decoded += len(batch)
            yield batch
