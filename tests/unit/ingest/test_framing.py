"""Cutting TCP streams into messages (RFC 6587 octet counting and LF framing) and RELP frames."""

from __future__ import annotations

import pytest

from mamori.ingest.framing import RelpFrame, RelpFramer, RelpProtocolError, StreamFramer


def feed_bytewise(framer: StreamFramer, data: bytes) -> list[bytes]:
    out: list[bytes] = []
    for i in range(len(data)):
        out.extend(framer.feed(data[i : i + 1]))
    return out


STREAM = b"<13>one\n" + b"10 <13>two\nxx" + b"<13>three\r\n" + b"\n" + b"8 <13>four"


def test_both_framings_on_one_connection() -> None:
    expected = [b"<13>one", b"<13>two\nxx", b"<13>three\r", b"<13>four"]
    assert StreamFramer(1024).feed(STREAM) == expected
    assert feed_bytewise(StreamFramer(1024), STREAM) == expected  # however the stream is split


def test_octet_counted_message_may_contain_newlines() -> None:
    msg = b"<13>line1\nline2"
    assert StreamFramer(100).feed(b"%d %s" % (len(msg), msg)) == [msg]


def test_a_last_line_without_lf_is_kept_at_the_end() -> None:
    framer = StreamFramer(100)
    assert framer.feed(b"<13>a\n<13>b") == [b"<13>a"]
    assert framer.finish() == b"<13>b"
    assert framer.finish() is None


def test_a_line_that_starts_with_digits_is_not_octet_counted() -> None:
    assert StreamFramer(100).feed(b"2026/11/23 10:00:00 bare line\n") == [b"2026/11/23 10:00:00 bare line"]


def test_over_long_newline_message_is_cut_and_counted() -> None:
    framer = StreamFramer(16)
    out = framer.feed(b"A" * 40) + framer.feed(b"B" * 40 + b"\nnext\n")
    assert out == [b"A" * 16, b"next"]
    assert framer.truncated == 1


def test_over_long_octet_counted_message_is_cut_and_the_rest_skipped() -> None:
    framer = StreamFramer(16)
    out = framer.feed(b"40 " + b"C" * 20) + framer.feed(b"C" * 20 + b"5 <13>x")
    assert out == [b"C" * 16, b"<13>x"]
    assert framer.truncated == 1


def relp(txnr: int, command: bytes, data: bytes = b"") -> bytes:
    return b"%d %s %d %s\n" % (txnr, command, len(data), data) if data else b"%d %s 0\n" % (txnr, command)


def test_relp_session_frames() -> None:
    offer = b"relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog"
    data = relp(1, b"open", offer) + relp(2, b"syslog", b"<13>hello") + relp(3, b"close")
    framer = RelpFramer(1024)
    frames = [f for i in range(len(data)) for f in framer.feed(data[i : i + 1])]
    assert frames == [RelpFrame(1, "open", offer), RelpFrame(2, "syslog", b"<13>hello"), RelpFrame(3, "close", b"")]


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\n\r\n", b"1 syslog 5 <13>abcdef\n", b"x" * 64])
def test_relp_rejects_what_is_not_relp(garbage: bytes) -> None:
    with pytest.raises(RelpProtocolError):
        RelpFramer(1024).feed(garbage)
