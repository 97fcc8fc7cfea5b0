"""The decoder on well-formed frames of every kind it handles, and on damaged ones (it must never raise)."""

from __future__ import annotations

import random
import struct

import pytest

from mamori.capture.decode import Decoder, UnsupportedLinkType
from mamori.model import ACK, FIN, PSH, RST, SYN, URG, ArpObservation, ConnectionAttempt, PortResponse
from mamori.testing.pcapbuilder import arp, eth, icmp_port_unreachable, ipv4, ipv6, tcp, udp

A_MAC, B_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
A, B = "10.231.0.1", "10.231.0.2"


def tcp_frame(flags: int, *, sport: int = 40000, dport: int = 6000, vlan: int | None = None, **kw: object) -> bytes:
    return eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 6, tcp(A, B, sport, dport, flags, **kw)), vlan=vlan)  # type: ignore[arg-type]


def decode(frame: bytes, linktype: int = 1) -> object:
    return Decoder(linktype).decode(frame, 0, len(frame), 1.5)


def test_syn_from_an_operating_system_is_an_attempt_with_its_header_length() -> None:
    obs = decode(tcp_frame(SYN))
    assert obs == ConnectionAttempt(1.5, A_MAC, B_MAC, A, B, "tcp", 40000, 6000, SYN, 40, None)


def test_raw_scanner_syn_has_a_short_header() -> None:
    obs = decode(tcp_frame(SYN, window=1024, options=bytes.fromhex("020405b4")))
    assert isinstance(obs, ConnectionAttempt)
    assert obs.tcp_header_len == 24


def test_syn_ack_rst_and_rst_ack_are_responses() -> None:
    synack = decode(tcp_frame(SYN | ACK, sport=6000, dport=40000))
    assert synack == PortResponse(1.5, "synack", "tcp", A_MAC, A, 6000, B, 40000, None)
    assert isinstance(rst := decode(tcp_frame(RST)), PortResponse)
    assert rst.kind == "rst"
    assert isinstance(rstack := decode(tcp_frame(RST | ACK)), PortResponse)
    assert rstack.kind == "rstack"


@pytest.mark.parametrize("flags", [FIN, 0, FIN | PSH | URG, PSH, URG])
def test_probes_without_syn_rst_or_ack_are_attempts(flags: int) -> None:
    obs = decode(tcp_frame(flags, window=1024))
    assert isinstance(obs, ConnectionAttempt)
    assert obs.flags == flags


def test_raw_ack_probe_is_an_attempt_but_ordinary_acks_are_ignored() -> None:
    decoder = Decoder(1)
    probe = tcp_frame(ACK, window=1024, options=b"")
    assert isinstance(decoder.decode(probe, 0, len(probe), 1.0), ConnectionAttempt)
    for frame in (
        tcp_frame(ACK, window=64240, options=b""),  # a pure ACK from a real stack
        tcp_frame(ACK | PSH, window=1024, options=b"", payload=b"data"),  # data
        tcp_frame(FIN | ACK),  # an orderly close
    ):
        assert decoder.decode(frame, 0, len(frame), 1.0) is None
    assert decoder.ignored == 3
    assert decoder.malformed == 0


def test_vlan_tag_is_read_and_stripped() -> None:
    obs = decode(tcp_frame(SYN, vlan=943))
    assert isinstance(obs, ConnectionAttempt)
    assert (obs.vlan, obs.dst_port) == (943, 6000)


def test_ipv6_syn_including_an_extension_header() -> None:
    src, dst = "fd00::1", "fd00::2"
    seg = tcp(src, dst, 40000, 443, SYN)
    plain = eth(B_MAC, A_MAC, 0x86DD, ipv6(src, dst, 6, seg))
    obs = decode(plain)
    assert isinstance(obs, ConnectionAttempt)
    assert (obs.src_ip, obs.dst_ip, obs.dst_port) == (src, dst, 443)
    hop_by_hop = bytes([6, 0]) + b"\x01\x04\x00\x00\x00\x00"  # next header TCP, 8 octets, PadN
    with_ext = eth(B_MAC, A_MAC, 0x86DD, ipv6(src, dst, 0, hop_by_hop + seg))
    obs = decode(with_ext)
    assert isinstance(obs, ConnectionAttempt)
    assert obs.dst_port == 443


def test_empty_udp_is_a_probe_and_udp_with_payload_is_not() -> None:
    assert isinstance(decode(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 17, udp(A, B, 5353, 161)))), ConnectionAttempt)
    assert decode(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 17, udp(A, B, 5353, 53, b"query")))) is None


