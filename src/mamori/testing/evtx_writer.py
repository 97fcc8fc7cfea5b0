""".evtx files written from :class:`WindowsEvent` s, for tests: real files in Windows' binary format (a file header,
chunks of 64 KiB with their checksums, records of binary XML built from a template and its substitution values),
read back by the same evtx parser as a log copied from a server.

Windows types a record's values (``EventID`` a UInt16, ``EventRecordID`` a UInt64, ``LogonType`` a UInt32), and the
parser hands them over as JSON numbers; other producers of .evtx files write every value as text. ``form`` chooses:

- ``"int"``: as Windows does — the ids and numeric event data as numbers (``"EventID": 4625``);
- ``"string"``: every value as text (``"EventID": "4625"``, ``"EventRecordID": "17"``);
- ``"text"``: every value as text inside an element that also has attributes (``"EventID": {"#attributes":
  {"Qualifiers": "16384"}, "#text": "7045"}``), for the System fields and the leaves of ``UserData``.

The layout follows the format's description (libyal's libevtx documentation, "Windows XML Event Log (EVTX)"):
every record carries its own template definition, and names are written where they are used.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mamori.model import WindowsEvent

__all__ = ["FORMS", "USER_DATA", "Form", "write_evtx"]

Form = Literal["int", "string", "text"]
FORMS: tuple[Form, ...] = ("int", "string", "text")

# Events whose fields Windows writes under UserData, in an element of this name (others: EventData's Data items).
USER_DATA: dict[tuple[str, int], str] = {
    ("security", 1102): "LogFileCleared",
    ("system", 104): "LogFileCleared",
    **{
        ("microsoft-windows-terminalservices-localsessionmanager/operational", i): "EventXML"
        for i in (21, 22, 23, 24, 25)
    },
    ("microsoft-windows-terminalservices-remoteconnectionmanager/operational", 1149): "EventXML",
}

_HEADER_BLOCK = 4096
_CHUNK = 65536
_RECORDS_START = 512
_EPOCH_FILETIME = 116_444_736_000_000_000  # 1970-01-01 in 100 ns units since 1601

# Value types of binary XML (the substitution descriptors' type byte).
_NULL, _STRING, _UINT16, _UINT32, _UINT64, _FILETIME = 0x00, 0x01, 0x06, 0x08, 0x0A, 0x11
# Tokens.
_EOF, _OPEN, _OPEN_ATTRS, _CLOSE_START, _CLOSE_EMPTY, _END, _TEXT = 0x00, 0x01, 0x41, 0x02, 0x03, 0x04, 0x05
_ATTR, _ATTR_MORE, _SUBSTITUTION, _TEMPLATE, _FRAGMENT = 0x06, 0x46, 0x0E, 0x0C, 0x0F


@dataclass(frozen=True)
class _Value:
    kind: int
    data: bytes


def _text(value: str) -> _Value:
    return _Value(_STRING, value.encode("utf-16-le")) if value else _Value(_NULL, b"")


def _number(value: str, form: Form) -> _Value:
    """A field's value: a UInt32/UInt64 in the ``int`` form when it is a plain decimal number, else text."""
    if form == "int" and value.isascii() and value.isdigit() and (len(value) == 1 or value[0] != "0"):
        number = int(value)
        if number < 1 << 32:
            return _Value(_UINT32, struct.pack("<I", number))
        if number < 1 << 64:
            return _Value(_UINT64, struct.pack("<Q", number))
    return _text(value)


def _utc_text(ts: float) -> str:
    import datetime as dt

    micro = round(ts * 1_000_000)
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micro)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _filetime(ts: float) -> int:
    return round(ts * 1_000_000) * 10 + _EPOCH_FILETIME


def _name_hash(name: str) -> int:
    h = 0
    for unit in struct.unpack(f"<{len(name)}H", name.encode("utf-16-le")):
        h = (h * 65599 + unit) & 0xFFFFFFFF
    return h & 0xFFFF


