"""The exposure rule: services a host offers that it should not, or did not before (self-diagnosis of exposure).

The Fukui seminar asks hospitals to diagnose their own exposure (open ports, unneeded services); the Ministry's
checklist asks whether unneeded services are stopped (2-⑫) and connection sources restricted (2-⑬). Evidence comes
from ``mamori scan`` (nmap over the site model's scope) and from the traffic the sensor sees (SYN-ACKs: services seen
answering). The judgement is in ``mamori.detection.exposure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details

__all__ = ["CHECKLIST_ITEMS", "EXPOSURE", "PORT_NAMES", "REASONS", "RULES", "port_label"]

# Names of the ports the judgement speaks of most (nmap's service names are shown beside them when known).
PORT_NAMES: dict[int, str] = {
    20: "FTP data",
    21: "FTP",
    22: "SSH",
    23: "Telnet",
    135: "RPC",
    139: "NetBIOS/SMB",
    445: "SMB",
    1433: "SQL Server",
    1521: "Oracle",
    3306: "MySQL",
    3389: "RDP",
    5432: "PostgreSQL",
    5985: "WinRM",
    5986: "WinRM HTTPS",
}

# Why a port is in an alert, in the reader's language.
REASONS: dict[str, tuple[str, str]] = {
    "new": ("前回のスキャンになかった新しいポート", "new since the previous scan"),
    "unneeded": ("役割に不要なサービス（危険ポート）", "a service the host's role does not need (dangerous port)"),
    "database": (
        "使う端末以外（別のセグメント）から届くデータベースのポート",
        "a database port reachable beyond the terminals that use it (another segment)",
    ),
    "not-approved": ("承認された状態にないポート", "not in the approved baseline"),
}

# The Ministry's checklist items the exposure evidence answers (医療機関におけるサイバーセキュリティ対策チェックリスト).
CHECKLIST_ITEMS: dict[str, Text] = {
    "2-12": Text("不要なサービスやポートを停止しているか", "Are unneeded services and ports stopped?"),
    "2-13": Text("接続元を制限しているか", "Are connection sources restricted?"),
}


def port_label(key: str, services: Mapping[str, str] | None = None) -> str:
    """ "tcp/445" -> "445 (SMB)"; nmap's service name when the port has no name here."""
    proto, _, number = key.partition("/")
    port = int(number) if number.isdigit() else None
    name = PORT_NAMES.get(port, "") if port is not None and proto == "tcp" else ""
    seen = (services or {}).get(key, "")
    label = number if proto == "tcp" else f"{number}/{proto}"
    extra = name or seen
    return f"{label} ({extra})" if extra else label


@dataclass(frozen=True, kw_only=True)
class ExposureDetails(Details):
    host: str = ""
    source: str = "scan"  # scan: mamori scan; passive: SYN-ACKs seen by the sensor
    scan_id: int | None = None  # the latest stored run that found it (scan)
    first_scan_id: int | None = None  # the run that first found it (scan)
    ended_scan_id: int | None = None  # the run after which the alert is no longer updated (scan)
    ended: str | None = None  # why: cleared (no finding left), changed (a new finding opened another alert)
    segment: str | None = None  # the host's segment, if any
    observer: str = ""  # the scanner's source address, or the first client the service answered
    new_ports: tuple[str, ...] = ()  # "tcp/445"
    unneeded_ports: tuple[str, ...] = ()
    database_ports: tuple[str, ...] = ()
    gone_ports: tuple[str, ...] = ()  # open in the previous run, not in this one (shown, never alerted alone)
    services: Mapping[str, str] = field(default_factory=dict)  # "tcp/445" -> nmap's service and product

    def flagged(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.unneeded_ports, *self.database_ports, *self.new_ports)))

    def words(self, lang: str) -> Mapping[str, Any]:
        def listed(keys: tuple[str, ...]) -> str:
            shown = [port_label(k, self.services) for k in keys[:12]]
            return ", ".join(shown) + (" …" if len(keys) > 12 else "") if shown else "-"

        ja = lang == "ja"
        how = (
            ("スキャン" if ja else "scan")
            if self.source == "scan"
            else ("通信の観察（SYN-ACK）" if ja else "observed traffic (SYN-ACK)")
        )
        return {
            "port_list": listed(self.flagged()),
            "new_list": listed(self.new_ports),
            "unneeded_list": listed(self.unneeded_ports),
            "database_list": listed(self.database_ports),
            "n_ports": len(self.flagged()),
            "how": how,
        }