def test_icmp_port_unreachable_names_the_probe() -> None:
    probe_ip = ipv4(A, B, 17, udp(A, B, 48411, 20))
    answer = eth(A_MAC, B_MAC, 0x0800, ipv4(B, A, 1, icmp_port_unreachable(probe_ip)))
    obs = decode(answer)
    assert obs == PortResponse(1.5, "unreachable", "udp", B_MAC, B, 20, A, 48411, None)


def test_arp_reply_and_gratuitous_arp() -> None:
    reply = eth(A_MAC, B_MAC, 0x0806, arp(2, B_MAC, B, A_MAC, A))
    obs = decode(reply)
    assert obs == ArpObservation(1.5, 2, B_MAC, B_MAC, B, A_MAC, A, None)
    gratuitous = eth("ff:ff:ff:ff:ff:ff", A_MAC, 0x0806, arp(1, A_MAC, B, "00:00:00:00:00:00", B))
    obs = decode(gratuitous)
    assert isinstance(obs, ArpObservation)
    assert obs.gratuitous


def test_linux_cooked_capture_gives_the_source_mac() -> None:
    ip = ipv4(A, B, 6, tcp(A, B, 40000, 6000, SYN))
    sll = struct.pack("!HHH8sH", 0, 1, 6, bytes.fromhex(A_MAC.replace(":", "")) + b"\0\0", 0x0800) + ip
    obs = decode(sll, 113)
    assert isinstance(obs, ConnectionAttempt)
    assert (obs.src_mac, obs.dst_mac) == (A_MAC, None)


def test_raw_ip_capture_has_no_macs() -> None:
    obs = decode(ipv4(A, B, 6, tcp(A, B, 40000, 6000, SYN)), 101)
    assert isinstance(obs, ConnectionAttempt)
    assert obs.src_mac is None


def test_unknown_link_type_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedLinkType, match="link-layer type 105"):
        Decoder(105)


def test_every_truncation_of_every_frame_is_counted_never_raised() -> None:
    frames = [
        tcp_frame(SYN),
        tcp_frame(SYN, vlan=10),
        eth(B_MAC, A_MAC, 0x86DD, ipv6("fd00::1", "fd00::2", 6, tcp("fd00::1", "fd00::2", 1, 2, SYN))),
        eth(A_MAC, B_MAC, 0x0800, ipv4(B, A, 1, icmp_port_unreachable(ipv4(A, B, 17, udp(A, B, 1, 2))))),
        eth(A_MAC, B_MAC, 0x0806, arp(2, B_MAC, B, A_MAC, A)),
    ]
    decoder = Decoder(1)
    for frame in frames:
        for cut in range(len(frame)):
            decoder.decode(frame, 0, cut, 1.0)  # must not raise
    assert decoder.malformed > 0
    assert "TCP header truncated" in decoder.problems
    assert "ARP packet truncated" in decoder.problems


def test_random_garbage_never_raises() -> None:
    rng = random.Random(7)
    decoder = Decoder(1)
    for _ in range(20_000):
        frame = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        decoder.decode(frame, 0, len(frame), 0.0)
    # Garbage with an IPv4 ethertype must be caught by the header checks.
    bad_ihl = bytearray(tcp_frame(SYN))
    bad_ihl[14] = 0x41  # IHL 1 (4 bytes)
    decoder.decode(bytes(bad_ihl), 0, len(bad_ihl), 0.0)
    assert decoder.problems["IPv4 header invalid (version or header length)"] >= 1


def test_decoding_at_an_offset_inside_a_batch_buffer() -> None:
    first, second = tcp_frame(SYN, dport=1), tcp_frame(SYN, dport=2)
    buf = first + second
    decoder = Decoder(1)
    one = decoder.decode(buf, 0, len(first), 1.0)
    two = decoder.decode(buf, len(first), len(second), 2.0)
    assert isinstance(one, ConnectionAttempt)
    assert isinstance(two, ConnectionAttempt)
    assert (one.dst_port, two.dst_port) == (1, 2)


def _batch(decoder: Decoder, frames: list[bytes], caplens: list[int] | None = None) -> list[object]:
    """Frames laid end to end in one buffer, as libpcap hands a batch over, decoded with decode_batch."""
    records, offset = [], 0
    for i, frame in enumerate(frames):
        records.append((1_800_000_000 + i, (i * 37) % 1_000_000, offset, caplens[i] if caplens else len(frame)))
        offset += len(frame)
    observations, last = decoder.decode_batch(b"".join(frames), records)
    assert last == (records[-1][0] + records[-1][1] * 1e-6 if records else 0.0)
    return observations


