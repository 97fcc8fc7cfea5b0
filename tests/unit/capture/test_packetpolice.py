"""Packet Police CSV logs: parsed into the same observations as packets, bad lines counted, encodings."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest

from mamori.capture.packetpolice import PacketPoliceSource, looks_like_packet_police
from mamori.model import ACK, FIN, PSH, RST, SYN, ConnectionAttempt, PortResponse

JST = zoneinfo.ZoneInfo("Asia/Tokyo")

# A line shaped like the documented example of the format, and lines for a connection to TCP 6000.
EXAMPLE = (
    "2012-10-20,04:24:21.431,-,-,BCAEC57D281D,000944917380,0x0800,635,TCP_DATAv4,PSH+ACK,27.121.46.57,10270,"
    "210.148.86.3,http(80),2758859093,909024417,WindowSize=16425 HttpMethod=GET HttpUrl=http://example.jp/a,b"
)
LOG = (
    EXAMPLE
    + """
2017-08-16,10:00:00.125,-,-,02660000BEEF,024200000011,0x0800,66,TCP_CONNECTv4,SYN,10.77.0.200,50123,10.77.0.11,6000,1,0,WindowSize=64240
2017-08-16,10:00:00.126,-,-,024200000011,02660000BEEF,0x0800,66,TCP_CONNECTv4,SYN+ACK,10.77.0.11,6000,10.77.0.200,50123,9,2,WindowSize=65160
2017-08-16,10:00:00.127,-,-,02660000BEEF,024200000011,0x0800,54,TCP_DISCONNECTv4,RST,10.77.0.200,50123,10.77.0.11,6000,2,0,WindowSize=0
2017-08-16,10:00:01.000,-,-,02660000BEEF,024200000011,0x0800,54,TCP_DATAv4,FIN,10.77.0.200,50124,10.77.0.11,http(80),2,0,WindowSize=1024
2017-08-16,10:00:02.000,-,-,02660000BEEF,024200000011,0x0800,60,UDPv4,-,10.77.0.200,53000,10.77.0.11,domain(53),-,-,
"""
)


def _read(path: Path, **kw: object) -> tuple[PacketPoliceSource, list[object]]:
    source = PacketPoliceSource(path, **kw)  # type: ignore[arg-type]
    return source, [o for batch in source.batches() for o in batch]


def test_lines_become_the_observations_a_capture_would_give(tmp_path: Path) -> None:
    path = tmp_path / "20170816.log"
    path.write_text(LOG, encoding="utf-8")
    source, observations = _read(path, timezone=JST)
    syn, synack, rst, fin = observations
    stamp = dt.datetime(2017, 8, 16, 10, 0, 0, 125000, tzinfo=JST).timestamp()
    assert syn == ConnectionAttempt(
        stamp, "02:66:00:00:be:ef", "02:42:00:00:00:11", "10.77.0.200", "10.77.0.11", "tcp", 50123, 6000, SYN, 0
    )
    assert isinstance(synack, PortResponse) and synack.kind == "synack"
    assert isinstance(rst, PortResponse) and rst.kind == "rst"
    assert isinstance(fin, ConnectionAttempt) and (fin.flags, fin.dst_port) == (FIN, 80)
    assert source.stats.matched == 6 and source.stats.malformed == 0


def test_malformed_lines_are_counted_with_their_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    lines = LOG.splitlines()
    lines.insert(2, "2017-08-16,10:00:00.200,-,-,02660000BEEF")  # cut short
    lines.insert(
        3,
        "2017-08-16,10:00:00.300,-,-,02660000BEEF,024200000011,0x0800,66,TCP_CONNECTv4,SYN+WHAT,"
        "10.77.0.200,1,10.77.0.11,6000,1,0,",
    )
    lines.insert(
        4,
        "2017-08-16,25:61:00.000,-,-,02660000BEEF,024200000011,0x0800,66,TCP_CONNECTv4,SYN,"
        "10.77.0.200,1,10.77.0.11,6000,1,0,",
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source, observations = _read(path, timezone=JST)
    assert len(observations) == 4  # the good lines are all still read
    assert source.stats.malformed == 3
    reasons = " ".join(source.stats.problems)
    assert "line 3: 5 fields" in reasons and "line 4:" in reasons and "TCP flag 'WHAT'" in reasons
    assert "line 5:" in reasons


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig"])
def test_shift_jis_and_utf8_bom_logs(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "jp.log"
    japanese = LOG.replace("WindowSize=64240", "WindowSize=64240 プロセス=透析クライアント.exe")
    path.write_bytes(japanese.encode(encoding))
    assert looks_like_packet_police(path.read_bytes()[:64])
    _source, observations = _read(path, timezone=JST)
    assert len(observations) == 4


def test_sniffing_tells_logs_from_captures(lab_pcaps: Path) -> None:
    assert looks_like_packet_police(LOG.encode()[:64])
    assert not looks_like_packet_police((lab_pcaps / "nmap_sS_1-1000.pcap").read_bytes()[:64])
    assert not looks_like_packet_police(b"date,time,src\n")


def test_flags_names() -> None:
    from mamori.capture.packetpolice import _flags

    assert _flags("PSH+ACK") == PSH | ACK
    assert _flags("RST+ACK") == RST | ACK
    assert _flags("-") == 0
