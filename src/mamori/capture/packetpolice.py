"""Packet Police (SoftEther's パケット警察 for Windows) CSV logs as a packet source.

Hospitals that followed the Toyama design (JAMI 2017) logged every packet of the department server with
Packet Police; reading those logs runs the same detectors over their history. One line is one packet:

    date, time.ms, session, session, src MAC, dst MAC, ethertype, size, type, flags, src IP, src port,
    dst IP, dst port, seq, ack, details...
    2012-10-20,04:24:21.431,-,-,BCAEC57D281D,000944917380,0x0800,635,TCP_DATAv4,PSH+ACK,27.121.46.57,10270,
    210.148.86.3,http(80),2758859093,909024417,WindowSize=16425 ...

MACs are 12 hex digits, ports may carry a service name (``http(80)``), times are the Windows machine's local
time (give ``capture.log_timezone``; default: this machine's). TCP lines become the same observations as packets
(SYN -> ConnectionAttempt, SYN+ACK / RST -> PortResponse, FIN/NULL/Xmas probes -> ConnectionAttempt); other lines
(UDP, ICMP, ARP, data) are counted as ignored. Files are Shift_JIS (Japanese Windows) or UTF-8; a malformed line is
counted with its line number and skipped.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

from mamori.capture.sources import CaptureStats
from mamori.errors import CaptureError
from mamori.model import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, ConnectionAttempt, PortResponse

__all__ = ["PacketPoliceSource", "looks_like_packet_police"]

_FLAG_NAMES = {"FIN": FIN, "SYN": SYN, "RST": RST, "PSH": PSH, "ACK": ACK, "URG": URG, "ECE": ECE, "CWR": CWR}
_PORT = re.compile(r"^(?:[^()]*\()?(\d{1,5})\)?$")
_FIRST_LINE = re.compile(rb"^(?:\xef\xbb\xbf)?\d{4}-\d{2}-\d{2},\d{2}:\d{2}:\d{2}(?:\.\d+)?,")
_BATCH = 4096
_MIN_FIELDS = 14
_PROBLEM_SAMPLES = 20

Observation = ConnectionAttempt | PortResponse


def looks_like_packet_police(head: bytes) -> bool:
    """Whether the first bytes of a file are a Packet Police log line."""
    return bool(_FIRST_LINE.match(head))


def _mac(text: str) -> str | None:
    hexdigits = text.strip().lower().replace(":", "").replace("-", "")
    if len(hexdigits) != 12 or any(c not in "0123456789abcdef" for c in hexdigits):
        return None
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def _port(text: str) -> int:
    match = _PORT.match(text.strip())
    if not match or not 0 <= int(match.group(1)) <= 65535:
        raise ValueError(f"port {text!r}")
    return int(match.group(1))


def _flags(text: str) -> int:
    bits = 0
    for name in text.strip().upper().split("+"):
        if name in ("", "-", "NONE"):
            continue
        if name not in _FLAG_NAMES:
            raise ValueError(f"TCP flag {name!r}")
        bits |= _FLAG_NAMES[name]
    return bits


class PacketPoliceSource:
    """Reads one Packet Police log file into observations, batch by batch."""

    def __init__(self, path: str | Path, *, timezone: dt.tzinfo | None = None) -> None:
        self.path = Path(path)
        self.timezone = timezone
        self.stats = CaptureStats(name=str(self.path))
        self.size = 0
        self._position = 0

    def position(self) -> int:
        return self._position

    def _encoding(self, head: bytes) -> str:
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
                return "cp932"
        return "utf-8"

    def batches(self) -> Iterator[list[Observation]]:
        try:
            self.size = self.path.stat().st_size
            raw = self.path.open("rb")
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read ({exc.strerror})") from exc
        with raw:
            encoding = self._encoding(raw.read(65536))
            raw.seek(0)
            text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
            batch: list[Observation] = []
            for line_no, row in enumerate(csv.reader(text), start=1):
                obs = self._parse(row, line_no)
                if obs is not None:
                    batch.append(obs)
                if len(batch) >= _BATCH:
                    self._position = raw.tell()
                    yield batch
                    batch = []
            self._position = self.size
            if batch:
                yield batch

    def _bad(self, line_no: int, reason: str) -> None:
        self.stats.malformed += 1
        key = f"line {line_no}: {reason}" if len(self.stats.problems) < _PROBLEM_SAMPLES else "more lines"
        self.stats.problems[key] = self.stats.problems.get(key, 0) + 1

    def _parse(self, row: list[str], line_no: int) -> Observation | None:
        if not row or not any(field.strip() for field in row):
            return None
        self.stats.matched += 1
        if len(row) < _MIN_FIELDS:
            self._bad(line_no, f"{len(row)} fields, at least {_MIN_FIELDS} expected")
            return None
        date, time_, _s1, _s2, src_mac, dst_mac, _etype, _size, kind, flags_text, src_ip, sport, dst_ip, dport = row[
            :14
        ]
        if not kind.startswith("TCP"):
            return None  # UDP, ICMP, ARP and application records: nothing the TCP detectors need
        try:
            stamp = dt.datetime.strptime(f"{date.strip()} {time_.strip()}", "%Y-%m-%d %H:%M:%S.%f")
            flags = _flags(flags_text)
            src_port, dst_port = _port(sport), _port(dport)
        except ValueError as exc:
            self._bad(line_no, f"cannot read {exc}")
            return None
        ts = (stamp.replace(tzinfo=self.timezone) if self.timezone else stamp.astimezone()).timestamp()
        smac, dmac = _mac(src_mac), _mac(dst_mac)
        src_ip, dst_ip = src_ip.strip(), dst_ip.strip()
        self.stats.decoded += 1
        self.stats.last_packet = ts
        if flags & SYN:
            if flags & ACK:
                return PortResponse(ts, "synack", "tcp", smac, src_ip, src_port, dst_ip, dst_port)
            return ConnectionAttempt(ts, smac, dmac, src_ip, dst_ip, "tcp", src_port, dst_port, flags, 0)
        if flags & RST:
            return PortResponse(ts, "rstack" if flags & ACK else "rst", "tcp", smac, src_ip, src_port, dst_ip, dst_port)
        if not flags & ACK:
            return ConnectionAttempt(ts, smac, dmac, src_ip, dst_ip, "tcp", src_port, dst_port, flags, 0)
        self.stats.decoded -= 1  # an ordinary segment of an open connection
        return None