def _one_by_one(decoder: Decoder, frames: list[bytes], caplens: list[int] | None = None) -> list[object]:
    out, offset, buf = [], 0, b"".join(frames)
    for i, frame in enumerate(frames):
        ts = 1_800_000_000 + i + ((i * 37) % 1_000_000) * 1e-6
        obs = decoder.decode(buf, offset, caplens[i] if caplens else len(frame), ts)
        offset += len(frame)
        if obs is not None:
            out.append(obs)
    return out


def _counters(decoder: Decoder) -> tuple[int, int, int, dict[str, int]]:
    return decoder.decoded, decoder.ignored, decoder.malformed, dict(decoder.problems)


def test_batch_decoding_equals_the_reference_path_on_every_flag_combination() -> None:
    """decode_batch classifies the common frame in its loop; decode() is the reference. Every TCP flag byte, with
    the windows and header lengths that matter (nmap's ACK-probe windows, options, reserved bits, a header length
    below 20), plus every other kind of frame and truncations, must come out the same, counters included."""
    frames = []
    for flags in range(256):
        for window, options in ((1024, b""), (64240, b""), (4096, bytes.fromhex("020405b4")), (1024, b"\x01" * 12)):
            frames.append(tcp_frame(flags, window=window, options=options, sport=flags, dport=window))
    reserved = bytearray(tcp_frame(ACK, window=1024, options=b""))
    reserved[46] |= 0x01  # data offset 5 with a reserved bit set: still a 20-byte header
    short = bytearray(tcp_frame(SYN))
    short[46] = 0x40  # data offset 4: 16 bytes, malformed
    fragment = bytearray(tcp_frame(SYN))
    fragment[20:22] = b"\x00\x10"  # a later fragment
    plain = ipv4(A, B, 6, tcp(A, B, 1, 2, SYN))
    with_options = bytes([0x46]) + plain[1:20] + b"\x01\x01\x01\x00" + plain[20:]  # IHL 6: a 4-byte option
    frames += [bytes(reserved), bytes(short), bytes(fragment), eth(B_MAC, A_MAC, 0x0800, with_options)]
    frames += [
        tcp_frame(SYN, vlan=10),
        eth(B_MAC, A_MAC, 0x86DD, ipv6("fd00::1", "fd00::2", 6, tcp("fd00::1", "fd00::2", 1, 2, SYN))),
        eth(A_MAC, B_MAC, 0x0800, ipv4(B, A, 1, icmp_port_unreachable(ipv4(A, B, 17, udp(A, B, 1, 2))))),
        eth(A_MAC, B_MAC, 0x0806, arp(2, B_MAC, B, A_MAC, A)),
        eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 17, udp(A, B, 5353, 161))),
    ]
    fast, reference = Decoder(1), Decoder(1)
    batch = _batch(fast, frames)
    assert batch == _one_by_one(reference, frames)
    assert _counters(fast) == _counters(reference)
    assert len(batch) > 700 and fast.malformed == 1 and fast.ignored > 100
    assert batch[-6].dst_port == 2  # the IPv4 header with options, read by the reference path
    # Cut short (a snapshot length below the headers): the general path reports what is missing.
    cuts = [len(f) - k for f in frames[:64] for k in (1, 10, 30)]
    fast, reference = Decoder(1), Decoder(1)
    assert _batch(fast, frames[:64] * 3, cuts) == _one_by_one(reference, frames[:64] * 3, cuts)
    assert _counters(fast) == _counters(reference)


@pytest.mark.parametrize("linktype", [101, 113])
def test_batch_decoding_of_other_link_types_takes_the_reference_path(linktype: int) -> None:
    ip = ipv4(A, B, 6, tcp(A, B, 40000, 6000, SYN))
    frame = ip if linktype == 101 else struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x0800) + ip
    assert _batch(Decoder(linktype), [frame] * 3) == _one_by_one(Decoder(linktype), [frame] * 3)


def test_batch_decoding_of_real_captures_equals_the_reference_path(lab_pcaps) -> None:
    import pcapy

    for path in sorted(lab_pcaps.glob("*.pcap")):
        reader = pcapy.open_offline(str(path))
        frames = []
        header, data = reader.next()
        while header is not None:
            frames.append(data)
            header, data = reader.next()
        fast, reference = Decoder(1), Decoder(1)
        assert _batch(fast, frames) == _one_by_one(reference, frames), path.name
        assert _counters(fast) == _counters(reference), path.name
