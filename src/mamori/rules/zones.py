"""The zone rules: connections between segments that the zone policy forbids, and paths never seen before.

The HEASNET report (2007) §6.1 gives construction checksheets for a large institution (大規模機関型: High Secure
Zone, Secure Zone and DMZ) and a small one (小規模機関型: no DMZ); their items say which connections between zones
are forbidden. The items quoted here are copied from the report (../shared/seeds/001_*.txt, the checksheets on pp.
43-51); the English is mamori's translation. The two checksheets number their items differently (the small one's
3-5-1 is the large one's 3-6-1), so an item is always named with its checksheet. Words in parentheses (（…）) name
the subject an item takes from its section heading ("3-3 High Secure Zone のセキュリティ"); they are mamori's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details
from mamori.rules.network import port_ranges

__all__ = ["CHECKSHEETS", "CHECKSHEET_ITEMS", "NEW_PATH", "RULES", "ZONE_NAMES", "ZONE_POLICY", "checksheet_item"]

_LISTED = 64  # addresses a detector lists in an alert's details; a full list means "this many or more"

ZONE_NAMES: dict[str, tuple[str, str]] = {
    "hsz": ("高セキュアゾーン", "High Secure Zone"),
    "sz": ("セキュアゾーン", "Secure Zone"),
    "dmz": ("DMZ", "DMZ"),
    "medical": ("医療機器ゾーン", "medical devices zone"),
    "external": ("外部", "outside"),
}

CHECKSHEETS: dict[str, tuple[str, str]] = {
    "heasnet-large": ("HEASNET 大規模機関型", "HEASNET large institution"),
    "heasnet-small": ("HEASNET 小規模機関型", "HEASNET small institution"),
    "custom": ("院内ポリシー", "site policy"),
}

# (checksheet, item) -> the item's question as the report words it, and mamori's English.
CHECKSHEET_ITEMS: dict[tuple[str, str], Text] = {
    ("heasnet-large", "3-2-1"): Text(
        "外部から High Secure Zone, Secure Zone への接続を禁止していますか?",
        "Are connections from outside to the High Secure Zone and the Secure Zone forbidden?",
    ),
    ("heasnet-large", "3-3-1"): Text(
        "接続の起点を High Secure Zone とした Secure Zone DMZ への直接アクセスを禁止していますか?",
        "Is direct access started from the High Secure Zone to the Secure Zone and the DMZ forbidden?",
    ),
    ("heasnet-large", "3-3-2"): Text(
        "（High Secure Zone の）インターネット接続を禁止していますか?",
        "Is connecting to the internet (from the High Secure Zone) forbidden?",
    ),
    ("heasnet-large", "3-4-1"): Text(
        "（Secure Zone への）DMZ、High Secure Zone からの直接アクセスを禁止していますか?",
        "Is direct access (to the Secure Zone) from the DMZ and the High Secure Zone forbidden?",
    ),
    ("heasnet-large", "3-5-1"): Text(
        "（DMZ から）High Secure Zone, Secure Zone への直接アクセスを禁止していますか?",
        "Is direct access (from the DMZ) to the High Secure Zone and the Secure Zone forbidden?",
    ),
    ("heasnet-large", "3-6-1"): Text(
        "（High Secure Zone と Secure Zone 間の通信は）接続の起点を Secure Zone から行い、プロキシ機能を経由して"
        "いますか? 逆の接続は禁止する。",
        "(Between the High Secure Zone and the Secure Zone) are connections started from the Secure Zone, through "
        "a proxy? The reverse direction is forbidden.",
    ),
    ("heasnet-large", "3-7-1"): Text(
        "（High Secure Zone と DMZ 間の通信は）接続の起点を DMZ から行い、プロキシ機能を経由していますか? "
        "逆の接続は禁止する。",
        "(Between the High Secure Zone and the DMZ) are connections started from the DMZ, through a proxy? The "
        "reverse direction is forbidden.",
    ),
    ("heasnet-large", "3-8-1"): Text(
        "（DMZ と Secure Zone 間の通信は）接続の起点を Secure Zone から行い、プロキシ機能を経由していますか? "
        "逆の接続は禁止する。",
        "(Between the DMZ and the Secure Zone) are connections started from the Secure Zone, through a proxy? The "
        "reverse direction is forbidden.",
    ),
    ("heasnet-large", "4-5-1"): Text(
        "外部からの医療機器への接続をリモート保守サービスのみに制限していますか?",
        "Are connections from outside to medical devices limited to the remote maintenance service?",
    ),
    ("heasnet-small", "3-2-1"): Text(
        "外部から High Secure Zone, Secure Zone への接続を禁止していますか?",
        "Are connections from outside to the High Secure Zone and the Secure Zone forbidden?",
    ),
    ("heasnet-small", "3-3-1"): Text(
        "接続の起点を High Secure Zone とした Secure Zone への直接アクセスを禁止していますか?",
        "Is direct access started from the High Secure Zone to the Secure Zone forbidden?",
    ),
    ("heasnet-small", "3-3-2"): Text(
        "（High Secure Zone の）インターネット接続を禁止していますか?",
        "Is connecting to the internet (from the High Secure Zone) forbidden?",
    ),
    ("heasnet-small", "3-5-1"): Text(
        "（High Secure Zone と Secure Zone 間の通信は）接続の起点を Secure Zone から行い、プロキシ機能を経由して"
        "いますか? 逆の接続は禁止する。",
        "(Between the High Secure Zone and the Secure Zone) are connections started from the Secure Zone, through "
        "a proxy? The reverse direction is forbidden.",
    ),
    ("heasnet-small", "4-3-1"): Text(
        "外部からの医療機器への接続をリモート保守サービスのみに制限していますか?",
        "Are connections from outside to medical devices limited to the remote maintenance service?",
    ),
}


def checksheet_item(policy: str, ref: str, lang: str) -> str:
    """The checksheet item's words, or "" for a custom rule (its ``ref`` is the operator's own)."""
    text = CHECKSHEET_ITEMS.get((policy, ref))
    return text(lang) if text is not None else ""


def _zone(zone: str | None, lang: str) -> str:
    names = ZONE_NAMES.get(zone or "", (zone or "?", zone or "?"))
    return names[0 if lang == "ja" else 1]


def _place(zone: str | None, segment: str | None, lang: str) -> str:
    """「DMZ「公開系」」 / "DMZ segment 公開系"; an address in no segment is "outside"."""
    if not segment:
        return _zone(zone, lang)
    if lang == "ja":
        return f"{_zone(zone, lang)}「{segment}」"
    return f"{_zone(zone, lang)} segment {segment}"


def _where(zone: str | None, segment: str | None, lang: str) -> str:
    """Where an address is, as a summary puts it before (ja) or after (en) the address: 「DMZ「公開系」の」 /
    "in DMZ segment 公開系"; "外部の" / "outside"."""
    if lang == "ja":
        return f"{_place(zone, segment, lang)}の"
    return f"in {_place(zone, segment, lang)}" if segment else _zone(zone, lang)


def _citation(policy: str, ref: str, lang: str) -> str:
    names = CHECKSHEETS.get(policy, (policy, policy))
    name = names[0 if lang == "ja" else 1]
    if not ref:
        return name
    return f"{name} {ref}"


# -- zone-policy ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ZonePolicyDetails(Details):
    reason: str = "forbidden"  # forbidden | no-proxy
    policy: str = "heasnet-large"  # heasnet-large | heasnet-small | custom
    ref: str = ""  # the checksheet item (or the custom rule's reference) the connection breaks
    proxy_ref: str = ""  # no-proxy: the item that says the way through a proxy
    src_segment: str | None = None  # None: the address is in no segment
    dst_segment: str | None = None
    src_zone: str = "external"
    dst_zone: str = "external"
    proto: str = "tcp"
    ports: tuple[int, ...] = ()
    port_names: Mapping[str, str] = field(default_factory=dict)  # the dangerous ports among them: port -> name
    dst_ips: tuple[str, ...] = ()
    src_ips: tuple[str, ...] = ()  # only when many sources are gathered in one alert (no src_ip)
    actions: Mapping[str, int] = field(default_factory=dict)  # wire | allow | deny -> connections seen
    answered: bool = False  # a SYN-ACK came back: the connection was made
    new_path: bool = False  # the first connection ever seen between these segments on a dangerous port
    device: str | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        ja = lang == "ja"
        cite = f"{_citation(self.policy, self.ref, lang)}: {_zone(self.src_zone, lang)} → {_zone(self.dst_zone, lang)}"
        if self.reason == "no-proxy":
            way = self.proxy_ref if self.proxy_ref and self.proxy_ref != self.ref else ""
            if ja:
                cite += f"、プロキシ経由のみ可{f'（{way}）' if way else ''}"
            else:
                cite += f"; allowed only through a proxy{f' ({way})' if way else ''}"
        named = [p for p in self.ports if str(p) in self.port_names]
        ports = ", ".join(f"{p} ({self.port_names[str(p)]})" for p in named[:6])
        rest = port_ranges(tuple(p for p in self.ports if str(p) not in self.port_names))
        ports = ", ".join(x for x in (ports, rest) if x) or "?"
        denied = self.actions.get("deny", 0)
        seen = sum(self.actions.values())
        notes = []
        if seen and denied == seen:
            notes.append("ファイアウォールが拒否" if ja else "blocked by the firewall")
        elif self.actions.get("allow", 0):
            notes.append("ファイアウォールが許可" if ja else "allowed by the firewall")
        if self.answered:
            notes.append("接続が成立" if ja else "the connection was answered")
        if self.new_path:
            notes.append("初めての経路" if ja else "a path never seen before")
        tail = ("（" + "、".join(notes) + "）" if ja else " (" + "; ".join(notes) + ")") if notes else ""
        return {
            "citation": cite,
            "item": checksheet_item(self.policy, self.ref, lang),
            "from_where": _where(self.src_zone, self.src_segment, lang),
            "to_where": _where(self.dst_zone, self.dst_segment, lang),
            "n_sources": f"{len(self.src_ips)}+" if len(self.src_ips) >= _LISTED else len(self.src_ips),
            "port_list": ports,
            "proto_name": self.proto.upper(),
            "n_targets": len(self.dst_ips),
            "how": tail,
        }


ZONE_POLICY = Rule(
    id="zone-policy",
    category="network",
    severity=Severity.HIGH,
    title=Text("ゾーン間の禁止された通信", "Connection the zone policy forbids"),
    short=Text(
        "ゾーンポリシー（HEASNET のチェックシート、または院内の表）が禁じるセグメント間の接続、"
        "またはプロキシを経由すべき接続の直接接続。",
        "A connection between segments that the zone policy (the HEASNET checksheet or the site's own table) "
        "forbids, or a direct one where a proxy is required.",
    ),
    meaning=Text(
        "あるセグメントの機器が、ゾーンポリシーで禁じられた別のセグメント（ゾーン）へ接続を始めました。"
        "例えば DMZ の公開サーバから高セキュアゾーンの電子カルテへ（HEASNET 3-5-1）、高セキュアゾーンから"
        "インターネットへ（3-3-2）、セキュアゾーンの端末からプロキシを通らずに高セキュアゾーンへ（3-6-1）。"
        "侵入された機器が内側へ広がろうとしているか、ネットワークの設定（ルータ・ファイアウォール）が"
        "設計どおりになっていません。大阪の事例では、給食業者のサーバから RDP で次々にサーバへ移動されました。",
        "A device in one segment started a connection into another segment (zone) that the zone policy forbids: "
        "for example from a public server in the DMZ to the electronic medical record in the High Secure Zone "
        "(HEASNET 3-5-1), from the High Secure Zone to the internet (3-3-2), or from a Secure Zone terminal to the "
        "High Secure Zone without the proxy (3-6-1). Either an intruder is spreading inwards, or the routers and "
        "firewalls do not enforce the design. In the Osaka incident the attackers went from the catering "
        "vendor's server over RDP to one server after another.",
    ),
    response=Text(
        "送信元の機器と、その時刻に動いていたプログラム・ログオンを確認します。業務上必要な通信なら、経路を設計"
        "（プロキシ経由にする、または zone_policy に許可の行を加えて理由を ref に書く）します。必要のない通信なら、"
        "ルータ・ファイアウォールで止め、送信元を隔離して同じ送信元の他のアラート（ポートスキャン、ログオン失敗）"
        "も確認してください。ファイアウォールが許可していた場合は、その設定も直します。",
        "Check the source device and what ran or logged on there at that time. If the connection is needed for "
        "the work, design its path (through the proxy, or an allow row in zone_policy with the reason in ref). If "
        "not, stop it at the router or firewall, isolate the source and look at its other alerts (scans, failed "
        "logons). If the firewall allowed it, fix the firewall too.",
    ),
    notes=Text(
        "1 つのアラートは（送信元、セグメントの組、破られた行）ごとです（同じ行を破る送信元が多いときは、"
        "送信元なしの 1 件にまとめ、`src_ips` に並べます）。`reason`: `forbidden`（禁止）または "
        "`no-proxy`（プロキシ経由なら許される接続を直接行った）。`policy`・`ref` は破られた行（HEASNET の"
        "チェックシート項目か院内の参照）、`proxy_ref` は経由すべき道を定める項目。`actions` は見えた接続の数"
        "（`wire`: パケット、`allow`・`deny`: ファイアウォールのログ）、`answered` は SYN-ACK が返った（接続が成立"
        "した）こと、`new_path` はこのセグメント間・危険ポートで初めての接続だったこと。ファイアウォールが拒否した"
        "ものだけなら medium、危険ポートで高セキュアゾーンへの接続が成立した（またはファイアウォールが許可した）ら "
        "critical です。",
        "One alert per (source, pair of segments, rule broken); when many sources break one rule they are gathered "
        "in one alert without a source, listed in `src_ips`. `reason`: `forbidden`, or `no-proxy` "
        "(a connection allowed only through a proxy, made directly). `policy` and `ref` name the row broken (a "
        "HEASNET checksheet item or the site's own reference); `proxy_ref` the item that gives the way through a "
        "proxy. `actions` counts what was seen (`wire`: packets; `allow`, `deny`: firewall logs); `answered`: a "
        "SYN-ACK came back (the connection was made); `new_path`: it was the first connection between these "
        "segments on a dangerous port. Medium when the firewall blocked every attempt; critical when a connection "
        "on a dangerous port into the High Secure Zone was answered (or allowed by the firewall).",
    ),
    details=ZonePolicyDetails,
    summaries=(
        Summary(
            ja="禁止されたゾーン間の接続（{citation}）: {from_where} {n_sources} 台の送信元から {to_where} {dst_ip} "
            "へ {proto_name} {port_list}{how}。{count:,} 回",
            en="Forbidden connection between zones ({citation}): {n_sources} sources {from_where} to {dst_ip} "
            "{to_where}, {proto_name} {port_list}{how}; {count:,} times",
            when=lambda a: a.src_ip is None and bool(a.details.src_ips),
            system=False,
        ),
        Summary(
            ja="プロキシを経由しない接続（{citation}）: {from_where} {src_ip} から {to_where} {dst_ip} へ "
            "{proto_name} {port_list}{how}。{count:,} 回",
            en="Connection bypassing the proxy ({citation}): {src_ip} {from_where} to {dst_ip} {to_where}, "
            "{proto_name} {port_list}{how}; {count:,} times",
            when=lambda a: a.details.reason == "no-proxy",
            system=False,
        ),
        Summary(
            ja="禁止されたゾーン間の接続（{citation}）: {from_where} {src_ip} から {to_where} {dst_ip} へ "
            "{proto_name} {port_list}{how}。{count:,} 回",
            en="Forbidden connection between zones ({citation}): {src_ip} {from_where} to {dst_ip} {to_where}, "
            "{proto_name} {port_list}{how}; {count:,} times",
            system=False,
        ),
    ),
)


# -- new-path ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NewPathDetails(Details):
    src_segment: str | None = None  # None: the address is in no segment
    dst_segment: str | None = None
    src_zone: str = "external"
    dst_zone: str = "external"
    proto: str = "tcp"
    port: int | None = None
    port_name: str = ""
    learning_started: float | None = None  # when the known paths began to be learned
    src_ips: tuple[str, ...] = ()
    dst_ips: tuple[str, ...] = ()

    def words(self, lang: str) -> Mapping[str, Any]:
        port = str(self.port) if self.port is not None else "?"
        if self.port_name:
            port += f" ({self.port_name})"
        return {
            "from_place": _place(self.src_zone, self.src_segment, lang),
            "to_place": _place(self.dst_zone, self.dst_segment, lang),
            "port_text": port,
            "proto_name": self.proto.upper(),
            "n_sources": len(self.src_ips),
            "n_targets": len(self.dst_ips),
        }


NEW_PATH = Rule(
    id="new-path",
    category="network",
    severity=Severity.MEDIUM,
    title=Text("初めての経路（危険ポート）", "New path on a dangerous port"),
    short=Text(
        "学習期間の後、2 つのセグメントの間で危険なポート（RDP、SMB、SSH など）の接続が初めて見えました。",
        "After the learning period, a first connection between two segments on a dangerous port (RDP, SMB, SSH...).",
    ),
    meaning=Text(
        "あるセグメントから別のセグメントへ、危険なポート（リモート操作の RDP・SSH・Telnet、ファイル転送の SMB・FTP、"
        "RPC・NetBIOS・SNMP、Kerberos・LDAP、データベースの SQL Server・Oracle、WinRM）の接続が、学習期間"
        "（既定 14 日）が終わった後で初めて見えました。普段使われない経路です。厚生労働省の研修（大阪の事例）は、"
        "セグメント間でこれらのポートを見張り、「AD から電子カルテへの RDP や SMB がなければ、調査は絞り込める」と"
        "述べています。ゾーンポリシーが禁じる経路なら、学習期間中でもすぐに zone-policy のアラート"
        "（new_path: true）になり、このアラートは出ません。",
        "A connection on a dangerous port (remote access RDP, SSH, Telnet; file transfer SMB, FTP; RPC, NetBIOS, "
        "SNMP; Kerberos, LDAP; the SQL Server and Oracle databases; WinRM) was seen for the first time between two "
        "segments after the learning period (14 days by default): a path not normally used. The Ministry's "
        'training on the Osaka incident says to watch these ports between segments: "if there is no RDP or SMB '
        'from AD to the EMR, the investigation narrows". A path the zone policy forbids is reported at once, '
        "during the learning period too, as a zone-policy alert (new_path: true) instead of this one.",
    ),
    response=Text(
        "新しい経路が、予定された作業（保守、システムの追加、移設）によるものか確認します。予定どおりなら記録して"
        "おけば、以後この経路は既知として扱われます。心当たりがなければ、送信元の機器のログオンと動いている"
        "プログラムを調べ、同じ送信元から他のセグメントへの接続（水平展開）がないか確認してください。",
        "Check whether the new path comes from planned work (maintenance, a new system, a move). If so, note it: "
        "the path is known from now on. If not, look at the source's logons and running programs, and whether it "
        "also reaches other segments (lateral movement).",
    ),
    notes=Text(
        "1 つのアラートは（送信元セグメント、宛先セグメント、プロトコル、ポート）ごとです。既知の経路はデータベース"
        "に保存され、再起動しても残ります（上限 detection.new_path.max_paths、最も長く見えていない経路から忘れます）。"
        "ファイアウォールが拒否した接続は経路として数えません。`src_ips`・`dst_ips` はアラートの間に見えた機器です。",
        "One alert per (source segment, destination segment, protocol, port). The known paths are kept in the "
        "database and survive restarts (at most detection.new_path.max_paths; the path unseen for longest is "
        "forgotten first). Connections a firewall denied do not count as paths. `src_ips`, `dst_ips` list the "
        "devices seen while the alert was open.",
    ),
    details=NewPathDetails,
    summaries=(
        Summary(
            ja="初めての経路: {from_place}から {to_place}へ {proto_name} {port_text}（最初は {src_ip} → {dst_ip}）。"
            "{count:,} 回",
            en="New path: from {from_place} to {to_place} on {proto_name} {port_text} (first {src_ip} → {dst_ip}); "
            "{count:,} connections",
            system=False,
        ),
    ),
)

RULES = (ZONE_POLICY, NEW_PATH)
