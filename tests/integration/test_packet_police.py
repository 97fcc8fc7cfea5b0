"""A Packet Police log gives the same alerts as the pcap of the same packets (the Toyama design's logs, re-analysed)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

from mamori.model import ACK, RST, SYN
from mamori.testing.packetpolice import packet_police_line
from mamori.testing.pcapbuilder import PcapWriter, eth, ipv4, tcp
from tests.integration.conftest import json_lines, run_mamori

JST = zoneinfo.ZoneInfo("Asia/Tokyo")
SERVER = ("02:42:00:00:00:11", "10.77.0.11")
TERMINAL = ("02:42:00:00:00:12", "10.77.0.12")
STRANGER = ("02:66:00:00:be:ef", "10.77.0.200")

SITE = f"""
capture: {{log_timezone: Asia/Tokyo}}
systems:
  - name: 透析システム
    servers: [{{ip: {SERVER[1]}, mac: "{SERVER[0]}"}}]
    ports: [6000]
    terminals:
      - {{name: dialysis-pc-1, mac: "{TERMINAL[0]}", ip: {TERMINAL[1]}}}
"""


def _packets() -> list[tuple[float, tuple[str, str], tuple[str, str], int, int, int]]:
    """(time, from, to, sport, dport, flags): a registered session, a stranger's tries, a stranger's scan."""
    start = dt.datetime(2017, 8, 16, 10, 0, tzinfo=JST).timestamp()
    packets = []
    for i in range(3):  # the registered terminal: SYN, SYN-ACK, ACK
        t = start + i * 60
        packets += [
            (t, TERMINAL, SERVER, 50000 + i, 6000, SYN),
            (t + 0.001, SERVER, TERMINAL, 6000, 50000 + i, SYN | ACK),
            (t + 0.002, TERMINAL, SERVER, 50000 + i, 6000, ACK),
        ]
    for i in range(4):  # the stranger tries the application four times; its kernel resets the answers
        t = start + 300 + i * 10
        packets += [
            (t, STRANGER, SERVER, 40000 + i, 6000, SYN),
            (t + 0.001, SERVER, STRANGER, 6000, 40000 + i, SYN | ACK),
            (t + 0.002, STRANGER, SERVER, 40000 + i, 6000, RST),
        ]
    for port in range(1, 31):  # and then SYN-scans 30 ports (closed ones answer RST+ACK)
        t = start + 400 + port * 0.05
        packets += [(t, STRANGER, SERVER, 41000, port, SYN), (t + 0.001, SERVER, STRANGER, port, 41000, RST | ACK)]
    return packets


def test_packet_police_log_gives_the_same_alerts_as_the_pcap(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    pcap = tmp_path / "server.pcap"
    log = tmp_path / "PacketPolice_log" / "Intel(R) Ethernet" / "20170816.log"
    log.parent.mkdir(parents=True)
    lines = []
    with PcapWriter(pcap) as writer:
        for ts, (s_mac, s_ip), (d_mac, d_ip), sport, dport, flags in _packets():
            # A terminal's connect() sends full options; the scan's raw SYNs only an MSS (as nmap -sS does). A log
            # line has no header length, so from a log every SYN probe counts as a raw "syn" scan.
            raw_scan = flags == SYN and sport == 41000
            options = bytes.fromhex("020405b4") if raw_scan else (None if flags == SYN else b"")
            writer.write(
                ts,
                eth(d_mac, s_mac, 0x0800, ipv4(s_ip, d_ip, 6, tcp(s_ip, d_ip, sport, dport, flags, options=options))),
            )
            lines.append(packet_police_line(ts, JST, s_mac, d_mac, s_ip, sport, d_ip, dport, flags))
    log.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))  # as Japanese Windows writes it

    def alerts(capture: Path) -> list[tuple[object, ...]]:
        found = json_lines(run_mamori("analyze", "--config", str(site), "--json", "--no-store", str(capture)).stdout)
        return sorted(
            (
                a["rule"],
                a["src_mac"],
                a["src_ip"],
                a["dst_ip"],
                a["system"],
                a["count"],
                a["first_seen"],
                a["last_seen"],
                a.get("scan_type"),
            )
            for a in found
        )

    from_pcap = alerts(pcap)
    from_log = alerts(log)
    assert from_log == from_pcap
    assert [a[0] for a in from_log] == ["port-scan", "unregistered-terminal"]
    stranger = next(a for a in from_log if a[0] == "unregistered-terminal")
    assert stranger[1:3] == STRANGER and stranger[5] == 4
