"""Syslog lines -> :class:`~mamori.model.LogRecord`: RFC 5424, RFC 3164 (BSD) and bare lines, UTF-8 or Shift_JIS.

Written by hand for speed (docs/design.md §5): one pass over the text with ``str`` methods, no regular expression on
the common path, and a small cache for timestamps (lines arriving in the same second share one). Nothing here
raises on a malformed line: whatever cannot be read as a header stays in ``message``, and ``format`` says what
was recognised. RFC 3164 timestamps carry neither a year nor a zone: the year is the one that puts the time
nearest the receive time, the zone is the configured one (default: the machine's).
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Mapping

from mamori.model import LogRecord

__all__ = ["SyslogParser", "decode", "parse_structured_data"]

_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")
_TRAILING = "\r\n\x00"
_CACHE_LIMIT = 4096


def _ascii_digits(text: str) -> bool:
    """Only 0-9: ``str.isdigit`` also accepts superscripts such as "²", which ``int()`` refuses."""
    return text.isascii() and text.isdigit()


def decode(raw: bytes, fallback: str = "latin-1") -> tuple[str, str]:
    """Text and the encoding it was read with: UTF-8, else Shift_JIS (Japanese network devices), else fallback."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp932"), "shift_jis"
    except UnicodeDecodeError:
        return raw.decode(fallback, "replace"), fallback


def parse_structured_data(text: str) -> tuple[dict[str, dict[str, str]] | None, str]:
    """RFC 5424 STRUCTURED-DATA at the start of ``text`` -> (elements, the rest). ``-`` is no data.

    Malformed data gives (None, text): the caller keeps the whole text as the message."""
    if text.startswith("-"):
        return None, text[2:] if text.startswith("- ") else text[1:]
    elements: dict[str, dict[str, str]] = {}
    i = 0
    n = len(text)
    while i < n and text[i] == "[":
        end_id = i + 1
        while end_id < n and text[end_id] not in " ]":
            end_id += 1
        sd_id = text[i + 1 : end_id]
        params: dict[str, str] = {}
        j = end_id
        while j < n and text[j] == " ":
            eq = text.find("=", j + 1)
            if eq < 0 or eq + 1 >= n or text[eq + 1] != '"':
                return None, text
            name = text[j + 1 : eq]
            value, j = _quoted(text, eq + 2)
            if j < 0:
                return None, text
            params[name] = value
        if j >= n or text[j] != "]" or not sd_id:
            return None, text
        elements[sd_id] = params
        i = j + 1
    if not elements:
        return None, text
    return elements, text[i + 1 :] if text[i : i + 1] == " " else text[i:]


def _quoted(text: str, start: int) -> tuple[str, int]:
    """A PARAM-VALUE from ``start`` (after the opening quote) -> (value, index after the closing quote)."""
    out: list[str] = []
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in '"\\]':
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    return "", -1


