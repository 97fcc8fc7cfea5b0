"""Searching the evidence archive: archived lines by time, host and text, with their parsed fields.

Each line comes back as a dict: ``received_at`` (ISO 8601), ``sender``, ``sender_port``, ``transport``, ``seq``,
``message`` (the raw line as received), the header fields the syslog parser found (``format``, ``facility``,
``severity``, ``timestamp``, ``hostname``, ``app``, ``procid``, ``msgid``, ``structured_data``, ``text``,
``encoding``) and, when a vendor parser recognised it, ``parser`` and ``connections``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mamori import escape
from mamori.config import Settings
from mamori.ingest.syslog_parse import SyslogParser, structured_data_items
from mamori.ingest.vendors import ParserSet, load_parsers
from mamori.model import ConnectionAttempt, VpnEvent, iso_time
from mamori.storage.archive_format import iter_lines, list_day_files, parse_record

__all__ = ["CSV_COLUMNS", "LogQuery", "search_archive", "write_csv"]


@dataclass(frozen=True)
class LogQuery:
    since: float | None = None
    until: float | None = None
    host: str | None = None  # sender address or header host name
    text: str | None = None  # substring of the line (case-insensitive)
    limit: int | None = None


def _day_bounds(query: LogQuery) -> tuple[str | None, str | None]:
    # Day files are named by local day; a margin of one day on each side covers any time zone difference.
    low = dt.date.fromtimestamp(query.since) - dt.timedelta(days=1) if query.since is not None else None
    high = dt.date.fromtimestamp(query.until) + dt.timedelta(days=1) if query.until is not None else None
    return (low.isoformat() if low else None, high.isoformat() if high else None)


def search_archive(root: Path, settings: Settings, query: LogQuery) -> Iterator[dict[str, Any]]:
    syslog = settings.syslog
    parser = SyslogParser(
        timezone=syslog.timezone if syslog else None, fallback=syslog.charset_fallback if syslog else "latin-1"
    )
    parsers = load_parsers(syslog.parsers if syslog else None)
    low, high = _day_bounds(query)
    needle = query.text.casefold() if query.text else None
    found = 0
    for day, files in list_day_files(root).items():
        if (low and day < low) or (high and day > high):
            continue
        path = next((p for p in files if p.name.endswith(".log")), files[0])
        for _number, line, complete in iter_lines(path):
            if not complete or line.startswith(b"#"):
                continue
            record = parse_record(line)
            if record is None:
                continue
            ts = record.received_ts
            if (query.since is not None and ts < query.since) or (query.until is not None and ts > query.until):
                continue
            row = _row(record.seq, ts, record.transport, record.sender, record.sender_port, record.raw, parser, parsers)
            if needle is not None and needle not in row["message"].casefold():
                continue
            if query.host and query.host not in (row["sender"], row["hostname"]):
                continue
            yield row
            found += 1
            if query.limit is not None and found >= query.limit:
                return


def _row(
    seq: int, ts: float, transport: str, sender: str, port: int, raw: bytes, parser: SyslogParser, parsers: ParserSet
) -> dict[str, Any]:
    rec = parser.parse(raw, ts, sender, port, transport)
    row: dict[str, Any] = {
        "seq": seq,
        "received_at": iso_time(ts),
        "sender": sender,
        "sender_port": port,
        "transport": transport,
        "message": raw.decode(rec.encoding, "replace").rstrip("\r\n\x00"),
        "encoding": rec.encoding,
        "format": rec.format,
        "facility": rec.facility,
        "severity": rec.severity,
        "timestamp": iso_time(rec.timestamp) if rec.timestamp is not None else None,
        "hostname": rec.hostname,
        "app": rec.app,
        "procid": rec.procid,
        "msgid": rec.msgid,
        "structured_data": structured_data_items(rec.structured_data) or None,
        "text": rec.message,
        "parser": None,
        "connections": [],
    }
    match = parsers.parse(rec)
    if match is not None:
        row["parser"] = match[0]
        row["connections"] = [
            {
                "action": c.action,
                "proto": c.proto,
                "src_ip": c.src_ip,
                "src_port": c.src_port,
                "dst_ip": c.dst_ip,
                "dst_port": c.dst_port,
                "src_mac": c.src_mac,
                "device": c.device,
                "interface": c.interface,
                "vlan": c.vlan,
            }
            for c in match[1]
            if isinstance(c, ConnectionAttempt)
        ]
        row["vpn"] = [
            {
                "event": v.kind,
                "protocol": v.protocol,
                "user": v.user,
                "remote_ip": v.remote_ip,
                "assigned_ip": v.assigned_ip,
                "tunnel": v.tunnel,
                "device": v.device,
            }
            for v in match[1]
            if isinstance(v, VpnEvent)
        ]
    return row


CSV_COLUMNS = (
    "received_at",
    "sender",
    "sender_port",
    "transport",
    "seq",
    "hostname",
    "app",
    "facility",
    "severity",
    "timestamp",
    "parser",
    "action",
    "proto",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "interface",
    "message",
)


def write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """One CSV row per archived line (the first connection's fields when a vendor parser recognised it)."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        conn = row["connections"][0] if row["connections"] else {}
        writer.writerow([escape.spreadsheet(row[c] if c in row else conn.get(c)) for c in CSV_COLUMNS])
        count += 1
    return count