class _BinXml:
    """Binary XML written at ``base`` (its offset in the chunk: names and templates are found by chunk offset)."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.buf = bytearray()
        self.values: list[_Value] = []

    def _pos(self) -> int:
        return self.base + len(self.buf)

    def _u32_at(self, at: int, value: int) -> None:
        struct.pack_into("<I", self.buf, at, value)

    def name(self, name: str) -> None:
        """A name, written right here (its offset points just past itself)."""
        self.buf += struct.pack("<I", self._pos() + 4)
        self.buf += struct.pack("<IHH", 0, _name_hash(name), len(name)) + name.encode("utf-16-le") + b"\0\0"

    def content(self, value: _Value | str) -> None:
        """A substitution (a value given with the record) or, for a ``str``, text in the template itself."""
        if isinstance(value, str):
            data = value.encode("utf-16-le")
            self.buf += bytes((_TEXT, _STRING)) + struct.pack("<H", len(value)) + data
        else:
            self.buf += struct.pack("<BHB", _SUBSTITUTION, len(self.values), value.kind)
            self.values.append(value)

    def open(self, name: str, attrs: Mapping[str, _Value | str] = {}) -> int:
        """Start an element; returns where its size goes (for :meth:`end`)."""
        self.buf.append(_OPEN_ATTRS if attrs else _OPEN)
        self.buf += b"\xff\xff"  # dependency identifier: none
        size_at = len(self.buf)
        self.buf += b"\0\0\0\0"
        self.name(name)
        if attrs:
            list_at = len(self.buf)
            self.buf += b"\0\0\0\0"
            for i, (attr, value) in enumerate(attrs.items()):
                self.buf.append(_ATTR_MORE if i < len(attrs) - 1 else _ATTR)
                self.name(attr)
                self.content(value)
            self._u32_at(list_at, len(self.buf) - list_at - 4)
        return size_at

    def end(self, size_at: int, empty: bool = False) -> None:
        if not empty:
            self.buf.append(_END)
        self._u32_at(size_at, len(self.buf) - size_at - 4)

    def element(self, name: str, value: _Value | None, attrs: Mapping[str, _Value | str] = {}) -> None:
        size_at = self.open(name, attrs)
        if value is None:
            self.buf.append(_CLOSE_EMPTY)
            self.end(size_at, empty=True)
            return
        self.buf.append(_CLOSE_START)
        self.content(value)
        self.end(size_at)


def _system(x: _BinXml, event: WindowsEvent, form: Form) -> None:
    size_at = x.open("System")
    x.buf.append(_CLOSE_START)
    x.element("Provider", None, {"Name": _text(event.provider)})
    record_id = event.record_id or 0
    if form == "int":
        x.element("EventID", _Value(_UINT16, struct.pack("<H", event.event_id)))
        x.element("TimeCreated", None, {"SystemTime": _Value(_FILETIME, struct.pack("<Q", _filetime(event.ts)))})
        x.element("EventRecordID", _Value(_UINT64, struct.pack("<Q", record_id)))
        x.element("Channel", _text(event.channel))
        x.element("Computer", _text(event.computer))
    else:
        attrs: dict[str, _Value | str] = {"Qualifiers": _text("16384")} if form == "text" else {}
        tagged: dict[str, _Value | str] = {"Source": "mamori-test"} if form == "text" else {}
        x.element("EventID", _text(str(event.event_id)), attrs)
        x.element("TimeCreated", None, {"SystemTime": _text(_utc_text(event.ts))})
        x.element("EventRecordID", _text(str(record_id)), tagged)
        x.element("Channel", _text(event.channel), tagged)
        x.element("Computer", _text(event.computer), tagged)
    x.end(size_at)


def _data(x: _BinXml, event: WindowsEvent, form: Form, user_data: str | None) -> None:
    if user_data is None:
        outer = x.open("EventData")
        x.buf.append(_CLOSE_START)
        for name, value in event.fields.items():
            x.element("Data", _number(value, form), {"Name": name})
        x.end(outer)
        return
    outer = x.open("UserData")
    x.buf.append(_CLOSE_START)
    inner = x.open(user_data, {"xmlns": "Event_NS"})
    x.buf.append(_CLOSE_START)
    tagged: dict[str, _Value | str] = {"Kind": "mamori-test"} if form == "text" else {}
    for name, value in event.fields.items():
        x.element(name, _number(value, form), tagged)
    x.end(inner)
    x.end(outer)


def _record_binxml(base: int, event: WindowsEvent, form: Form, user_data: str | None) -> bytes:
    """A record's binary XML: a template instance whose definition follows inline, then its values."""
    x = _BinXml(base)
    x.buf += bytes((_FRAGMENT, 1, 1, 0, _TEMPLATE, 1)) + struct.pack("<I", 0)  # template id (unused by readers)
    x.buf += struct.pack("<I", x._pos() + 4)  # the definition is right here
    header_at = len(x.buf)
    x.buf += b"\0" * 24  # next template offset, GUID, data size: filled in below
    body_at = len(x.buf)
    x.buf += bytes((_FRAGMENT, 1, 1, 0))
    event_at = x.open("Event", {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"})
    x.buf.append(_CLOSE_START)
    _system(x, event, form)
    _data(x, event, form, user_data)
    x.end(event_at)
    x.buf.append(_EOF)
    guid = zlib.crc32(bytes(x.buf[body_at:])).to_bytes(4, "little") * 4
    struct.pack_into("<I16sI", x.buf, header_at, 0, guid, len(x.buf) - body_at)
    x.buf += struct.pack("<I", len(x.values))
    for value in x.values:
        x.buf += struct.pack("<HBB", len(value.data), value.kind, 0)
    for value in x.values:
        x.buf += value.data
    x.buf.append(_EOF)
    return bytes(x.buf)


def _record(offset: int, record_id: int, event: WindowsEvent, form: Form, user_data: str | None) -> bytes:
    body = _record_binxml(offset + 24, event, form, user_data)
    size = 24 + len(body) + 4
    size += -size % 8
    head = b"**\0\0" + struct.pack("<IQQ", size, record_id, _filetime(event.ts))
    return head + body + b"\0" * (size - 28 - len(body)) + struct.pack("<I", size)


def _chunk(records: list[tuple[int, int, bytes]], free: int, last_offset: int) -> bytes:
    """A chunk of (record number, record id, record)."""
    data = bytearray(_CHUNK)
    offset = _RECORDS_START
    for _, _, record in records:
        data[offset : offset + len(record)] = record
        offset += len(record)
    (first, first_id, _), (last, last_id, _) = records[0], records[-1]
    struct.pack_into("<8sQQQQIIII", data, 0, b"ElfChnk\0", first, last, first_id, last_id, 128, last_offset, free, 0)
    struct.pack_into("<I", data, 52, zlib.crc32(bytes(data[_RECORDS_START:free])))
    struct.pack_into("<I", data, 124, zlib.crc32(bytes(data[:120]) + bytes(data[128:_RECORDS_START])))
    return bytes(data)


def write_evtx(
    path: Path,
    events: Iterable[WindowsEvent],
    *,
    form: Form = "int",
    user_data: Mapping[tuple[str, int], str] = USER_DATA,
) -> int:
    """Write ``events`` as an .evtx file in ``form``; returns the number of chunks. A record's id (in its header,
    the parser's ``event_record_id``, and in ``EventRecordID``) is the event's ``record_id``, or its number in
    ``events`` (from 1) when it has none."""
    chunks: list[bytes] = []
    records: list[tuple[int, int, bytes]] = []
    offset = _RECORDS_START
    last_offset = offset
    next_id = 1
    for number, given in enumerate(events, start=1):
        event = given if given.record_id is not None else given._replace(record_id=number)
        record_id = event.record_id or 0
        next_id = max(next_id, record_id + 1)
        container = user_data.get((event.channel.lower(), event.event_id))
        record = _record(offset, record_id, event, form, container)
        if offset + len(record) > _CHUNK:
            chunks.append(_chunk(records, offset, last_offset))
            records, offset = [], _RECORDS_START
            record = _record(offset, record_id, event, form, container)
        if offset + len(record) > _CHUNK:
            raise ValueError(f"event {number} does not fit in a chunk")
        records.append((number, record_id, record))
        last_offset = offset
        offset += len(record)
    if records:
        chunks.append(_chunk(records, offset, last_offset))
    header = bytearray(_HEADER_BLOCK)
    count = len(chunks)
    struct.pack_into("<8sQQQIHHHH", header, 0, b"ElfFile\0", 0, max(0, count - 1), next_id, 128, 1, 3, 4096, count)
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    with Path(path).open("wb") as f:
        f.write(header)
        for chunk in chunks:
            f.write(chunk)
    return count
