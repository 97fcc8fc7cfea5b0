"""syn-flood: a SYN storm to one server without completed handshakes, counted SYN by SYN."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mamori.capture import FileSource, build_filter
from mamori.detection import Engine
from mamori.model import SYN
from mamori.rules.render import summary
from tests.conftest import LAB_SITE, make_settings
from tests.unit.detection.helpers import SERVER, SITE, STRANGER, TERMINAL, client_rst, syn, synack


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    settings = make_settings(SITE, tmp_path)
    return Engine(settings.site, settings.detection)


def floods(engine: Engine) -> list:
    engine.finish()
    return [a for a in engine.collect_changes() if a.rule == "syn-flood"]


def test_real_hping3_flood_counts_every_syn(lab_pcaps: Path, tmp_path: Path) -> None:
    path = lab_pcaps / "scan_hping3_flood_S_p6000.pcap"
    settings = make_settings(LAB_SITE, tmp_path)
    engine = Engine(settings.site, settings.detection)
    for batch in FileSource(path, build_filter()).batches():
        engine.feed(batch)
    (alert,) = floods(engine)
    syns = subprocess.run(
        ["tcpdump", "-nn", "-r", str(path), "tcp[13] & 0x12 == 2"], capture_output=True, text=True, check=True
    ).stdout.count("\n")
    assert alert.count == syns == 3334
    assert alert.dst_ip == "10.231.0.2"
    assert alert.system == "透析システム"
    assert alert.details["incomplete_ratio"] == 1.0  # every SYN-ACK was reset by the flooder's kernel
    assert alert.details["ports"] == [6000]


def test_flood_raised_by_incomplete_handshakes(engine: Engine) -> None:
    batch = []
    for i in range(2000):
        ts = 1000.0 + i * 0.0005
        batch += [syn(ts, STRANGER, sport=1024 + i, hlen=20), synack(ts + 1e-5, STRANGER[1], 1024 + i)]
        batch.append(client_rst(ts + 2e-5, STRANGER[1], 1024 + i))
    engine.feed(batch)
    (alert,) = floods(engine)
    assert alert.count == 2000
    assert alert.details["handshakes_answered"] == 2000
    assert alert.details["handshakes_refused"] == 2000
    assert "SYN フラッド" in summary(alert, "ja")


def test_spoofed_random_sources_are_a_flood_even_when_the_server_answers(engine: Engine) -> None:
    batch = []
    for i in range(3000):
        src = f"172.16.{i >> 8}.{i & 255}"
        ts = 1000.0 + i * 0.0001
        batch += [syn(ts, (STRANGER[0], src), sport=2000 + i, hlen=20), synack(ts + 1e-5, src, 2000 + i)]
    engine.feed(batch)
    (alert,) = floods(engine)
    assert alert.count == 3000
    assert alert.details["spoofed_sources"] is True
    assert alert.details["distinct_sources"] >= 2000


def test_busy_legitimate_clients_are_not_a_flood(engine: Engine) -> None:
    batch = []
    for i in range(3000):  # 600 connections per second from one registered terminal, all completed
        ts = 1000.0 + i / 600
        batch += [syn(ts, TERMINAL, sport=10000 + i), synack(ts + 0.0002, TERMINAL[1], 10000 + i)]
    engine.feed(batch)
    assert floods(engine) == []


def test_a_fast_port_scan_is_not_a_flood(lab_pcaps: Path, tmp_path: Path) -> None:
    settings = make_settings(LAB_SITE, tmp_path)
    engine = Engine(settings.site, settings.detection)
    for batch in FileSource(lab_pcaps / "nmap_sS_1-1000.pcap", build_filter()).batches():
        engine.feed(batch)
    assert floods(engine) == []


def test_the_flood_ends_and_later_syns_are_not_counted(engine: Engine) -> None:
    engine.feed(syn(1000.0 + i * 0.001, STRANGER, sport=i, hlen=20) for i in range(1000))
    engine.feed(syn(1010.0 + i, TERMINAL, sport=i) for i in range(30))  # ordinary traffic afterwards
    engine.feed(syn(1050.0 + i, TERMINAL, sport=i) for i in range(3))
    (alert,) = floods(engine)
    assert alert.count == 1000
    assert alert.last_seen == pytest.approx(1000.999)


def test_a_long_flood_is_one_alert_over_many_windows(engine: Engine) -> None:
    engine.feed(syn(1000.0 + i * 0.002, STRANGER, sport=i & 0xFFFF, hlen=20) for i in range(20_000))  # 40 s
    (alert,) = floods(engine)
    assert alert.count == 20_000


def test_state_is_per_server_and_bounded(tmp_path: Path) -> None:
    settings = make_settings(SITE + "\ndetection: {syn_flood: {max_servers: 50}}\n", tmp_path)
    engine = Engine(settings.site, settings.detection)
    engine.feed(
        syn(1000.0 + i * 1e-4, STRANGER, dst=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", flags=SYN)
        for i in range(100_000)
    )
    assert engine.detector("syn-flood") is not None
    assert len(engine.detector("syn-flood")._servers) <= 50
    assert SERVER  # the protected server is one of many possible targets
