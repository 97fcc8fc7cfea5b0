"""The compiled pcap walker and decoding loop (mamori.capture._pcapwalk) against libpcap and the Python decoder.

The walker runs libpcap's own compiled filter over classic pcap files in memory; the decoding loop is decode_batch's
fast path in C. Both must give exactly what libpcap and the Python reference give: the same packets pass, the same
observations (type and every field) come out, the same counts and messages for damaged files.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest

from mamori.capture import FileSource, build_filter
from mamori.capture import decode as decode_module
from mamori.capture.bpf import payload_clauses
from mamori.capture.decode import Decoder, PayloadWatch
from mamori.capture.sources import _WALKED, _Walker
from mamori.model import ACK, FIN, PSH, RST, SYN, URG
from mamori.testing.pcapbuilder import PcapWriter, arp, eth, icmp_port_unreachable, ipv4, ipv6, tcp, udp

pcapy = pytest.importorskip("pcapy")

A_MAC, B_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
A, B = "10.231.0.1", "10.231.0.2"

# What a site can ask libpcap for: the base filter's variants and the LAN detectors' wider one.
FILTERS = [
    build_filter(),
    build_filter(udp=False, ipv6=False),
    build_filter(vlan=False),
    build_filter(
        extra=payload_clauses(
            both_ways=[21, 23, 110, 143, 389],
            http=[80, 8080],
            smb=[445],
            udp_to_server=[161],
            udp_from_server=[67],
            router_adverts=True,
            followed=[3389, 445, 1433],
            networks=["10.231.0.0/16"],
        )
    ),
]


def _compiled() -> Any:
    """The compiled module; skipped where it was not built (no C compiler at install), which under CI fails."""
    return pytest.importorskip("mamori.capture._pcapwalk")


def _frames() -> list[bytes]:
    """Every TCP flag byte with windows nmap uses and others, options or none, fragments, IP options, VLAN tags,
    IPv6, UDP, ICMP, ARP, and damaged headers."""
    rng = random.Random(7)
    frames = []
    for flags in range(256):
        for window, options in ((1024, b""), (29200, b""), (4096, b"\x02\x04\x05\xb4"), (65535, b"")):
            seg = tcp(
                A,
                B,
                40000 + flags,
                rng.choice([22, 80, 443, 445, 3389, 8080, 50000]),
                flags,
                window=window,
                options=options,
                payload=b"x" * rng.choice([0, 0, 10]),
            )
            frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 6, seg)))
    syn = tcp(A, B, 40000, 443, SYN)
    frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 6, syn), vlan=20))
    frames.append(eth(B_MAC, A_MAC, 0x86DD, ipv6("fd00::1", "fd00::2", 6, tcp("fd00::1", "fd00::2", 1, 443, SYN))))
    frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 17, udp(A, B, 5353, 161, b"public"))))
    frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(B, A, 1, icmp_port_unreachable(ipv4(A, B, 17, udp(A, B, 1, 2))))))
    frames.append(eth("ff:ff:ff:ff:ff:ff", A_MAC, 0x0806, arp(1, A_MAC, A, "00:00:00:00:00:00", B)))
    base = bytearray(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 6, syn)))
    for offset, value in ((20, 0x20), (21, 0x05), (14, 0x46), (14, 0x44), (46, 0x40), (46, 0x30), (12, 0x86)):
        damaged = bytearray(base)
        damaged[offset] = value  # more-fragments and an offset, IP options, short IHL, short TCP header, other type
        frames.append(bytes(damaged))
    frames.append(bytes(base[:40]))  # cut inside the TCP header
    frames.append(bytes(base[:14]))
    return frames


def _write(path: Path, frames: list[bytes]) -> Path:
    with PcapWriter(path) as writer:
        for i, frame in enumerate(frames):
            writer.write(1_800_000_000 + i * 0.000137, frame)
    return path


def _typed(source: FileSource) -> list[tuple[str, tuple[object, ...]]]:
    return [(type(o).__name__, tuple(o)) for batch in source.batches() for o in batch]


def _real_pcaps(shared_data: Path) -> list[Path]:
    paths = sorted((shared_data / "pcap").rglob("*.pcap"))
    assert paths, "no captures in ../shared/data/pcap"
    return paths


def _reference(path: Path, bpf: str, watch: PayloadWatch | None = None) -> tuple[list[Any], Any]:
    """libpcap reading, the Python decoder: what mamori did before the walker."""
    saved = decode_module._compiled
    decode_module._compiled = None
    try:
        source = FileSource(path, bpf, walk=False, watch=watch)
        return _typed(source), source.stats
    finally:
        decode_module._compiled = saved


def _walked(path: Path, bpf: str, watch: PayloadWatch | None = None) -> tuple[list[Any], Any]:
    source = FileSource(path, bpf, watch=watch)
    return _typed(source), source.stats


def _same_stats(a: Any, b: Any) -> None:
    assert (a.matched, a.decoded, a.malformed, a.problems, a.last_packet) == (
        b.matched,
        b.decoded,
        b.malformed,
        b.problems,
        b.last_packet,
    )


@pytest.mark.parametrize("bpf", FILTERS, ids=["base", "tcp-ipv4-only", "no-vlan", "lan-wider"])
def test_interpreter_agrees_with_libpcap_on_every_packet(bpf: str, shared_data: Path) -> None:
    module = _compiled()
    program = pcapy.compile(1, 262144, bpf, 1, 0xFFFFFFFF)
    ours = module.Program(program.get_bpf())
    packets = list(_frames())
    for path in _real_pcaps(shared_data):
        reader = pcapy.open_offline(str(path))
        if reader.datalink() != 1:
            continue
        while True:
            header, data = reader.next()
            if header is None:
                break
            packets.append(data)
    rng = random.Random(11)
    for frame in list(packets[:3000]):  # and mutated copies: random bytes in the headers
        mutated = bytearray(frame)
        for _ in range(3):
            if mutated:
                mutated[rng.randrange(min(len(mutated), 60))] = rng.randrange(256)
        packets.append(bytes(mutated))
    assert len(packets) > 10_000
    matched = 0
    for packet in packets:
        expected = program.filter(packet) != 0
        assert (ours.run(packet) != 0) == expected, packet.hex()
        matched += expected
    assert 0 < matched < len(packets)


def test_programs_libpcap_would_not_run_are_refused() -> None:
    module = _compiled()
    with pytest.raises(ValueError, match="jump out of the program"):
        module.Program([(0x15, 5, 0, 1), (0x06, 0, 0, 1)])
    with pytest.raises(ValueError, match="does not end in a return"):
        module.Program([(0x28, 0, 0, 12)])
    with pytest.raises(ValueError, match="division by a constant zero"):
        module.Program([(0x34, 0, 0, 0), (0x06, 0, 0, 1)])
    with pytest.raises(ValueError, match="does not know"):
        module.Program([(0xFF, 0, 0, 0), (0x06, 0, 0, 1)])
    with pytest.raises(ValueError, match="scratch memory"):
        module.Program([(0x02, 0, 0, 16), (0x06, 0, 0, 1)])
    program = module.Program([(0x06, 0, 0, 1)])
    with pytest.raises(TypeError, match="built once"):
        program.__init__([(0x06, 0, 0, 0)])  # a walk on another thread may be using it
    assert program.run(b"") == 1
    # scratch memory starts at zero for every packet: load slot 3 (never stored), return it
    assert module.Program([(0x60, 0, 0, 3), (0x16, 0, 0, 0)]).run(b"\x01") == 0


@pytest.mark.parametrize("bpf", FILTERS, ids=["base", "tcp-ipv4-only", "no-vlan", "lan-wider"])
def test_walker_gives_what_libpcap_gives_on_every_real_capture(bpf: str, shared_data: Path) -> None:
    _compiled()
    walked_files = 0
    for path in _real_pcaps(shared_data):
        walked_files += _Walker.open(path, bpf) is not None
        ours, our_stats = _walked(path, bpf)
        theirs, their_stats = _reference(path, bpf)
        assert ours == theirs, path
        _same_stats(our_stats, their_stats)
        assert our_stats.errors == their_stats.errors
    assert walked_files >= 10  # the lab and ESnet captures are classic pcap files


def test_compiled_decoding_gives_the_python_decoders_observations(tmp_path: Path) -> None:
    _compiled()
    path = _write(tmp_path / "every-flag.pcap", _frames())
    for bpf in FILTERS:
        ours, our_stats = _walked(path, bpf)
        theirs, their_stats = _reference(path, bpf)
        assert ours == theirs
        _same_stats(our_stats, their_stats)
    kinds = {kind for kind, _ in ours}
    assert kinds == {"ConnectionAttempt", "PortResponse", "ArpObservation"}
    assert our_stats.malformed > 0  # the damaged headers are counted by the same reasons
    watch = PayloadWatch(tcp_ports=frozenset({80, 8080}), flow_ports=frozenset({445}), udp_ports=frozenset({161}))
    ours, our_stats = _walked(path, FILTERS[-1], watch)
    theirs, their_stats = _reference(path, FILTERS[-1], watch)
    assert ours == theirs
    assert any(kind == "PacketData" for kind, _ in ours)
    _same_stats(our_stats, their_stats)


def test_byte_orders_and_nanosecond_files_are_walked(tmp_path: Path) -> None:
    module = _compiled()
    frames = _frames()
    little = _write(tmp_path / "little.pcap", frames)
    raw = little.read_bytes()
    records, pos = [], 24
    while pos < len(raw):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", raw, pos)
        records.append((sec, usec, caplen, wirelen, raw[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
    big = tmp_path / "big.pcap"
    nano = tmp_path / "nano.pcap"
    with big.open("wb") as f:
        f.write(struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for sec, usec, caplen, wirelen, data in records:
            f.write(struct.pack(">IIII", sec, usec, caplen, wirelen) + data)
    with nano.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for sec, usec, caplen, wirelen, data in records:
            f.write(struct.pack("<IIII", sec, usec * 1000 + 999, caplen, wirelen) + data)
    expected, _ = _reference(little, build_filter())
    for path in (big, nano):
        walker = _Walker.open(path, build_filter())
        assert walker is not None
        walker.close()
        ours, _ = _walked(path, build_filter())
        theirs, _ = _reference(path, build_filter())
        assert ours == theirs == expected
    assert module.MORE != module.END


@pytest.mark.parametrize("walk", [True, False])
def test_a_record_longer_than_the_snapshot_is_left_to_libpcap(tmp_path: Path, walk: bool) -> None:
    """A record header claiming more bytes than the file's snapshot length: the walker stops there and libpcap reads
    the rest past what was delivered, so the result is libpcap's."""
    _compiled()
    frames = _frames()
    path = tmp_path / "odd.pcap"
    with PcapWriter(path, snaplen=200) as writer:
        for i, frame in enumerate(frames[:300]):
            writer.write(1_800_000_000 + i, frame)
        writer.write(1_800_000_400, frames[0] + b"\x00" * 300)  # 354 bytes in a 200-byte capture
        for i, frame in enumerate(frames[300:]):
            writer.write(1_800_000_500 + i, frame)
    ours, our_stats = (_walked if walk else _reference)(path, build_filter())
    theirs, their_stats = _reference(path, build_filter())
    assert ours == theirs
    assert our_stats.errors == their_stats.errors


