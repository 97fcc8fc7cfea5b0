"""The rule that reports blocking (遮断): a device taken off the network by mamori, and put back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details

__all__ = ["DEVICE_BLOCKED", "METHODS", "RELEASED_BY", "RULES", "STATES"]

STATES: dict[str, Text] = {
    "active": Text("遮断中", "blocked"),
    "dry-run": Text("試行モード（実際には遮断していません）", "dry run (not actually blocked)"),
    "failed": Text("遮断に失敗", "blocking failed"),
    "released": Text("解除済み", "released"),
}
METHODS: dict[str, Text] = {
    "snmp-port": Text("スイッチのポート停止（SNMP）", "switch port shut (SNMP)"),
    "arp-isolate": Text("ARP による隔離", "ARP isolation"),
}
RELEASED_BY: dict[str, Text] = {
    "auto": Text("時間切れで自動解除", "released by its timer"),
    "registered": Text("正規端末として登録されたため解除", "released: the terminal was registered"),
    "stopped": Text("センサーの停止で解除", "released when the sensor stopped"),
}


@dataclass(frozen=True, kw_only=True)
class DeviceBlockedDetails(Details):
    block_id: str = ""
    method: str = ""
    state: str = ""
    place: str = ""
    port_name: str = ""
    port_descr: str = ""
    blocked_for: str = ""  # the alert whose source was blocked
    blocked_rule: str = ""
    action: str = ""
    release_at: float | None = None
    released_by: str = ""
    detail: str = ""

    def words(self, lang: str) -> Mapping[str, Any]:
        state = STATES.get(self.state)
        method = METHODS.get(self.method)
        by = RELEASED_BY.get(self.released_by)
        return {
            "state_words": (state.ja if lang == "ja" else state.en) if state else self.state,
            "method_words": (method.ja if lang == "ja" else method.en) if method else self.method,
            "by_words": (by.ja if lang == "ja" else by.en) if by else self.released_by,
        }


def _released(alert: Any) -> bool:
    return bool(getattr(alert.details, "state", "") == "released")


DEVICE_BLOCKED = Rule(
    id="device-blocked",
    category="network",
    severity=Severity.MEDIUM,
    title=Text("機器の遮断", "Device blocked"),
    short=Text(
        "mamori が未登録の機器をネットワークから遮断した、または遮断を解除しました。",
        "mamori took an unregistered device off the network, or put it back.",
    ),
    meaning=Text(
        "不正接続のアラートを受けて、mamori が送信元の機器を遮断しました（スイッチのポートを SNMP で止める、"
        "または同じセグメントで ARP により隔離する）。遮断は設定で許したルールと重要度だけで行われ、正規端末・"
        "サーバ・ゲートウェイ・医療機器のセグメントは決して遮断しません。解除されると同じアラートに「解除済み」が"
        "付きます。試行モード（dry_run）では何もせず、行うはずだったことだけを記録します。",
        "After an unauthorized-connection alert, mamori blocked its source (shut its switch port over SNMP, or "
        "isolated it by ARP on its segment). Blocks are made only for the rules and severities the settings allow, "
        "and never for a registered terminal, a server, a gateway or a medical-device segment. When the block is "
        "lifted the same alert is marked released. In dry run nothing is done: what would be done is recorded.",
    ),
    response=Text(
        "遮断された機器が何かを確かめます（設置場所・持ち主）。正規の端末なら、アラートから「この端末を登録」"
        "すると遮断は解除されます。不正な機器ならその場で取り外し、必要なら調査します。遮断中の機器は"
        "「遮断中の機器」画面で一覧でき、ワンクリックで解除できます。",
        "Find out what the blocked device is (where it is, whose it is). If it is a legitimate terminal, register "
        'it from the alert ("Register this terminal"): the block is lifted. If not, remove it and investigate as '
        "needed. The Blocked devices page lists every block and releases one with one click.",
    ),
    details=DeviceBlockedDetails,
    labels={
        "block_id": Text("遮断の番号", "Block number"),
        "method": Text("遮断の方法", "Method"),
        "state": Text("状態", "State"),
        "place": Text("遮断した場所", "Where"),
        "port_name": Text("ポート名（スイッチの表示）", "Port name (as the switch says)"),
        "port_descr": Text("ポートの説明（スイッチの表示）", "Port description (as the switch says)"),
        "blocked_for": Text("元のアラート", "Alert that caused it"),
        "blocked_rule": Text("元のアラートのルール", "Rule of that alert"),
        "action": Text("アクション名", "Action name"),
        "release_at": Text("自動解除の予定", "Automatic release at"),
        "released_by": Text("解除した人・理由", "Released by"),
        "detail": Text("補足", "Detail"),
    },
    values={
        **{("state", code): text for code, text in STATES.items()},
        **{("method", code): text for code, text in METHODS.items()},
        **{("released_by", code): text for code, text in RELEASED_BY.items()},
    },
    summaries=(
        Summary(
            ja="{src_mac}（{src_ip}）の遮断を解除しました（{method_words}、{place}、{by_words}）",
            en="The block of {src_mac} ({src_ip}) was released ({method_words}, {place}, {by_words})",
            when=_released,
            system=False,
        ),
        Summary(
            ja="{src_mac}（{src_ip}）: {state_words}（{method_words}、{place}）",
            en="{src_mac} ({src_ip}): {state_words} ({method_words}, {place})",
            system=False,
        ),
    ),
)

RULES = (DEVICE_BLOCKED,)
