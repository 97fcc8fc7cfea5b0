"""The network rules: what packets on the wire and routers' and firewalls' logs show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details

__all__ = ["IP_MAC_CONFLICT", "PORT_SCAN", "RULES", "SCAN_NAMES", "SYN_FLOOD", "UNREGISTERED_TERMINAL", "port_ranges"]


# -- unregistered-terminal -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UnregisteredTerminalDetails(Details):
    reason: str = "unregistered-mac"  # unregistered-mac | ip-mismatch | unregistered-ip
    via_gateway: bool = False
    gateway: str | None = None
    gateway_mac: str | None = None
    checked_by: str | None = None
    terminal: str | None = None
    registered_ip: str | None = None
    source_ips: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    device: str | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        if lang == "ja":
            return {"router": f"ルータ {self.gateway}" if self.gateway else "ルータ"}
        return {"router": f"router {self.gateway}" if self.gateway else "a router"}


UNREGISTERED_TERMINAL = Rule(
    id="unregistered-terminal",
    category="network",
    severity=Severity.HIGH,
    title=Text("未登録端末の接続", "Connection from an unregistered terminal"),
    short=Text(
        "部門サーバのサービスポートに、登録されていない端末（MAC・IP）が接続を試みました（接続元制限）。",
        "A terminal not registered for the department system (MAC and IP) tried to reach its server.",
    ),
    meaning=Text(
        "部門サーバのサービスポートに、そのシステムの正規端末として登録されていない端末が接続しようとしました"
        "（TCP SYN）。持ち込みのノート PC、保守業者の端末、不正に接続された機器のほか、登録された端末が登録と違う IP で"
        "現れた（設定変更・移設、または MAC の偽装）場合や、ルータ経由・VPN の向こうから登録のない IP が来た場合です。",
        "A terminal not registered for this department system tried to connect (TCP SYN) to one of its servers' "
        "service ports: a personal or vendor laptop, a rogue device; or a registered terminal with another IP than "
        "its registered one (moved, reconfigured, or a spoofed MAC); or, through a router or a VPN, an address that "
        "is not registered.",
    ),
    response=Text(
        "送信元の MAC・IP と時刻から、その端末がどこにつながっているか（スイッチの MAC アドレステーブル）を確認します。"
        "正当な端末なら端末台帳に登録します。心当たりがなければスイッチのポートを閉じて端末を隔離し、同じ送信元の"
        "他のアラート（ポートスキャンなど）も確認してください。",
        "Find where the terminal is plugged in (the switch's MAC address table) from its MAC, IP and the time. If it "
        "is legitimate, register it in the terminal ledger. If not, shut the switch port, isolate the device, and "
        "look at the other alerts from the same source (scans in particular).",
    ),
    notes=Text(
        "`reason`: `unregistered-mac`（登録のない MAC）、`ip-mismatch`（登録された MAC が登録外の IP で現れた。"
        "`terminal`・`registered_ip`）、`unregistered-ip`（ルータ経由 `via_gateway: true`、またはログ由来で MAC が"
        "分からないため登録 IP で判定）。`source_ips`・`ports` は見えた送信元 IP と宛先ポートです。",
        "`reason`: `unregistered-mac` (an unknown MAC), `ip-mismatch` (a registered MAC at another IP; `terminal`, "
        "`registered_ip`), `unregistered-ip` (through a router, `via_gateway: true`, or from a log without MAC, "
        "checked by the registered IPs). `source_ips` and `ports` list what was seen.",
    ),
    details=UnregisteredTerminalDetails,
    summaries=(
        Summary(
            ja="正規端末 {terminal} の MAC {src_mac} が登録外の IP {src_ip} から {system} ({dst_ip}:{dst_port}) "
            "に接続しようとしました（登録 IP: {registered_ip}）。{count:,} 回",
            en="Registered terminal {terminal} (MAC {src_mac}) tried to connect to {system} ({dst_ip}:{dst_port}) "
            "from IP {src_ip}, not its registered IP {registered_ip}; {count:,} times",
            when=lambda a: a.details.reason == "ip-mismatch",
            system=False,
        ),
        Summary(
            ja="未登録の IP {src_ip} が {router} 経由で {system} ({dst_ip}:{dst_port}) に接続しようとしました"
            "（ルータ経由のため MAC ではなく登録 IP で判定）。{count:,} 回",
            en="Unregistered IP {src_ip} tried to connect to {system} ({dst_ip}:{dst_port}) through {router} "
            "(checked by registered IP, since routed packets carry the router's MAC); {count:,} times",
            when=lambda a: a.details.via_gateway,
            system=False,
        ),
        Summary(
            ja="未登録の IP {src_ip} が {system} ({dst_ip}:{dst_port}) に接続しようとしました"
            "（MAC が分からないため登録 IP で判定）。{count:,} 回",
            en="Unregistered IP {src_ip} tried to connect to {system} ({dst_ip}:{dst_port}) "
            "(no MAC address in this source, checked by registered IP); {count:,} times",
            when=lambda a: a.details.reason == "unregistered-ip",
            system=False,
        ),
        Summary(
            ja="未登録端末 {src_ip} ({src_mac}) が {system} ({dst_ip}:{dst_port}) に接続しようとしました。{count:,} 回",
            en="Unregistered terminal {src_ip} ({src_mac}) tried to connect to {system} ({dst_ip}:{dst_port}); "
            "{count:,} times",
            system=False,
        ),
    ),
)


# -- port-scan --------------------------------------------------------------------------------------------------------

SCAN_NAMES: dict[str, tuple[str, str]] = {
    "syn": ("SYN スキャン", "SYN scan"),
    "connect": ("TCP connect スキャン", "TCP connect scan"),
    "fin": ("FIN スキャン", "FIN scan"),
    "null": ("NULL スキャン", "NULL scan"),
    "xmas": ("Xmas スキャン", "Xmas scan"),
    "ack": ("ACK スキャン", "ACK scan"),
    "udp": ("UDP スキャン", "UDP scan"),
}


def port_ranges(ports: tuple[int, ...]) -> str:
    """(22, 23, 24, 80) -> "22-24, 80"."""
    out: list[str] = []
    values = sorted(p for p in ports if isinstance(p, int))
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        out.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    if len(out) > 12:
        out = [*out[:12], "…"]
    return ", ".join(out)


@dataclass(frozen=True, kw_only=True)
class PortScanDetails(Details):
    direction: str = "vertical"  # vertical: many ports of a host; horizontal: one port on many hosts
    scan_type: str = "syn"  # the technique that sent the most probes
    scan_types: Mapping[str, int] = field(default_factory=dict)  # probes per technique
    proto: str = "tcp"
    ports: tuple[int, ...] = ()
    hosts: tuple[str, ...] = ()

    def words(self, lang: str) -> Mapping[str, Any]:
        i = 0 if lang == "ja" else 1
        kinds = [k for k in self.scan_types if k in SCAN_NAMES] or [self.scan_type]  # in the order first used
        techniques = ("、" if lang == "ja" else ", ").join(SCAN_NAMES.get(k, (k, k))[i] for k in kinds)
        n_hosts = len(self.hosts)
        many = f"{n_hosts} 台のホスト" if lang == "ja" else f"{n_hosts} hosts"
        target = self.hosts[0] if n_hosts == 1 else many
        return {
            "techniques": techniques,
            "n_ports": len(self.ports),
            "n_hosts": n_hosts,
            "target": target,
            "port_list": port_ranges(self.ports),
        }


PORT_SCAN = Rule(
    id="port-scan",
    category="network",
    severity=Severity.MEDIUM,
    title=Text("ポートスキャン", "Port scan"),
    short=Text(
        "1 台の多数ポート、または多数ホストの同じポートへの探り（SYN/connect/FIN/NULL/Xmas/ACK/UDP）。",
        "Probes to many ports of one host or one port of many hosts (SYN, connect, FIN, NULL, Xmas, ACK, UDP).",
    ),
    meaning=Text(
        "1 つの送信元が、1 台のホストの多数のポート、または多数のホストの同じポートを調べています。攻撃の下調べ、"
        "または感染した端末が次の標的を探している兆候です（大阪急性期・総合医療センターの事例では Advanced IP "
        "Scanner が使われました）。FIN・NULL・Xmas・ACK のような「ステルス」の探りは、普通のソフトウェアは送らない"
        "ため、重大度が上がります。",
        "One source is probing many ports of one host, or one port on many hosts: reconnaissance before an attack, "
        "or an infected machine looking for its next target (the Osaka incident used Advanced IP Scanner). "
        '"Stealth" probes (FIN, NULL, Xmas, ACK), which ordinary software never sends, raise the severity.',
    ),
    response=Text(
        "送信元を特定して隔離し、その端末のログオン履歴や不審なソフトウェアを確認します。脆弱性診断や監視サーバなど"
        "許可された調査元なら、設定の detection.port_scan.exempt_sources に登録します。",
        "Identify and isolate the source, and check its logons and installed software. Register authorised "
        "scanners (vulnerability scanner, monitoring) in detection.port_scan.exempt_sources.",
    ),
    notes=Text(
        "`direction: vertical`（既定 5 分間に 20 ポート以上）または `horizontal`（20 台以上）。`scan_types` は探りの"
        "種類ごとの数: `syn`（nmap -sS）、`connect`（-sT）、`fin`、`null`、`xmas`、`ack`（-sA）、`udp`。`scan_type` は"
        "最も多かった種類です。応答がなくても数えます。",
        "`direction: vertical` (by default 20 ports within 5 minutes) or `horizontal` (20 hosts). `scan_types` "
        "counts the probes of each technique: `syn` (nmap -sS), `connect` (-sT), `fin`, `null`, `xmas`, `ack` "
        "(-sA), `udp`; `scan_type` is the most frequent. No answer is needed for a probe to count.",
    ),
    details=PortScanDetails,
    summaries=(
        Summary(
            ja="ポートスキャン（{techniques}、横方向）: {src_ip} が {n_hosts} 台のホストのポート {port_list} を"
            "調べています。{count:,} 回",
            en="Horizontal port scan ({techniques}): {src_ip} probed port {port_list} on {n_hosts} hosts; "
            "{count:,} probes",
            when=lambda a: a.details.direction == "horizontal",
        ),
        Summary(
            ja="ポートスキャン（{techniques}）: {src_ip} が {target} の {n_ports} ポートを調べています。{count:,} 回",
            en="Port scan ({techniques}): {src_ip} probed {n_ports} ports on {target}; {count:,} probes",
        ),
    ),
)


# -- syn-flood --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SynFloodDetails(Details):
    peak_rate: float = 0.0
    incomplete_ratio: float = 0.0
    distinct_sources: int = 0
    spoofed_sources: bool = False
    ports: tuple[int, ...] = ()
    source_macs: tuple[str, ...] = ()
    top_sources: tuple[str, ...] = ()
    handshakes_answered: int = 0
    handshakes_refused: int = 0


SYN_FLOOD = Rule(
    id="syn-flood",
    category="network",
    severity=Severity.HIGH,
    title=Text("SYN フラッド", "SYN flood"),
    short=Text(
        "ハンドシェイクが完了しない大量の SYN（送信元の偽装を含む）がサーバに届いています。",
        "A storm of SYNs without completed handshakes (spoofed sources included) is reaching a server.",
    ),
    meaning=Text(
        "1 台のサーバに短時間に大量の SYN（既定 5 秒間に 500 以上）が届き、その多くでハンドシェイクが完了していないか、"
        "送信元 IP が 1 回ずつ違う（偽装）状態です。サービスを止める攻撃（DoS）か、故障した機器です。",
        "A server received a storm of SYNs (by default 500 within 5 s), most without a completed handshake, or "
        "from distinct one-shot (spoofed) source IPs: an attack to stop the service (DoS), or a faulty device.",
    ),
    response=Text(
        "サーバのサービスが止まっていないか確認します。送信元 MAC（source_macs）から、同じセグメントのどの機器が"
        "送っているかを特定して隔離します。送信元 IP は偽装されていることがあるので、MAC を優先して追います。",
        "Check that the service still answers. Trace the sending device by its MAC (source_macs) rather than the "
        "source IPs, which may be forged, and isolate it.",
    ),
    notes=Text(
        "少数のポートに集中しているものだけを数え、ポートスキャンとは区別します。`count` はフラッドの SYN の総数、"
        "`peak_rate` は最大の毎秒件数、`incomplete_ratio` はハンドシェイク未完了の割合です。",
        "Only SYNs concentrated on few ports count, apart from scans. `count` is every SYN of the flood, "
        "`peak_rate` the fastest rate per second, `incomplete_ratio` the share without a completed handshake.",
    ),
    details=SynFloodDetails,
    summaries=(
        Summary(
            ja="SYN フラッド: {dst_ip} に SYN が {count:,} 件（最大 毎秒 {peak_rate:,.0f} 件）、送信元 IP は "
            "{distinct_sources:,} 個以上で 1 回ずつ（偽装の疑い）",
            en="SYN flood: {count:,} SYNs to {dst_ip} (peak {peak_rate:,.0f}/s), from {distinct_sources:,}+ one-shot "
            "source IPs (likely spoofed)",
            when=lambda a: a.details.spoofed_sources,
        ),
        Summary(
            ja="SYN フラッド: {dst_ip} に SYN が {count:,} 件（最大 毎秒 {peak_rate:,.0f} 件）、ハンドシェイク未完了 "
            "{incomplete_ratio:.0%}",
            en="SYN flood: {count:,} SYNs to {dst_ip} (peak {peak_rate:,.0f}/s), {incomplete_ratio:.0%} without a "
            "completed handshake",
        ),
    ),
)


# -- ip-mac-conflict --------------------------------------------------------------------------------------------------

_ROLES = {"server": ("サーバ", "server"), "gateway": ("ルータ", "gateway"), "terminal": ("端末", "terminal")}


@dataclass(frozen=True, kw_only=True)
class IpMacConflictDetails(Details):
    reason: str = "registered-binding"  # registered-binding | flip-flop
    role: str | None = None  # server | gateway | terminal
    name: str | None = None
    registered_mac: str | None = None
    registered_mac_learned: bool = False
    claimed_mac: str | None = None
    ethernet_source: str | None = None
    replies: int = 0
    requests: int = 0
    gratuitous: int = 0
    macs: tuple[str, ...] = ()

    def words(self, lang: str) -> Mapping[str, Any]:
        role = _ROLES.get(self.role or "", (self.role or "", self.role or ""))
        return {"role_name": role[0 if lang == "ja" else 1]}


IP_MAC_CONFLICT = Rule(
    id="ip-mac-conflict",
    category="network",
    severity=Severity.CRITICAL,
    title=Text("ARP 詐称・IP-MAC の不一致", "ARP spoofing / IP-MAC conflict"),
    short=Text(
        "登録されたサーバ・ルータ・端末の IP を別の MAC が名乗った、または IP の MAC が行き来しています。",
        "Another MAC claimed the IP of a registered server, gateway or terminal, or an IP's MAC flips.",
    ),
    meaning=Text(
        "登録されたサーバ・ルータ・正規端末の IP を、別の MAC が ARP で名乗りました（ARP 詐称。通信の盗聴・改ざん・"
        "中間者攻撃の準備。HEASNET 報告書の脅威 T12）。サーバとルータは critical、端末は high です。登録のない IP の "
        "MAC が短時間に行き来している場合（2 台が同じ IP を使っているか、詐称の試み）は medium です。",
        "ARP from another MAC claimed the IP of a registered server, gateway or terminal (ARP spoofing: "
        "eavesdropping or a man in the middle; threat T12 of the HEASNET report). Critical for servers and "
        "gateways, high for terminals. An unregistered IP whose MAC flips back and forth (two devices on one "
        "address, or an attempt at spoofing) is medium.",
    ),
    response=Text(
        "名乗った側の MAC の機器を特定して直ちに隔離します。サーバ・ルータの詐称は、その間の通信が盗聴された可能性が"
        "あります。スイッチの DHCP snooping / Dynamic ARP Inspection の導入も検討してください。",
        "Find and isolate the device with the claiming MAC at once. Traffic to a spoofed server or gateway may have "
        "been intercepted meanwhile. Consider DHCP snooping and Dynamic ARP Inspection on the switches.",
    ),
    notes=Text(
        "`reason: registered-binding`（登録された対応への詐称。`role`・`name`・`registered_mac`・`claimed_mac`）"
        "または `flip-flop`（`macs` の間で行き来）。",
        "`reason: registered-binding` (a registered binding claimed; `role`, `name`, `registered_mac`, "
        "`claimed_mac`) or `flip-flop` (the IP moved between `macs`).",
    ),
    details=IpMacConflictDetails,
    summaries=(
        Summary(
            ja="ARP 詐称の疑い: 登録済み{role_name} {name} の IP {src_ip}（正規 MAC {registered_mac}）を MAC {src_mac} "
            "が名乗っています。{count:,} 回",
            en="Possible ARP spoofing: MAC {src_mac} claims IP {src_ip} of registered {role_name} {name} (registered "
            "MAC {registered_mac}); {count:,} ARP packets",
            when=lambda a: a.details.reason == "registered-binding",
            system=False,
        ),
        Summary(
            ja="IP-MAC の対応が行き来しています: IP {src_ip} の MAC が {macs} の間で切り替わりました。{count:,} 回",
            en="IP-MAC binding flip-flop: IP {src_ip} moved between MACs {macs}; {count:,} changes",
            system=False,
        ),
    ),
)

RULES = (UNREGISTERED_TERMINAL, PORT_SCAN, SYN_FLOOD, IP_MAC_CONFLICT)
