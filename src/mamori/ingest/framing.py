"""Cutting a TCP byte stream into syslog messages (RFC 6587) and RELP frames.

RFC 6587 allows two framings on one connection: octet counting (``MSG-LEN SP MSG``, the length in decimal without
a leading zero) and newline-terminated messages. A frame that starts with a non-zero digit followed by digits and
a space is octet-counted, anything else runs to the next LF — the same rule rsyslog applies. Messages longer than
the limit are cut at the limit (and counted); the rest of an over-long message is skipped.

RELP (rsyslog's Reliable Event Logging Protocol) frames are ``TXNR SP COMMAND SP DATALEN [SP DATA] LF``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RelpFrame", "RelpFramer", "RelpProtocolError", "StreamFramer"]

_MAX_LEN_DIGITS = 10


class StreamFramer:
    """Feed it what a connection delivers; it returns the complete messages (without framing or the LF)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.truncated = 0
        self._rest = b""
        self._skip = 0  # bytes of an over-long octet-counted message still to skip
        self._skip_line = False  # inside an over-long newline-framed message

    def feed(self, data: bytes) -> list[bytes]:
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return []
            data = data[self._skip :]
            self._skip = 0
        if self._rest:
            data = self._rest + data
        out: list[bytes] = []
        pos = 0
        n = len(data)
        while pos < n:
            if 49 <= data[pos] <= 57 and not self._skip_line:  # "1".."9": maybe octet counting
                taken = self._octets(data, pos, n, out)
                if taken is None:
                    break  # wait for more
                if taken >= 0:
                    pos = taken
                    continue
            taken = self._line(data, pos, n, out)
            if taken is None:
                pos = n if self._skip_line else pos
                break
            pos = taken
        self._rest = data[pos:] if pos < n else b""
        return out

    def _octets(self, data: bytes, pos: int, n: int, out: list[bytes]) -> int | None:
        """An octet-counted message at ``pos``: the position after it, None to wait for more data, -1 if the
        frame is not octet-counted after all."""
        space = data.find(b" ", pos, pos + _MAX_LEN_DIGITS + 1)
        if space < 0:
            return None if n - pos <= _MAX_LEN_DIGITS and data[pos:n].isdigit() else -1
        if not data[pos:space].isdigit():
            return -1
        length = int(data[pos:space])
        start = space + 1
        if length <= self.max_size:
            if n - start < length:
                return None
            out.append(data[start : start + length])
            return start + length
        if n - start < self.max_size:
            return None  # wait until the part that is kept has arrived
        out.append(data[start : start + self.max_size])
        self.truncated += 1
        remaining = length - (n - start)
        if remaining > 0:
            self._skip = remaining
            return n
        return start + length

    def _line(self, data: bytes, pos: int, n: int, out: list[bytes]) -> int | None:
        """A newline-terminated message at ``pos``: the position after its LF, or None to wait for more data."""
        newline = data.find(b"\n", pos)
        if newline < 0:
            if n - pos > self.max_size:
                if not self._skip_line:
                    out.append(data[pos : pos + self.max_size])
                    self.truncated += 1
                self._skip_line = True
            return None
        if self._skip_line:
            self._skip_line = False
        elif newline - pos > self.max_size:
            out.append(data[pos : pos + self.max_size])
            self.truncated += 1
        elif newline > pos and data[pos:newline] != b"\r":
            out.append(data[pos:newline])
        return newline + 1

    def finish(self) -> bytes | None:
        """At the end of the connection: a last message that had no LF, if any."""
        rest, self._rest = self._rest, b""
        if self._skip_line or self._skip:
            return None
        rest = rest.rstrip(b"\r")
        return rest[: self.max_size] if rest else None


class RelpProtocolError(ValueError):
    """The peer does not speak RELP (or the frame is broken): the connection is closed."""


@dataclass(frozen=True)
class RelpFrame:
    txnr: int
    command: str
    data: bytes


class RelpFramer:
    """Feed it what a RELP connection delivers; it returns complete frames."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._rest = b""

    def feed(self, data: bytes) -> list[RelpFrame]:
        data = self._rest + data if self._rest else data
        frames: list[RelpFrame] = []
        pos = 0
        n = len(data)
        while pos < n:
            frame, end = self._one(data, pos, n)
            if frame is None:
                break
            frames.append(frame)
            pos = end
        self._rest = data[pos:]
        if len(self._rest) > self.max_size + 64:
            raise RelpProtocolError("a RELP frame is longer than the message size limit")
        return frames

    @staticmethod
    def _one(data: bytes, pos: int, n: int) -> tuple[RelpFrame | None, int]:
        while pos < n and data[pos] in b"\r\n":
            pos += 1  # tolerate stray line ends between frames
        head = _relp_head(data, pos, n)
        if head is None:
            return None, pos
        txnr, command, length, k = head
        if length == 0:
            if data[k] != 10:
                raise RelpProtocolError("a RELP frame without its trailer")
            return RelpFrame(txnr, command, b""), k + 1
        if data[k] != 32:
            raise RelpProtocolError("a RELP data length not followed by a space")
        start = k + 1
        end = start + length
        if end >= n:
            return None, pos
        if data[end] != 10:
            raise RelpProtocolError("a RELP frame without its trailer")
        return RelpFrame(txnr, command, data[start:end]), end + 1


def _relp_head(data: bytes, pos: int, n: int) -> tuple[int, str, int, int] | None:
    """``TXNR SP COMMAND SP DATALEN`` at ``pos`` -> (txnr, command, datalen, index after it); None: incomplete."""
    first = data.find(b" ", pos, pos + 10)
    if first < 0:
        if n - pos >= 10:
            raise RelpProtocolError("not a RELP transaction number")
        return None
    second = data.find(b" ", first + 1, first + 34)
    if second < 0:
        if n - first > 33:
            raise RelpProtocolError("not a RELP command")
        return None
    txnr_text = data[pos:first]
    if not txnr_text.isdigit():
        raise RelpProtocolError("not a RELP transaction number")
    k = second + 1
    while k < n and 48 <= data[k] <= 57:
        k += 1
    if k >= n:
        return None
    if k == second + 1:
        raise RelpProtocolError("not a RELP data length")
    return int(txnr_text), data[first + 1 : second].decode("ascii", "replace"), int(data[second + 1 : k]), k
