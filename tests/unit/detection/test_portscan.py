"""port-scan: vertical and horizontal scans of every type, nmap's timing templates, bounded state."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.capture import FileSource, build_filter
from mamori.detection import Engine
from mamori.model import ACK, FIN, PSH, SYN, URG, ConnectionAttempt, PortResponse, Severity
from mamori.rules.network import port_ranges
from mamori.rules.render import summary
from tests.conftest import LAB_SITE, make_settings
from tests.unit.detection.helpers import SERVER, SITE, STRANGER, TERMINAL, syn


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    settings = make_settings(SITE, tmp_path)
    return Engine(settings.site, settings.detection)


def scans(engine: Engine) -> list:
    return [a for a in engine.collect_changes() if a.rule == "port-scan"]


def nmap_probe_order(lab_pcaps: Path) -> list[ConnectionAttempt]:
    """The SYN probes of a real `nmap -sS -p 1-1000,6000` in the order nmap sent them."""
    source = FileSource(lab_pcaps / "nmap_sS_1-1000.pcap", build_filter())
    return [o for b in source.batches() for o in b if isinstance(o, ConnectionAttempt)]


# nmap's scan delay between probes per timing template (nmap book, "Timing templates"): -T2 waits 0.4 s; -T3 to
# -T5 have no fixed delay and, on a LAN, send as fast as the link allows (about 48,000 probes/s measured here);
# -T1 waits 15 s.
@pytest.mark.parametrize(("template", "delay"), [("T1", 15.0), ("T2", 0.4), ("T3", 1 / 48_000), ("T5", 1 / 60_000)])
def test_defaults_catch_nmap_default_scan_at_every_timing_template(
    lab_pcaps: Path, engine: Engine, template: str, delay: float
) -> None:
    probes = nmap_probe_order(lab_pcaps)
    start = probes[0].ts
    engine.feed(p._replace(ts=start + i * delay) for i, p in enumerate(probes))
    (alert,) = scans(engine)
    assert alert.details["scan_type"] == "syn", template
    assert alert.details["direction"] == "vertical"
    assert len(alert.details["ports"]) == 1001
    assert alert.count == len(probes)
    assert alert.system == "透析システム" or alert.dst_ip == "10.231.0.2"


@pytest.mark.parametrize(
    ("flags", "hlen", "proto", "expected"),
    [
        (SYN, 24, "tcp", "syn"),
        (SYN, 40, "tcp", "connect"),
        (FIN, 20, "tcp", "fin"),
        (0, 20, "tcp", "null"),
        (FIN | PSH | URG, 20, "tcp", "xmas"),
        (ACK, 20, "tcp", "ack"),
        (0, 0, "udp", "udp"),
    ],
)
def test_scan_type_is_named(engine: Engine, flags: int, hlen: int, proto: str, expected: str) -> None:
    engine.feed(syn(1000.0 + i * 0.01, STRANGER, dport=i, flags=flags, hlen=hlen, proto=proto) for i in range(1, 30))
    (alert,) = scans(engine)
    assert alert.details["scan_type"] == expected
    assert alert.count == 29
    assert alert.details["scan_types"] == {expected: 29}
    # The target is a protected server: high; a stealth technique (crafted flags without SYN) one level more.
    stealthy = expected in ("fin", "null", "xmas", "ack")
    assert alert.severity is (Severity.CRITICAL if stealthy else Severity.HIGH)


LAB_SEQUENCE = (  # one stranger, five techniques over the same ports (../shared/data/pcap/lab/SOURCE.md)
    ("nmap_sS_1-1000.pcap", "syn"),
    ("scan_nmap_sF_1-1000.pcap", "fin"),
    ("scan_nmap_sN_1-1000.pcap", "null"),
    ("scan_nmap_sX_1-1000.pcap", "xmas"),
    ("scan_nmap_sA_1-1000.pcap", "ack"),
)


def test_one_scanner_using_five_techniques_is_one_alert_naming_them_all(lab_pcaps: Path, tmp_path: Path) -> None:
    """nmap -sS, then -sF, -sN, -sX and -sA over the same ports: the later probes hit ports already seen, and their
    techniques used to be lost (``scan_types: {"syn": 1001}``)."""
    settings = make_settings(LAB_SITE, tmp_path)
    engine = Engine(settings.site, settings.detection)
    probes_per_file = []
    for name, _kind in LAB_SEQUENCE:
        probes = [o for b in FileSource(lab_pcaps / name, build_filter()).batches() for o in b]
        probes_per_file.append(sum(1 for o in probes if isinstance(o, ConnectionAttempt)))
        engine.feed(probes)
    (alert,) = scans(engine)
    kinds = [kind for _name, kind in LAB_SEQUENCE]
    assert list(alert.details["scan_types"]) == kinds  # in the order the scanner used them
    ports = len(alert.details["ports"])
    assert ports == 1001
    # Every technique reached (nearly) every port: nmap -sA's capture holds 909 of its probes.
    assert [alert.details["scan_types"][k] for k in kinds] == [1001, 1001, 1001, 1001, 909]
    assert alert.count == sum(probes_per_file)
    assert alert.details["scan_type"] == "syn"  # a tie: the technique used first
    assert "(SYN scan, FIN scan, NULL scan, Xmas scan, ACK scan)" in summary(alert, "en")
    assert "SYN スキャン、FIN スキャン、NULL スキャン、Xmas スキャン、ACK スキャン" in summary(alert, "ja")
    assert alert.severity is Severity.CRITICAL  # a protected server, and stealth techniques


def test_a_new_technique_on_known_ports_counts_before_the_alert_too(engine: Engine) -> None:
    engine.feed(syn(1000.0 + i * 0.01, STRANGER, dport=i, hlen=24, dst="10.77.0.50") for i in range(1, 11))
    engine.feed(syn(1001.0 + i * 0.01, STRANGER, dport=i, flags=FIN, hlen=20, dst="10.77.0.50") for i in range(1, 11))
    assert scans(engine) == []  # ten ports: below the threshold
    engine.feed(syn(1002.0 + i * 0.01, STRANGER, dport=i, flags=FIN, hlen=20, dst="10.77.0.50") for i in range(11, 21))
    (alert,) = scans(engine)
    assert alert.details["scan_types"] == {"syn": 10, "fin": 20}
    assert alert.details["scan_type"] == "fin"
    assert alert.count == 30
    assert alert.severity is Severity.HIGH  # no protected server; the FIN probes raise it from medium
    assert summary(alert, "en").startswith(
        "Port scan (SYN scan, FIN scan): 10.77.0.200 probed 20 ports on 10.77.0.50; 30 probes"
    )


def test_the_same_technique_again_is_not_counted_twice(engine: Engine) -> None:
    for repeat in range(3):  # nmap's retransmissions, or the same scan run again
        engine.feed(syn(1000.0 + repeat + i * 0.001, STRANGER, dport=i, hlen=24) for i in range(1, 101))
    (alert,) = scans(engine)
    assert alert.details["scan_types"] == {"syn": 100}
    assert alert.count == 300
    assert alert.severity is Severity.HIGH
    assert "Port scan (SYN scan):" in summary(alert, "en")


def test_horizontal_sweep_with_two_techniques(engine: Engine) -> None:
    engine.feed(syn(1000.0 + i * 0.01, STRANGER, dport=445, dst=f"10.77.1.{i}", hlen=24) for i in range(1, 31))
    engine.feed(syn(1001.0 + i * 0.01, STRANGER, dport=445, dst=f"10.77.1.{i}", flags=0, hlen=20) for i in range(1, 31))
    (alert,) = scans(engine)
    assert alert.details["direction"] == "horizontal"
    assert alert.details["scan_types"] == {"syn": 30, "null": 30}
    assert summary(alert, "en").startswith(
        "Horizontal port scan (SYN scan, NULL scan): 10.77.0.200 probed port 445 on 30 hosts"
    )
    assert "SYN スキャン、NULL スキャン、横方向" in summary(alert, "ja")
    assert alert.severity is Severity.HIGH


def test_horizontal_scan_of_one_port_on_many_hosts(engine: Engine) -> None:
    engine.feed(syn(1000.0 + i, STRANGER, dport=445, dst=f"10.77.1.{i}", hlen=24) for i in range(1, 31))
    (alert,) = scans(engine)
    assert alert.details["direction"] == "horizontal"
    assert alert.details["ports"] == [445]
    assert len(alert.details["hosts"]) == 30
    assert alert.dst_port == 445
    assert alert.severity is Severity.MEDIUM  # no protected server among the targets
    assert "横方向" in summary(alert, "ja")


def test_ordinary_use_of_several_ports_is_not_a_scan(engine: Engine) -> None:
    ports = [80, 443, 445, 135, 139, 3389, 6000, 49152, 49153, 49154]
    engine.feed(syn(1000.0 + i, TERMINAL, dport=ports[i % len(ports)], sport=40000 + i) for i in range(2000))
    assert scans(engine) == []


def test_slow_probing_outside_the_window_is_not_counted(engine: Engine) -> None:
    # One new port every 20 s: never 20 distinct ports within 300 s.
    engine.feed(syn(1000.0 + i * 20, STRANGER, dport=i + 1, hlen=24) for i in range(100))
    assert scans(engine) == []


def test_authorised_scanner_is_exempt(tmp_path: Path) -> None:
    settings = make_settings(SITE + f"\ndetection: {{port_scan: {{exempt_sources: [{STRANGER[1]}]}}}}\n", tmp_path)
    engine = Engine(settings.site, settings.detection)
    engine.feed(syn(1000.0 + i * 0.01, STRANGER, dport=i, hlen=24) for i in range(1, 200))
    assert scans(engine) == []


def test_thresholds_are_configurable(tmp_path: Path) -> None:
    settings = make_settings(SITE + "\ndetection: {port_scan: {vertical_ports: 5, window: 10s}}\n", tmp_path)
    engine = Engine(settings.site, settings.detection)
    engine.feed(syn(1000.0 + i, STRANGER, dport=i, hlen=24) for i in range(1, 6))
    assert len(scans(engine)) == 1


def test_icmp_unreachable_reveals_udp_probes_that_carried_a_payload(engine: Engine) -> None:
    answers = [
        PortResponse(1000.0 + i * 0.01, "unreachable", "udp", None, SERVER, i, STRANGER[1], 55555) for i in range(1, 40)
    ]
    engine.feed(answers)
    (alert,) = scans(engine)
    assert alert.details["scan_type"] == "udp"
    # Late replies to a well-known source port (e.g. DNS answers after the client gave up) are not probes.
    engine2_answers = [
        PortResponse(2000.0 + i, "unreachable", "udp", None, "10.77.0.50", 40000 + i, "10.77.0.53", 53)
        for i in range(40)
    ]
    engine.feed(engine2_answers)
    assert scans(engine) == []


def test_spoofed_sources_cannot_grow_state_without_limit(tmp_path: Path) -> None:
    settings = make_settings(SITE + "\ndetection: {port_scan: {max_tracked: 1000}}\n", tmp_path)
    engine = Engine(settings.site, settings.detection)
    engine.feed(
        syn(1000.0 + i * 1e-5, ("02:66:00:00:be:ef", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"), hlen=24)
        for i in range(200_000)
    )
    scan = engine.detector("port-scan")
    assert scan is not None
    assert len(scan._pairs) <= 1000
    assert len(scan._fans) <= 1000


def test_port_ranges() -> None:
    assert port_ranges((1, 2, 3, 5, 7, 8)) == "1-3, 5, 7-8"
    assert port_ranges(()) == ""