def test_reading_stopped_early_ends_the_walker(tmp_path: Path) -> None:
    _compiled()
    path = _write(tmp_path / "many.pcap", _frames() * 40)
    source = FileSource(path, build_filter())
    batches = source.batches()
    first = next(batches)
    assert first
    batches.close()  # the caller stops reading: the thread ends and the mapping is closed
    started = FileSource(path, build_filter())
    started.start()
    started.close()  # started ahead and never read
    walker = _Walker.open(path, build_filter())
    assert walker is not None
    walker.start()
    walker.close()
    assert walker._thread is None and walker._mm is None


def test_the_walker_reports_where_a_truncated_file_ends(tmp_path: Path) -> None:
    _compiled()
    whole = _write(tmp_path / "whole.pcap", _frames()).read_bytes()
    for cut, words in ((len(whole) - 20, "of its"), (len(whole) - (len(whole) - 24) % 7 - 3, "")):
        path = tmp_path / "cut.pcap"
        path.write_bytes(whole[:cut])
        ours, stats = _walked(path, build_filter())
        theirs, reference = _reference(path, build_filter())
        assert ours == theirs
        assert stats.matched == reference.matched
        assert len(stats.errors) == 1
        assert "damaged or truncated" in stats.errors[0] and "切れています" in stats.errors[0]
        assert words in stats.errors[0]


def test_walked_records_point_into_the_file(tmp_path: Path) -> None:
    _compiled()
    frames = _frames()
    path = _write(tmp_path / "points.pcap", frames)
    walker = _Walker.open(path, build_filter())
    assert walker is not None
    try:
        records = [r for batch in walker.batches() for r in _WALKED.iter_unpack(batch)]
        data = path.read_bytes()
        decoder = Decoder(1)
        assert decoder.decode_packed(walker.buffer, b"".join(_WALKED.pack(*r) for r in records[:5]), True)[0]
        for sec, _usec, offset, caplen in records:
            assert sec >= 1_800_000_000
            assert data[offset : offset + caplen] in frames
    finally:
        walker.close()


def test_flags_constants_match_the_model() -> None:
    # the compiled loop spells the TCP flags out; they must be the model's
    assert (FIN, SYN, RST, PSH, ACK, URG) == (0x01, 0x02, 0x04, 0x08, 0x10, 0x20)
