"""The sensor writes each block event in the audit log (mamori.storage.audit): a dry run, a refusal with its reason
in both languages, a release with who or what released it; a release failing again and again (retried every few
seconds) is written once per distinct failure. The real SNMP and namespace runs are in tests/integration
(test_blocks_web.py shows these entries on the audit page in a browser). An alert of a rule the site does not block
for is not an entry (every alert reaches the block actions)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mamori.config import ArpIsolateAction, settings_from_text
from mamori.model import Alert, Delivery, Severity
from mamori.runtime.blocking import block_audit, build_block_manager
from mamori.storage import SENSOR, AuditLog, Store
from mamori.testing import FakeClock

SITE = """
gateways: [{name: core, mac: "02:4b:00:00:00:01", ip: 10.75.0.1}]
systems:
  - name: 電子カルテ
    servers: [{ip: 10.75.0.2, mac: "02:4b:00:00:00:02"}]
    ports: [443]
    terminals: [{name: 外来1, mac: "02:4b:00:00:00:12", ip: 10.75.0.12}]
segments:
  - {name: office, cidrs: [10.75.0.0/24], zone: sz}
blocking: {dry_run: true}
actions:
  - {name: isolate, type: arp-isolate, interface: lo}
"""


def _alert(mac: str, ip: str) -> Alert:
    return Alert(uid=f"u-{mac}", rule="unregistered-terminal", key=mac, severity=Severity.HIGH, first_seen=1.0,
                 last_seen=1.0, count=1, src_mac=mac, src_ip=ip, dst_ip="10.75.0.2", dst_port=443)  # fmt: skip


def test_each_block_event_of_the_sensor_is_in_the_audit_log(tmp_path: Path) -> None:
    settings = settings_from_text(SITE, source="site.yaml")
    store = Store(tmp_path / "mamori.db")
    deliveries: list[Delivery] = []
    manager = build_block_manager(
        settings, settings.site, [], store=store, writer=None, dispatcher=lambda: None,
        record=deliveries.extend, clock=FakeClock(1_800_000_000.0),
    )  # fmt: skip
    assert manager is not None
    action = settings.actions[0]
    assert isinstance(action, ArpIsolateAction)
    dry = manager.isolate(_alert("02:4b:00:00:00:66", "10.75.0.66"), action)
    assert dry.state == "dry-run"
    refused = manager.isolate(_alert("02:4b:00:00:00:12", "10.75.0.12"), action)
    assert (refused.state, refused.reason) == ("refused", "registered")
    scan = dataclasses.replace(_alert("02:4b:00:00:00:67", "10.75.0.67"), rule="port-scan")
    assert manager.isolate(scan, action).reason == "not-allowed"  # the site does not block for it: not audited
    manager.release(dry.id, "kanri")

    entries = list(reversed(AuditLog(store).recent("block.")))
    assert [(e["user"], e["action"], e["target"]) for e in entries] == [
        (SENSOR, "block.dry-run", "02:4b:00:00:00:66 10.75.0.66"),
        (SENSOR, "block.refused", "02:4b:00:00:00:12 10.75.0.12"),
        (SENSOR, "block.released", "02:4b:00:00:00:66 10.75.0.66"),
    ]
    assert entries[0]["detail"] == "ARP による隔離 / ARP isolation · \u2068lo: 10.75.0.2, 10.75.0.1\u2069"
    assert "正規端末（登録済み）なので遮断しません / a registered terminal: never blocked" in entries[1]["detail"]
    assert "requested by: kanri" in entries[2]["detail"]
    assert [(d.action, d.event, d.ok) for d in deliveries] == [("isolate", "release", True)]
    store.close()


def test_a_release_failing_again_is_written_once_per_failure(tmp_path: Path) -> None:
    from dataclasses import replace

    from mamori.blocking import BlockEvent, BlockRecord

    settings = settings_from_text(SITE, source="site.yaml")
    store = Store(tmp_path / "mamori.db")
    manager = build_block_manager(
        settings, settings.site, [], store=store, writer=None, dispatcher=lambda: None, record=lambda _d: None,
        clock=FakeClock(1_800_000_000.0),
    )  # fmt: skip
    assert manager is not None and manager.on_event is not None
    record = BlockRecord(id="b1", method="snmp-port", action="shut-port", alert_uid="u", rule="unregistered-terminal",
                         mac="02:4b:00:00:00:66", ip="10.75.0.66", state="active", created_at=1.0,
                         place="floor2 Gi1/0/5 (ifIndex 5)", port_name="Gi1/0/5", port_descr="2F exam")  # fmt: skip
    timeout = replace(record, detail="release failed: switch floor2 (10.0.0.9): No SNMP response")
    for _ in range(5):  # the manager retries every 10 s
        manager.on_event(BlockEvent(timeout, "release-failed"))
    manager.on_event(BlockEvent(replace(record, detail="release failed: switch gone"), "release-failed"))
    released = replace(record, state="released", released_at=2.0, released_by="auto")
    manager.on_event(BlockEvent(released, "released"))
    entries = list(reversed(AuditLog(store).recent("block.")))
    assert [e["action"] for e in entries] == ["block.release-failed", "block.release-failed", "block.released"]
    assert "時間切れで自動解除 / released by its timer" in entries[-1]["detail"]
    store.close()


def test_the_entry_names_the_port_as_the_switch_gives_it() -> None:
    from mamori.blocking import BlockEvent, BlockRecord

    record = BlockRecord(id="b2", method="snmp-port", action="shut-port", alert_uid="u", rule="unregistered-terminal",
                         mac="02:4b:00:00:00:aa", ip=None, state="active", created_at=1.0,
                         place="sw <b>Gi1/0/11</b> (ifIndex 11)", port_name="<b>Gi1/0/11</b>",
                         port_descr="=cmd|' /C calc'!A0")  # fmt: skip
    user, action, target, detail = block_audit(BlockEvent(record, "blocked"))
    assert (user, action, target) == (SENSOR, "block.blocked", "02:4b:00:00:00:aa")
    assert detail == (
        "スイッチのポート停止（SNMP） / switch port shut (SNMP) · \u2068sw <b>Gi1/0/11</b> (ifIndex 11)\u2069 · "
        "\u2068=cmd|' /C calc'!A0\u2069"
    )  # kept as the switch said it, each in a bidi isolate: the audit page escapes it (HTML autoescape)
