"""Capture files through libpcap and the kernel-style filter: real captures, pcapng, damage, and tcpdump agreement."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from mamori.capture import FileSource, build_filter
from mamori.errors import CaptureError
from mamori.model import ACK, FIN, PSH, SYN, ConnectionAttempt
from mamori.testing.pcapbuilder import PcapngWriter, PcapWriter, arp, eth, ipv4, tcp, udp

A_MAC, B_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
A, B = "10.231.0.1", "10.231.0.2"


def _observations(source: FileSource) -> list[object]:
    return [obs for batch in source.batches() for obs in batch]


def _mixed_frames() -> list[bytes]:
    """What a segment carries: handshakes, data, probes, ARP, DNS; only some of it matters to the detectors."""
    frames = []
    for port in range(1, 40):
        frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 6, tcp(A, B, 40000, port, SYN))))
        frames.append(eth(A_MAC, B_MAC, 0x0800, ipv4(B, A, 6, tcp(B, A, port, 40000, ACK | PSH, payload=b"x" * 100))))
        frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 6, tcp(A, B, 40000, port, ACK, window=501))))
        frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 6, tcp(A, B, 40001, port, FIN, window=1024, options=b""))))
        frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 17, udp(A, B, 5353, 53, b"dns query"))))
        frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 17, udp(A, B, 5353, port))))
        frames.append(eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 6, tcp(A, B, 40002, port, SYN)), vlan=20))
    frames.append(eth("ff:ff:ff:ff:ff:ff", A_MAC, 0x0806, arp(1, A_MAC, A, "00:00:00:00:00:00", B)))
    return frames


def test_filter_and_decoder_agree_with_tcpdump(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pcap"
    with PcapWriter(path) as writer:
        for i, frame in enumerate(_mixed_frames()):
            writer.write(1_800_000_000 + i * 0.01, frame)
    source = FileSource(path, build_filter())
    observations = _observations(source)
    # 39 SYNs + 39 FIN probes + 39 empty UDP probes + 39 tagged SYNs + 1 ARP; data, ACKs and DNS filtered out.
    assert len(observations) == 39 * 4 + 1
    assert source.stats.matched == len(observations)
    if shutil.which("tcpdump"):
        out = subprocess.run(
            ["tcpdump", "-nn", "-r", str(path), build_filter()], capture_output=True, text=True, check=True
        ).stdout
        assert len(out.splitlines()) == source.stats.matched


def test_pcapng_is_read_like_pcap(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pcapng"
    with PcapngWriter(path) as writer:
        for i, frame in enumerate(_mixed_frames()):
            writer.write(1_800_000_000 + i * 0.01, frame)
    observations = _observations(FileSource(path, build_filter()))
    assert len(observations) == 39 * 4 + 1
    first = observations[0]
    assert isinstance(first, ConnectionAttempt)
    assert first.ts == pytest.approx(1_800_000_000.0)


def test_real_capture_counts_match_tcpdump(lab_pcaps: Path) -> None:
    path = lab_pcaps / "nmap_sS_1-1000.pcap"
    source = FileSource(path, build_filter())
    observations = _observations(source)
    expected = subprocess.run(
        ["tcpdump", "-nn", "-r", str(path), build_filter()], capture_output=True, text=True, check=True
    ).stdout.count("\n")
    assert source.stats.matched == expected
    syns = [o for o in observations if isinstance(o, ConnectionAttempt) and o.flags == SYN]
    assert len(syns) == 1001  # ports 1-1000 and 6000, as nmap was asked
    assert source.stats.malformed == 0


def test_reader_process_gives_the_same_result_as_in_process(lab_pcaps: Path) -> None:
    path = lab_pcaps / "scan_hping3_flood_S_p6000.pcap"
    local = _observations(FileSource(path, build_filter()))
    forked = _observations(FileSource(path, build_filter(), parallel_min_bytes=1))
    assert local == forked
    assert len(local) == 10_000


@pytest.mark.parametrize("parallel", [False, True])
def test_truncated_capture_keeps_every_packet_before_the_damage(
    lab_pcaps: Path, tmp_path: Path, parallel: bool
) -> None:
    original = (lab_pcaps / "nmap_sS_1-1000.pcap").read_bytes()
    damaged = tmp_path / "cut.pcap"
    damaged.write_bytes(original[:100_000])
    source = FileSource(damaged, build_filter(), parallel_min_bytes=1 if parallel else 1 << 40)
    observations = _observations(source)
    tcpdump = subprocess.run(["tcpdump", "-nn", "-r", str(damaged), build_filter()], capture_output=True, text=True)
    assert "truncated" in tcpdump.stderr
    assert len(observations) == tcpdump.stdout.count("\n")
    assert source.stats.errors
    assert "damaged or truncated" in source.stats.errors[0]


@pytest.mark.parametrize("parallel", [False, True])
def test_damaged_record_header_in_a_truncated_capture_is_skipped_with_a_message(
    lab_pcaps: Path, tmp_path: Path, parallel: bool
) -> None:
    """A mutated copy of a real capture once ended in ``struct.error`` here: a record header whose time stamp has
    the top bit set (libpcap hands it over as a negative number), then a cut that sends the reading into
    recovery. The damaged record is skipped and counted; every sound packet before the cut is delivered."""
    original = (lab_pcaps / "nmap_sS_1-1000.pcap").read_bytes()
    records, pos = [], 24
    while pos + 16 <= len(original):
        caplen = struct.unpack_from("<I", original, pos + 8)[0]
        records.append(original[pos : pos + 16 + caplen])
        pos += 16 + caplen
    damaged_at = 700
    bad = bytearray(records[damaged_at])
    bad[3] |= 0x80  # seconds field: 0x8... read as a negative time stamp
    body = b"".join(records[:damaged_at]) + bytes(bad) + b"".join(records[damaged_at + 1 : 900])
    path = tmp_path / "damaged.pcap"
    path.write_bytes(original[:24] + body + records[900][:30])  # and cut inside the next record
    source = FileSource(path, build_filter(), parallel_min_bytes=1 if parallel else 1 << 40)
    observations = _observations(source)
    matching = subprocess.run(
        ["tcpdump", "-nn", "-r", str(path), build_filter()], capture_output=True, text=True
    ).stdout.count("\n")
    assert len(observations) == source.stats.matched == matching - 1  # all but the damaged record
    assert len(source.stats.errors) == 1
    assert "1 damaged packet records skipped" in source.stats.errors[0]
    assert "damaged or truncated" in source.stats.errors[0]


def test_garbage_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.pcap"
    garbage.write_text("this is not a capture\n")
    with pytest.raises(CaptureError, match="not a readable pcap or pcapng file"):
        _observations(FileSource(garbage, build_filter()))
    with pytest.raises(CaptureError, match=r"no such capture file|cannot read"):
        _observations(FileSource(tmp_path / "missing.pcap", build_filter()))


def test_masscan_capture_with_vlan_tags(shared_data: Path) -> None:
    path = shared_data / "pcap" / "esnet-curated" / "attacks" / "scanners" / "masscan" / "tcp_0_1000_20190821.pcap"
    observations = _observations(FileSource(path, build_filter()))
    attempts = [o for o in observations if isinstance(o, ConnectionAttempt)]
    assert {o.vlan for o in attempts} == {943}
    assert len({o.dst_port for o in attempts}) == 1001


def test_filter_variants_compile(tmp_path: Path) -> None:
    path = tmp_path / "one.pcap"
    with PcapWriter(path) as writer:
        writer.write(1.0, eth(B_MAC, A_MAC, 0x0800, ipv4(A, B, 6, tcp(A, B, 1, 2, SYN))))
    for kwargs in ({}, {"udp": False}, {"ipv6": False}, {"vlan": False}, {"arp": False}):
        assert len(_observations(FileSource(path, build_filter(**kwargs)))) == 1
