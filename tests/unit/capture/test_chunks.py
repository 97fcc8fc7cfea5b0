"""A large pcap read in parts by several libpcap processes (mamori.capture.chunks): the parts begin where records
begin, and whatever the file holds (real captures, cut or damaged copies, pcapng) the packets, their order, the
counts and the damage report are exactly those of one reader."""

from __future__ import annotations

import itertools
import random
import struct
from pathlib import Path

import pytest

from mamori.capture import FileSource, build_filter
from mamori.capture.chunks import Part, split_file


def record_starts(path: Path) -> set[int]:
    data = path.read_bytes()
    starts, offset = set(), 24
    while offset + 16 <= len(data):
        starts.add(offset)
        offset += 16 + struct.unpack_from("<I", data, offset + 8)[0]
    return starts


def read(path: Path, readers: int) -> tuple[list[object], FileSource]:
    source = FileSource(path, build_filter(), parallel_min_bytes=1 if readers > 1 else 1 << 62, readers=readers)
    observations = [obs for batch in source.batches() for obs in batch]
    return observations, source


def test_parts_begin_where_records_begin_and_cover_the_file(lab_pcaps: Path) -> None:
    for path in sorted(lab_pcaps.glob("*.pcap")):
        header, parts = split_file(path, 4)
        assert header == path.read_bytes()[:24]
        assert len(parts) == 4, path.name
        assert parts[0].start == 24 and parts[-1].end == path.stat().st_size
        assert all(a.end == b.start for a, b in itertools.pairwise(parts))
        assert {p.start for p in parts} <= record_starts(path), path.name


@pytest.mark.parametrize("readers", [2, 3, 5])
def test_reading_in_parts_gives_what_one_reader_gives(shared_data: Path, readers: int) -> None:
    captures = sorted(shared_data.glob("pcap/**/*.pcap"))
    assert len(captures) >= 10
    for path in captures:
        one, single = read(path, 1)
        many, parts = read(path, readers)
        assert many == one, path.name
        assert parts.stats.matched == single.stats.matched and parts.stats.errors == single.stats.errors
        assert parts.stats.readers in (readers, 1)  # a file of a single record is read in one piece


def test_cut_and_damaged_copies_report_exactly_what_one_reader_reports(lab_pcaps: Path, tmp_path: Path) -> None:
    original = (lab_pcaps / "scan_hping3_flood_S_p6000.pcap").read_bytes()
    rng = random.Random(20261205)
    damaged = 0
    for n in range(40):
        data = bytearray(original)
        at = rng.randrange(24, len(data))
        if n % 4 == 0:
            del data[at:]  # cut mid-file (a copy made while the capture was written)
        elif n % 4 == 1:
            data[at : at + 8] = rng.randbytes(8)  # garbage over a record
        elif n % 4 == 2:
            del data[at : at + rng.randrange(1, 64)]
        else:
            data[at:at] = rng.randbytes(rng.randrange(1, 64))
        path = tmp_path / f"damaged-{n}.pcap"
        path.write_bytes(bytes(data))
        one, single = read(path, 1)
        many, parts = read(path, 4)
        assert many == one, n
        assert (parts.stats.matched, parts.stats.malformed, parts.stats.errors) == (
            single.stats.matched,
            single.stats.malformed,
            single.stats.errors,
        ), n
        damaged += bool(single.stats.errors)
    assert damaged >= 10  # most copies really are damaged


def test_a_part_that_does_not_begin_at_a_record_falls_back_to_one_reader(lab_pcaps: Path, tmp_path: Path) -> None:
    """Had the search been fooled (a payload that looks like record headers), the part before ends with libpcap's
    complaint about a truncated record and the file is read again in one piece, past what was delivered."""
    path = lab_pcaps / "nmap_sS_1-1000.pcap"
    header, parts = split_file(path, 2)
    wrong = [Part(parts[0].start, parts[0].end + 5), Part(parts[1].start + 5, parts[1].end)]
    source = FileSource(path, build_filter(), parallel_min_bytes=1, readers=2)
    from mamori.capture.chunks import PartReaders

    source._reader = PartReaders(path, build_filter(), header, wrong)  # as start() would have begun it
    many = [obs for batch in source.batches() for obs in batch]
    one, single = read(path, 1)
    assert many == one and source.stats.matched == single.stats.matched and source.stats.errors == []


def test_files_that_are_not_classic_pcap_are_one_part(tmp_path: Path, lab_pcaps: Path) -> None:
    pcapng = tmp_path / "x.pcapng"
    pcapng.write_bytes(bytes.fromhex("0a0d0d0a") + bytes(60))
    assert split_file(pcapng, 4)[1] == [Part(24, 64)]
    noise = tmp_path / "noise.pcap"
    noise.write_bytes((lab_pcaps / "nmap_sS_1-1000.pcap").read_bytes()[:40] + random.Random(1).randbytes(4_000_000))
    assert len(split_file(noise, 4)[1]) == 1  # no record start can be made sure of: one part
