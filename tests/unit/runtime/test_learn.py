"""Learning mode on observations: who connected to which system, how often, from which IPs; known terminals; routed
terminals by IP; sources that scanned while learning; bounded memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.config import Settings
from mamori.model import ACK, SYN
from mamori.runtime import Learner, SystemSummary, summarize
from tests.conftest import make_settings
from tests.unit.detection.helpers import ROUTER, SITE, STRANGER, TERMINAL, arp_claim, syn, synack

T0 = 1_800_000_000.0
LAB_SERVER = "10.77.0.21"
NEW_PC = ("02:42:00:00:00:51", "10.77.0.51")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(SITE, tmp_path)


def test_proposes_each_source_per_system(settings: Settings) -> None:
    learner = Learner(settings.site)
    learner.feed(
        [
            syn(T0, NEW_PC),
            synack(T0 + 0.001, NEW_PC[1], 40000),  # answers are not attempts
            syn(T0 + 1, NEW_PC, flags=SYN | ACK),  # nor is a SYN-ACK from the client side
            syn(T0 + 10, (NEW_PC[0], "10.77.0.52")),
            syn(T0 + 20, NEW_PC),
            syn(T0 + 30, NEW_PC, 443, LAB_SERVER),
            syn(T0 + 40, NEW_PC, 8080, LAB_SERVER),
            syn(T0 + 50, NEW_PC, 22, LAB_SERVER),  # not a service port of the system
            syn(T0 + 60, NEW_PC, 6000, "10.77.0.99"),  # not a protected server
        ]
    )
    dialysis, lab = learner.proposals()
    assert (dialysis.system, dialysis.mac, dialysis.connections) == ("透析システム", NEW_PC[0], 3)
    assert dialysis.ips == ((NEW_PC[1], 2), ("10.77.0.52", 1))
    assert dialysis.ip is None  # several IPs: the operator decides
    assert (dialysis.first_seen, dialysis.last_seen, dialysis.ports) == (T0, T0 + 20, (6000,))
    assert not dialysis.known and dialysis.registered is None and not dialysis.via_router
    assert (lab.system, lab.connections, lab.ports, lab.ip) == ("検査システム", 2, (443, 8080), NEW_PC[1])
    assert learner.syns == 5
    assert summarize(settings.site, learner.proposals()) == [
        SystemSummary("透析システム", 1, 0),
        SystemSummary("検査システム", 1, 0),
    ]


def test_known_terminals_and_registered_macs_with_another_ip(settings: Settings) -> None:
    learner = Learner(settings.site)
    learner.feed(
        [
            syn(T0, TERMINAL),
            syn(T0 + 1, ("02:42:00:00:00:03", "10.77.0.77")),  # roaming-pc: any IP
            syn(T0 + 2, (TERMINAL[0], "10.77.0.88")),  # dialysis-pc-1 with another IP
            syn(T0 + 3, ("02:42:00:00:00:04", "10.20.0.5")),  # vpn-admin, at its registered IP
        ]
    )
    by_mac = {p.mac: p for p in learner.proposals()}
    assert by_mac["02:42:00:00:00:03"].known
    assert by_mac["02:42:00:00:00:04"].known
    moved = by_mac[TERMINAL[0]]
    assert not moved.known
    assert (moved.registered, moved.registered_ip) == ("dialysis-pc-1", TERMINAL[1])
    assert summarize(settings.site, learner.proposals())[0] == SystemSummary("透析システム", 1, 2)


def test_routed_sources_are_proposed_by_ip(settings: Settings) -> None:
    learner = Learner(settings.site)
    learner.feed(
        [
            syn(T0, (ROUTER[0], "10.30.0.7")),
            syn(T0 + 5, (ROUTER[0], "10.30.0.7")),
            syn(T0 + 6, (ROUTER[0], "10.30.0.8")),
            syn(T0 + 7, (ROUTER[0], "10.20.0.5")),  # vpn-admin's registered IP: known through the router too
            syn(T0 + 8, (None, "10.30.0.9")),  # a source without a link layer
        ]
    )
    proposals = learner.proposals()
    assert [(p.mac, p.ips, p.gateway, p.known) for p in proposals] == [
        ("", (("10.20.0.5", 1),), "core-router", True),
        ("", (("10.30.0.7", 2),), "core-router", False),
        ("", (("10.30.0.8", 1),), "core-router", False),
        ("", (("10.30.0.9", 1),), None, False),
    ]
    assert all(p.via_router for p in proposals)
    assert proposals[1].ip == "10.30.0.7"


def test_a_source_that_scans_while_learning_is_flagged(settings: Settings) -> None:
    learner = Learner(settings.site, settings)
    batch = [syn(T0 + i * 0.01, STRANGER, port, sport=50000) for i, port in enumerate(range(1, 200))]
    batch += [syn(T0 + 5, STRANGER), syn(T0 + 6, NEW_PC)]
    learner.feed(batch)
    learner.finish()
    by_mac = {p.mac: p for p in learner.proposals()}
    assert by_mac[STRANGER[0]].flagged == ("port-scan",)
    assert by_mac[NEW_PC[0]].flagged == ()


def test_flags_name_the_attacker_not_the_victim(settings: Settings) -> None:
    learner = Learner(settings.site, settings)
    routed_scanner = (ROUTER[0], "10.30.0.66")
    ports = [*range(1, 200), 6000]
    batch = [syn(T0 + i * 0.01, routed_scanner, port, sport=50000) for i, port in enumerate(ports)]
    batch += [arp_claim(T0 + 3, STRANGER[0], TERMINAL[1], gratuitous=True)]  # the stranger claims the PC's IP
    batch += [syn(T0 + 4, STRANGER), syn(T0 + 5, (ROUTER[0], TERMINAL[1]), 443, LAB_SERVER)]
    learner.feed(batch)
    learner.finish()
    flags = {(p.system, p.mac or p.ips[0][0]): p.flagged for p in learner.proposals()}
    assert flags == {
        ("透析システム", STRANGER[0]): ("ip-mac-conflict",),
        ("透析システム", "10.30.0.66"): ("port-scan",),
        ("検査システム", TERMINAL[1]): (),  # the victim's IP, reached through the router, is not blamed
    }


def test_memory_is_bounded(settings: Settings) -> None:
    learner = Learner(settings.site, max_sources=10, max_ips=3, max_ports=2)
    learner.feed([syn(T0 + i, (ROUTER[0], f"10.40.{i // 250}.{i % 250 + 1}")) for i in range(100)])
    learner.feed([syn(T0 + 200 + i, (NEW_PC[0], f"10.77.1.{i + 1}"), 443, LAB_SERVER) for i in range(5)])
    assert learner.sources == 10
    assert learner.dropped == 95
    learner = Learner(settings.site, max_ips=3, max_ports=1)
    learner.feed(
        [syn(T0 + i, (NEW_PC[0], f"10.77.1.{i % 5 + 1}"), 443 if i % 2 else 8080, LAB_SERVER) for i in range(10)]
    )
    (p,) = learner.proposals()
    assert p.connections == 10
    assert [ip for ip, _ in p.ips] == ["10.77.1.1", "10.77.1.2", "10.77.1.3"]
    assert p.ports == (8080,)