class SyslogParser:
    """Parses received lines. One instance per thread (it caches timestamps)."""

    def __init__(self, *, timezone: str | None = None, fallback: str = "latin-1") -> None:
        self.zone: dt.tzinfo | None = zoneinfo.ZoneInfo(timezone) if timezone else None
        self.fallback = fallback
        self._bsd_cache: dict[tuple[str, int], float | None] = {}
        self._iso_cache: dict[str, float | None] = {}

    def parse(self, raw: bytes, received_at: float, sender: str, sender_port: int, transport: str) -> LogRecord:
        text, encoding = decode(raw, self.fallback)
        text = text.rstrip(_TRAILING)
        pri: int | None = None
        rest = text
        if text.startswith("<"):
            close = text.find(">", 1, 5)
            if close > 1 and _ascii_digits(text[1:close]) and int(text[1:close]) <= 191:
                pri = int(text[1:close])
                rest = text[close + 1 :]
        facility = pri >> 3 if pri is not None else None
        severity = pri & 7 if pri is not None else None
        if pri is not None and rest.startswith("1 "):
            parsed = self._rfc5424(rest[2:], raw, received_at, sender, sender_port, transport, encoding)
            if parsed is not None:
                return parsed._replace(facility=facility, severity=severity)
        stamp, hostname, app, procid, message = self._rfc3164(rest.lstrip(" "), received_at)
        fmt = "rfc3164" if pri is not None else ("rfc3164" if stamp is not None else "bare")
        return LogRecord(
            received_at,
            sender,
            sender_port,
            transport,
            raw,
            fmt,
            message,
            encoding,
            facility,
            severity,
            stamp,
            hostname,
            app,
            procid,
        )

    # -- RFC 5424 -----------------------------------------------------------------------------------------------

    def _rfc5424(
        self, rest: str, raw: bytes, received_at: float, sender: str, port: int, transport: str, encoding: str
    ) -> LogRecord | None:
        fields = rest.split(" ", 5)
        if len(fields) < 5:
            return None
        stamp_text, hostname, app, procid, msgid = fields[:5]
        tail = fields[5] if len(fields) > 5 else "-"
        stamp = None if stamp_text == "-" else self._iso(stamp_text)
        if stamp_text != "-" and stamp is None:
            return None
        sd, message = parse_structured_data(tail)
        if message.startswith("\ufeff"):
            message = message[1:]  # the BOM that marks a UTF-8 MSG (RFC 5424 §6.4)
        return LogRecord(
            received_at,
            sender,
            port,
            transport,
            raw,
            "rfc5424",
            message,
            encoding,
            None,
            None,
            stamp,
            None if hostname == "-" else hostname,
            None if app == "-" else app,
            None if procid == "-" else procid,
            None if msgid == "-" else msgid,
            sd,
        )

    def _iso(self, text: str) -> float | None:
        cached = self._iso_cache.get(text)
        if cached is not None or text in self._iso_cache:
            return cached
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            value = None
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=self.zone) if self.zone else parsed.astimezone()
            value = parsed.timestamp()
        if len(self._iso_cache) >= _CACHE_LIMIT:
            self._iso_cache.clear()
        self._iso_cache[text] = value
        return value

    # -- RFC 3164 -----------------------------------------------------------------------------------------------

    def _rfc3164(self, rest: str, received_at: float) -> tuple[float | None, str | None, str | None, str | None, str]:
        stamp: float | None = None
        after = rest
        head = rest[:3]
        if head in _MONTHS and len(rest) >= 15 and rest[3] == " " and rest[6] == " ":
            # "Nov 23 10:00:00", or with the year as Cisco ASA writes it: "Nov 23 2026 10:00:00"
            year_given = len(rest) >= 20 and _ascii_digits(rest[7:11]) and rest[11] == " " and rest[14] == ":"
            end = 20 if year_given else (15 if rest[9] == ":" else 0)
        else:
            year_given = False
            end = 0
        if end:
            stamp = self._bsd(rest[:end], received_at, year_given)
            if stamp is not None:
                after = rest[end:]
                if after.startswith("."):  # fractional seconds (Cisco: .123)
                    k = 1
                    while k < len(after) and after[k].isdigit():
                        k += 1
                    after = after[k:]
                if after.startswith(":"):
                    after = after[1:]
                after = after.lstrip(" ")
        elif len(rest) > 19 and rest[4] == "-" and rest[10] == "T":
            space = rest.find(" ")
            stamp = self._iso(rest[:space] if space > 0 else rest)
            if stamp is not None:
                after = rest[space + 1 :] if space > 0 else ""
        if stamp is None:
            app, procid, message = _tag(rest)
            return None, None, app, procid, message
        hostname: str | None = None
        space = after.find(" ")
        if space > 0:
            word = after[:space]
            if not word.endswith(":") and "[" not in word and word[0] != "%":
                hostname = word
                after = after[space + 1 :]
        app, procid, message = _tag(after)
        return stamp, hostname, app, procid, message

    def _bsd(self, text: str, received_at: float, year_given: bool) -> float | None:
        key = (text, int(received_at) // 86400)
        cached = self._bsd_cache.get(key)
        if cached is not None or key in self._bsd_cache:
            return cached
        value = self._bsd_uncached(text, received_at, year_given)
        if len(self._bsd_cache) >= _CACHE_LIMIT:
            self._bsd_cache.clear()
        self._bsd_cache[key] = value
        return value

    def _bsd_uncached(self, text: str, received_at: float, year_given: bool) -> float | None:
        try:
            month = _MONTHS[text[:3]]
            day = int(text[4:6])
            clock = text[-8:]
            hour, minute, second = int(clock[:2]), int(clock[3:5]), int(clock[6:8])
        except (KeyError, ValueError):
            return None
        zone = self.zone
        if year_given:
            years = [int(text[7:11])]
        else:
            now_year = (
                dt.datetime.fromtimestamp(received_at, zone).year if zone else time.localtime(received_at).tm_year
            )
            years = [now_year, now_year - 1, now_year + 1]
        best: float | None = None
        for year in years:
            try:
                moment = dt.datetime(year, month, day, hour, minute, second)
            except ValueError:
                continue
            ts = (moment.replace(tzinfo=zone) if zone else moment.astimezone()).timestamp()
            if best is None or abs(ts - received_at) < abs(best - received_at):
                best = ts
        return best


def _tag(text: str) -> tuple[str | None, str | None, str]:
    """``sshd[123]: msg`` -> ("sshd", "123", "msg"); no tag -> (None, None, text). A number is not a tag (Cisco
    sequence numbers: ``123: *Nov 23 ...``)."""
    limit = min(len(text), 64)
    i = 0
    while i < limit and text[i] in _TAG_CHARS:
        i += 1
    if i == 0 or i >= len(text) or text[:i].isdigit():
        return None, None, text
    c = text[i]
    if c == ":" and text[i + 1 : i + 2] in (" ", ""):
        return text[:i], None, text[i + 2 :]
    if c == "[":
        close = text.find("]", i)
        if 0 < close < i + 40 and text[close + 1 : close + 2] == ":":
            message = text[close + 2 :]
            return text[:i], text[i + 1 : close], message[1:] if message.startswith(" ") else message
    return None, None, text


def structured_data_items(sd: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, str]]:
    """Structured data as plain dicts (for JSON)."""
    return {k: dict(v) for k, v in (sd or {}).items()}
