"""What a block is, as stored and shown: one record per attempt to block a device, and how it ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["ACTIVE_STATES", "REASONS", "BlockBook", "BlockRecord", "MemoryBook", "reason_text"]

# active: the device is cut off now; dry-run: only recorded; refused: a safety rule said no; failed: the switch or
# the link said no; released: lifted (by hand, by its timer, by registering the terminal).
ACTIVE_STATES = ("active", "dry-run")

# Why a block was refused or failed, in words for the office (Japanese, English).
REASONS: dict[str, tuple[str, str]] = {
    "not-allowed": (
        "このルール・重要度では遮断しない設定です（blocking.allow）",
        "the site does not block for this rule and severity (blocking.allow)",
    ),
    "no-mac": ("MAC アドレスが分からないため遮断できません", "the MAC address is not known, so it cannot be blocked"),
    "registered": ("正規端末（登録済み）なので遮断しません", "a registered terminal: never blocked"),
    "server-or-gateway": ("サーバまたはゲートウェイなので遮断しません", "a server or a gateway: never blocked"),
    "medical": (
        "医療機器のセグメント（zone: medical）なので遮断しません",
        "a medical-device segment (zone: medical): never blocked",
    ),
    "already-blocked": ("すでに遮断中です", "already blocked"),
    "not-found": ("どのスイッチにもこの MAC アドレスが見つかりません", "no switch has learned this MAC address"),
    "uplink": ("アップリンク（上位スイッチへのポート）なので遮断しません", "an uplink port: never shut"),
    "protected": ("保護リストのポートなので遮断しません", "a port on the protect list: never shut"),
    "too-many-macs": (
        "このポートには複数の機器がつながっているため遮断しません",
        "the port carries more devices than allowed: not shut",
    ),
    "shared-port": (
        "同じポートに正規端末・サーバがつながっているため遮断しません",
        "a registered terminal or a server shares the port: not shut",
    ),
    "no-targets": (
        "知らせる相手（MAC の分かるサーバ・ゲートウェイ）がありません",
        "no server or gateway with a known MAC to isolate from",
    ),
    "snmp-error": ("スイッチとの SNMP 通信に失敗しました", "SNMP to the switch failed"),
    "link-error": ("遮断用のインタフェースが使えません", "the isolating interface cannot be used"),
    "no-switch": ("スイッチが登録されていません（switches）", "no switch is listed (switches)"),
    "unavailable": ("このプロセスでは遮断できません（mamori watch が行います）", "blocking runs in mamori watch only"),
}


def reason_text(code: str, lang: str) -> str:
    pair = REASONS.get(code)
    if pair is None:
        return code
    return pair[0] if lang == "ja" else pair[1]


@dataclass(frozen=True)
class BlockRecord:
    """One block: who (``mac``, ``ip``), why (``alert_uid``, ``rule``), how (``method``: snmp-port or arp-isolate,
    by ``action``), where (``place``: the switch and port, or the interface; ``port_name`` and ``port_descr`` are
    as the switch says them: hostile text), and how it stands (``state``; ``reason`` a code of :data:`REASONS`
    with ``detail``). ``restore`` holds what release needs (the port's former admin status or VLAN)."""

    id: str
    method: str
    action: str
    alert_uid: str
    rule: str
    mac: str
    ip: str | None
    state: str
    created_at: float
    place: str = ""
    port_name: str = ""
    port_descr: str = ""
    reason: str = ""
    detail: str = ""
    release_at: float | None = None
    released_at: float | None = None
    released_by: str = ""
    release_requested_at: float | None = None
    release_requested_by: str = ""
    restore: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class BlockBook(Protocol):
    """Where blocks are kept (the store's ``mamori_block`` table; a list in tests)."""

    def save(self, record: BlockRecord) -> None:
        """Insert or replace the record with this id."""

    def active(self) -> list[BlockRecord]:
        """Blocks in force (active or dry-run)."""

    def release_requests(self) -> list[BlockRecord]:
        """Blocks in force whose release was asked for (the dashboard's button, registering the terminal)."""


class MemoryBook:
    """A block book in memory: for a sensor run without a store, and for tests."""

    def __init__(self) -> None:
        self.records: dict[str, BlockRecord] = {}

    def save(self, record: BlockRecord) -> None:
        self.records[record.id] = record

    def active(self) -> list[BlockRecord]:
        return [r for r in self.records.values() if r.active]

    def release_requests(self) -> list[BlockRecord]:
        return [r for r in self.active() if r.release_requested_at is not None]
