"""snmp-port blocking against a simulated switch (snmpsim serving a recorded walk, writable ifAdminStatus):
SNMPv2c and SNMPv3 authPriv; a MAC on an access port is blocked then released; an uplink, a protected port, a port
with two devices, a registered terminal and a medical segment are refused; dry run changes nothing; the quarantine
VLAN moves the port and puts it back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.blocking import BlockManager, MemoryBook
from mamori.config import SnmpPortAction, settings_from_text
from mamori.model import Alert, Severity
from mamori.testing import FakeClock
from tests.integration.snmp_agent import Agent, admin_status, pvid, simulated_switch

STRANGER = "02:4b:00:00:00:66"  # alone on Gi1/0/5
Q_ONLY = "02:4b:00:00:00:67"  # on Gi1/0/6, learned in Q-BRIDGE-MIB only
PROTECTED = "02:4b:00:00:00:77"  # on Gi1/0/7 (protect list)
HUB = "02:4b:00:00:00:91"  # one of two on Gi1/0/9
BEYOND_UPLINK = "02:4b:00:00:01:01"  # learned through Gi1/0/25 (the uplink)
REGISTERED = "02:4b:00:00:00:12"

SITE = """
systems:
  - name: 電子カルテ
    servers: [{ip: 10.75.0.2, mac: "02:4b:00:00:00:02"}]
    ports: [443]
    terminals: [{name: 外来1, mac: "02:4b:00:00:00:12", ip: 10.75.0.12}]
segments:
  - {name: office, cidrs: [10.75.0.0/24], zone: sz}
  - {name: pumps, cidrs: [10.76.0.0/24], zone: medical}
"""


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    with simulated_switch(tmp_path_factory.mktemp("switch")) as running:
        yield running


def _manager(agent: Agent, version: str, extra: str = "") -> tuple[BlockManager, SnmpPortAction, FakeClock]:
    settings = settings_from_text(SITE + agent.switch_yaml(version, extra=extra) + _ACTION, source="site.yaml")
    clock = FakeClock(1_800_000_000.0)
    action = settings.actions[0]
    assert isinstance(action, SnmpPortAction)
    return BlockManager(settings.site, MemoryBook(), clock=clock), action, clock


_ACTION = "actions:\n  - {name: shut-port, type: snmp-port}\n"


def _alert(mac: str, ip: str = "10.75.0.66", severity: Severity = Severity.HIGH) -> Alert:
    return Alert(
        uid=f"u-{mac}", rule="unregistered-terminal", key=mac, severity=severity, first_seen=1.0, last_seen=1.0,
        count=1, src_mac=mac, src_ip=ip, dst_ip="10.75.0.2", dst_port=443, system="電子カルテ",
    )  # fmt: skip


@pytest.mark.parametrize("version", ["2c", "3"])
def test_a_stranger_on_an_access_port_is_shut_then_released(agent: Agent, version: str) -> None:
    manager, action, _ = _manager(agent, version)
    assert admin_status(agent, 5) == 1
    record = manager.block_port(_alert(STRANGER), action)
    assert record.state == "active", record
    assert record.place == "floor2-access Gi1/0/5 (ifIndex 5)"
    assert record.port_descr == "2F exam room 3"
    assert admin_status(agent, 5) == 2
    released = manager.release(record.id, "admin")
    assert released is not None and released.state == "released" and released.released_by == "admin"
    assert admin_status(agent, 5) == 1


def test_a_mac_known_only_to_q_bridge_is_found(agent: Agent) -> None:
    manager, action, _ = _manager(agent, "3")
    record = manager.block_port(_alert(Q_ONLY, "10.75.0.67"), action)
    assert record.state == "active" and "Gi1/0/6" in record.place
    assert admin_status(agent, 6) == 2
    manager.release(record.id, "admin")
    assert admin_status(agent, 6) == 1


@pytest.mark.parametrize(
    ("mac", "reason", "if_index"),
    [(BEYOND_UPLINK, "uplink", 25), (PROTECTED, "protected", 7), (HUB, "too-many-macs", 9)],
)
def test_uplinks_protected_ports_and_shared_ports_are_never_shut(
    agent: Agent, mac: str, reason: str, if_index: int
) -> None:
    manager, action, _ = _manager(agent, "2c")
    record = manager.block_port(_alert(mac, "10.75.0.90"), action)
    assert (record.state, record.reason) == ("refused", reason)
    assert admin_status(agent, if_index) == 1


def test_a_registered_terminal_and_a_medical_segment_are_never_blocked(agent: Agent) -> None:
    manager, action, _ = _manager(agent, "2c")
    registered = manager.block_port(_alert(REGISTERED, "10.75.0.12"), action)
    assert (registered.state, registered.reason) == ("refused", "registered")
    medical = manager.block_port(_alert(STRANGER, "10.76.0.9"), action)
    assert (medical.state, medical.reason) == ("refused", "medical")
    low = manager.block_port(_alert(STRANGER, severity=Severity.MEDIUM), action)
    assert (low.state, low.reason) == ("refused", "not-allowed")
    assert admin_status(agent, 1) == 1 and admin_status(agent, 5) == 1


def test_dry_run_records_and_changes_nothing(agent: Agent) -> None:
    manager, action, clock = _manager(agent, "2c", extra="blocking: {dry_run: true, release_after: 10m}\n")
    record = manager.block_port(_alert(STRANGER), action)
    assert record.state == "dry-run" and "Gi1/0/5" in record.place
    assert admin_status(agent, 5) == 1
    clock.advance(601)
    manager.check()
    assert manager.book.active() == []


def test_the_timer_releases_and_the_quarantine_vlan_is_restored(agent: Agent) -> None:
    extra = "    quarantine_vlan: 999\nblocking: {release_after: 30m}\n"
    manager, action, clock = _manager(agent, "3", extra=extra)
    record = manager.block_port(_alert(STRANGER), action)
    assert record.state == "active", record
    assert pvid(agent, 5) == 999 and admin_status(agent, 5) == 1
    clock.advance(1799)
    manager.check()
    assert pvid(agent, 5) == 999
    clock.advance(2)
    manager.check()
    assert pvid(agent, 5) == 10
    assert manager.book.active() == []


def test_a_wrong_key_is_a_failure_that_says_so(agent: Agent, tmp_path: Path) -> None:
    manager, action, _ = _manager(agent, "3")
    switch = manager.site.switches[0]
    bad = tmp_path / "bad.key"
    bad.write_text("not-the-key-at-all\n")
    bad.chmod(0o600)
    import dataclasses

    wrong = dataclasses.replace(switch, snmp=dataclasses.replace(switch.snmp, auth_key_file=str(bad)))
    manager.update_site(dataclasses.replace(manager.site, switches=(wrong,)))
    record = manager.block_port(_alert(STRANGER), action)
    assert (record.state, record.reason) == ("failed", "snmp-error")
    assert "floor2-access" in record.detail
    assert admin_status(agent, 5) == 1