EXPOSURE = Rule(
    id="exposure",
    category="network",
    severity=Severity.MEDIUM,
    title=Text("不要・新規の公開サービス", "Unneeded or new open service"),
    short=Text(
        "機器が、役割に不要なサービス（Telnet・FTP・SMB・RDP など）や、前回になかったポートを公開しています。",
        "A host offers a service its role does not need (Telnet, FTP, SMB, RDP...) or a port it did not before.",
    ),
    meaning=Text(
        "スキャン（mamori scan）または通信の観察で、この機器が次のようなポートで応答しました: 危険ポート"
        "（Telnet 23、FTP 21、SMB 445/139、RDP 3389 など）のうち、サイト設定でこの機器の部門システムに登録されて"
        "いないもの（不要なサービス）、別のセグメントから届くデータベースのポート（1433・1521・3306・5432）、"
        "前回のスキャンになかった新しいポート。承認された状態（ダッシュボードで承認）にあるポートは含みません。"
        "ランサムウェアは開いたままの RDP・SMB を使って広がります（大阪の事例）。チェックリスト 2-⑫"
        "（不要なサービスの停止）と 2-⑬（接続元の制限）の確認に使われます。",
        "A scan (mamori scan) or the observed traffic showed this host answering on: a dangerous port (Telnet 23, "
        "FTP 21, SMB 445/139, RDP 3389...) that the site model does not list for its department system (an "
        "unneeded service); a database port (1433, 1521, 3306, 5432) reachable from another segment; or a port "
        "that was not open in the previous scan. Ports in the approved baseline (approved on the dashboard) are "
        "left out. Ransomware spreads through RDP and SMB left open (the Osaka incident). This is the evidence "
        "for checklist items 2-⑫ (unneeded services stopped) and 2-⑬ (connection sources restricted).",
    ),
    response=Text(
        "機器の管理者（部門システムの業者）に、そのサービスが必要か確認します。不要ならサービスを止めるか、"
        "機器のファイアウォールで閉じてください。必要なら、サイト設定の部門システムにポートを書くか、"
        "ダッシュボードの「公開状況」でこの機器の現在の状態を承認してください。データベースのポートは、"
        "使う端末のセグメントからだけ届くようにスイッチ・ファイアウォールで制限します。",
        "Ask whoever manages the host (the department system's vendor) whether the service is needed. If not, stop "
        "it or close it in the host's firewall. If it is, list the port for its department system in the site "
        "model, or approve the host's current state on the dashboard's Exposure page. Restrict database ports with "
        "the switch or firewall so that only the segments of the terminals that use them reach them.",
    ),
    notes=Text(
        "1 つのアラートは 1 台の機器の指摘の一続きで、ポートは一覧で示します（1 ポート 1 件ではありません）。"
        "スキャン（source: scan）では、同じ指摘が続く間は毎回のスキャンが同じアラートを更新します（件数はその指摘を"
        "見つけたスキャンの回数、`scan_id` は最新のスキャン、`first_scan_id` は最初のスキャン）。新しいポートが"
        "指摘に加わると、そのアラートを終えて（`ended`: changed）新しいアラートを出します。機器を直すか承認して"
        "指摘がなくなると、アラートは終わります（`ended`: cleared、`ended_scan_id`）。アラートを「解決」にした後の"
        "スキャンで同じ指摘があれば、新しいアラートになります。観察（source: passive）では静かな期間までの一続きです。"
        '`new_ports`・`unneeded_ports`・`database_ports` は理由ごとのポート（"tcp/445"）、`gone_ports` は前回'
        "開いていて今回閉じたポート、`services` は nmap の見たサービス名と製品名、`observer` はスキャンした"
        "アドレスか、応答を受けた最初の端末です。初回のスキャンでは「新しいポート」は出ません。",
        "One alert per host and run of findings, listing the ports (not one alert per port). From scans (source: "
        "scan), each scan that finds the same (or less) updates the same alert: its count is the scans that found "
        "it, `scan_id` the latest and `first_scan_id` the first. A new port among the findings ends it (`ended`: "
        "changed) and raises a new alert; once the host is fixed or approved the alert ends (`ended`: cleared, "
        "`ended_scan_id`). After an alert is resolved, a scan that finds the same again raises a new one. From "
        "observed traffic (source: passive) one alert per burst, until the quiet period. `new_ports`, "
        "`unneeded_ports` and "
        '`database_ports` are the ports ("tcp/445") by reason; `gone_ports` were open in the previous run and '
        "are closed now; `services` has nmap's service and product names; `observer` is the scanning address or "
        "the first client answered. The first scan reports no new ports.",
    ),
    details=ExposureDetails,
    summaries=(
        Summary(
            ja="{dst_ip} が不要・新規のサービスを公開（{how}）: {port_list}",
            en="{dst_ip} offers unneeded or new services ({how}): {port_list}",
        ),
    ),
)

RULES = (EXPOSURE,)
