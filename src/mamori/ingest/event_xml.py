"""Windows events as XML: what ``wevtutil qe ForwardedEvents /f:xml`` prints (``<Event>`` elements one after
another, no root), what Event Viewer's "Save as XML" writes (``<Events>`` around them, often UTF-16), and
``Get-WinEvent | ForEach-Object ToXml``. Windows Event Forwarding collectors are read this way when their
ForwardedEvents log is exported rather than copied as .evtx (which :mod:`evtx_reader` reads).

The text is parsed incrementally (``XMLPullParser``), one event at a time, so memory stays flat. The
``RenderingInfo`` element (the message in the collector's language) is ignored.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from mamori.ingest.stats import ReaderBase
from mamori.ingest.winevent import DecodeError, parse_time
from mamori.model import WindowsEvent

__all__ = ["XmlEventsFile", "looks_like_xml"]

_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
_DECLARATION = re.compile(r"<\?xml[^>]*\?>")
_READ = 1 << 16
_BATCH = 2048


def looks_like_xml(head: bytes) -> bool:
    """The first bytes of the file: ``<`` after an optional BOM (UTF-8 or UTF-16)."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, "ignore").lstrip().startswith("<")
    if head[:2] in (b"<\x00", b"\x00<"):
        return True
    return head.lstrip().startswith(b"<")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _fields(elem: ET.Element) -> dict[str, str]:
    """EventData's named Data (unnamed ones joined under ``Data``), or the leaves of UserData's one element."""
    fields: dict[str, str] = {}
    for section in elem:
        name = _local(section.tag)
        if name == "EventData":
            unnamed: list[str] = []
            for data in section:
                key = data.get("Name")
                if key:
                    fields[key] = data.text or ""
                elif _local(data.tag) == "Data":
                    unnamed.append(data.text or "")
            if unnamed:
                fields["Data"] = "\n".join(unnamed)
        elif name == "UserData":
            for child in section:  # one element (LogFileCleared, EventXML...) whose children are the fields
                for item in child.iter():
                    if item is not child and len(item) == 0:
                        fields[_local(item.tag)] = item.text or ""
    return fields


def _event(elem: ET.Element, source: str) -> WindowsEvent:
    system = elem.find(f"{_NS}System")
    if system is None:
        system = elem.find("System")
    if system is None:
        raise DecodeError("no System element")
    values: dict[str, ET.Element] = {_local(child.tag): child for child in system}
    created = values.get("TimeCreated")
    stamp = created.get("SystemTime") if created is not None else None
    event_id = values.get("EventID")
    if stamp is None or event_id is None or not (event_id.text or "").strip().isdigit():
        raise DecodeError("no TimeCreated/@SystemTime or EventID")
    provider = values.get("Provider")
    record = values.get("EventRecordID")
    fields = _fields(elem)
    record_text = (record.text or "").strip() if record is not None else ""
    return WindowsEvent(
        parse_time(stamp),
        (values["Computer"].text or "") if "Computer" in values else "",
        (values["Channel"].text or "") if "Channel" in values else "",
        (provider.get("Name") or provider.get("EventSourceName") or "") if provider is not None else "",
        int((event_id.text or "").strip()),
        int(record_text) if record_text.isdigit() else None,
        fields,
        source,
    )


class XmlEventsFile(ReaderBase):
    """A file of ``<Event>`` elements (with or without an ``<Events>`` root) as batches of events."""

    kind = "xml"

    def __init__(self, path: Path, wanted: frozenset[int] | None = None, *, batch_size: int = _BATCH) -> None:
        super().__init__(path, wanted, batch_size)

    def _encoding(self, head: bytes) -> tuple[str, int]:
        for bom, encoding in (
            (codecs.BOM_UTF8, "utf-8"),
            (codecs.BOM_UTF16_LE, "utf-16-le"),
            (codecs.BOM_UTF16_BE, "utf-16-be"),
        ):
            if head.startswith(bom):
                return encoding, len(bom)
        if head[:2] == b"<\x00":
            return "utf-16-le", 0
        if head[:2] == b"\x00<":
            return "utf-16-be", 0
        return "utf-8", 0

    def batches(self) -> Iterator[list[WindowsEvent]]:
        try:
            raw = self.path.open("rb")
        except OSError as exc:
            self.stats.fail(f"cannot open: {exc.strerror or exc}")
            return
        self._raw = raw
        with raw:
            encoding, skip = self._encoding(raw.read(4))
            raw.seek(skip)
            yield from self._parse(raw, encoding)

    def _parse(self, raw: IO[bytes], encoding: str) -> Iterator[list[WindowsEvent]]:
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("end",))
        parser.feed("<mamori-events>")  # wevtutil prints events without a root element
        batch: list[WindowsEvent] = []
        first = True
        while True:
            chunk = raw.read(_READ)
            text = decoder.decode(chunk, final=not chunk)
            if first:
                text = _DECLARATION.sub("", text, count=1)
                first = False
            try:
                parser.feed(text if chunk else text + "</mamori-events>")
                # only "end" events were asked for: each is (name, element)
                for _name, elem in cast(Iterator[tuple[str, Any]], parser.read_events()):
                    if not isinstance(elem, ET.Element) or _local(elem.tag) != "Event":
                        continue
                    self._take(elem, batch)
                    elem.clear()
            except ET.ParseError as exc:
                self.stats.problem(f"not well-formed XML, reading stopped: {exc}")
                break
            if len(batch) >= self.batch_size or (not chunk and batch):
                self.stats.decoded += len(batch)
                yield batch
                batch = []
            if not chunk:
                break
        if batch:
            self.stats.decoded += len(batch)
            yield batch

    def _take(self, elem: ET.Element, batch: list[WindowsEvent]) -> None:
        self.stats.records += 1
        try:
            event = _event(elem, self.path.name)
        except (DecodeError, ValueError) as exc:
            self.stats.problem(f"event {self.stats.records}: {exc}")
            return
        if self.wanted is None or event.event_id in self.wanted:
            batch.append(event)
