"""LAN threats of the HEASNET report (2007) a sensor on the segment can see: passwords in clear text (T1), the
topology broken by a rogue DHCP server or IPv6 router (T6), injected resets (T14-T16)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details

__all__ = ["CLEARTEXT_CREDENTIALS", "PROTOCOL_NAMES", "ROGUE_DHCP", "ROGUE_RA", "RULES", "TCP_RESET_INJECTION"]

# protocol code -> (Japanese, English), as detectors write them
PROTOCOL_NAMES: Mapping[str, tuple[str, str]] = {
    "ftp": ("FTP", "FTP"),
    "telnet": ("Telnet", "Telnet"),
    "http-basic": ("HTTP Basic 認証", "HTTP Basic authentication"),
    "pop3": ("POP3", "POP3"),
    "imap": ("IMAP", "IMAP"),
    "snmp-v1": ("SNMP v1 のコミュニティ名", "SNMP v1 community"),
    "snmp-v2c": ("SNMP v2c のコミュニティ名", "SNMP v2c community"),
    "ldap": ("LDAP の簡易バインド", "LDAP simple bind"),
    "ntlmv1": ("NTLMv1 認証", "NTLMv1 authentication"),
}


def _protocol(code: str, lang: str) -> str:
    names = PROTOCOL_NAMES.get(code)
    if names is None:
        return code
    return names[0] if lang == "ja" else names[1]


# -- cleartext-credentials -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CleartextDetails(Details):
    protocol: str = ""
    accounts: tuple[str, ...] = ()
    logins: int = 0
    password_tags: tuple[str, ...] = ()  # salted hash prefixes: the same tag on two servers is a reused password
    reused_on: tuple[str, ...] = ()  # other servers where one of these passwords was seen

    def words(self, lang: str) -> Mapping[str, Any]:
        accounts = ", ".join(self.accounts) if self.accounts else "-"
        return {"protocol_name": _protocol(self.protocol, lang), "account_list": accounts}


CLEARTEXT_CREDENTIALS = Rule(
    id="cleartext-credentials",
    category="network",
    severity=Severity.HIGH,
    title=Text("平文のパスワード", "Password sent in clear text"),
    short=Text(
        "暗号化されていない通信（Telnet・FTP・HTTP Basic など）でログインのパスワードが流れました。",
        "A login's password crossed the LAN unencrypted (Telnet, FTP, HTTP Basic and the like).",
    ),
    meaning=Text(
        "端末がサーバに、暗号化されていない方式でログインしました（HEASNET 報告書の脅威 T1: 盗聴）。同じ LAN に"
        "つながった機器なら、そのアカウントとパスワードを読み取れます。mamori はパスワードそのものを保存せず、"
        "同じパスワードが別のサーバでも使われているかを数えるための短い符号（ソルト付きハッシュの先頭）だけを"
        "残します。SNMP v1/v2c のコミュニティ名はパスワードと同じ扱いです。NTLMv1 は応答からパスワードの"
        "ハッシュを短時間で割り出せる古い方式です。",
        "A terminal logged in to a server with a method that is not encrypted (threat T1 of the HEASNET report: "
        "eavesdropping). Any device on the same LAN can read the account and its password. mamori never stores the "
        "password: it keeps only a short code (the start of a salted hash) to count the servers where the same "
        "password is used. An SNMP v1/v2c community is treated as a password. NTLMv1 is an old method whose answer "
        "gives away the password's hash quickly.",
    ),
    response=Text(
        "このアカウントのパスワードを変更し、暗号化された方式（SSH、SFTP/FTPS、HTTPS、POP3S/IMAPS、SNMPv3、"
        "LDAPS、NTLMv2 または Kerberos）に切り替えてください。同じパスワードを使い回しているサーバがあれば"
        "（「同じパスワードのサーバ」）、そちらも変更します。機器の都合で変えられない場合は、通信する端末と"
        "サーバを専用の VLAN に分けて記録に残してください（チェックリスト 2-⑧・2-⑫ の証跡になります）。",
        "Change this account's password and move to an encrypted method (SSH, SFTP/FTPS, HTTPS, POP3S/IMAPS, SNMPv3, "
        'LDAPS, NTLMv2 or Kerberos). If the same password is used on other servers ("same password on"), change it '
        "there too. Where a device cannot be changed, keep its terminals and server in a VLAN of their own and "
        "record the decision (evidence for checklist items 2-⑧ and 2-⑫).",
    ),
    notes=Text(
        "`protocol`: `ftp`・`telnet`・`http-basic`・`pop3`・`imap`・`snmp-v1`・`snmp-v2c`・`ldap`・`ntlmv1`。"
        "1 つの端末・サーバ・ポート・方式につき 1 件で、続くログインは件数（`logins`）に加わります。"
        "`password_tags` はパスワードのソルト付きハッシュ（PBKDF2）の先頭 6 桁で、ソルトは導入ごとに作られ"
        "データベースに保存されます。`reused_on` は同じ符号が見えた他のサーバです。匿名 FTP と空のパスワードは"
        "対象外です。",
        "`protocol`: `ftp`, `telnet`, `http-basic`, `pop3`, `imap`, `snmp-v1`, `snmp-v2c`, `ldap`, `ntlmv1`. One "
        "alert per terminal, server, port and method; later logins add to `logins`. `password_tags` are the first "
        "6 hex digits of the password's salted hash (PBKDF2), with a salt made per installation and kept in the "
        "database; `reused_on` lists the other servers where the same tag was seen. Anonymous FTP and empty "
        "passwords are not reported.",
    ),
    details=CleartextDetails,
    summaries=(
        Summary(
            ja="{src_ip} から {dst_ip}:{dst_port} への {protocol_name} で、アカウント {account_list} のパスワードが"
            "平文で流れました（同じパスワードが他のサーバでも使われています）。{count:,} 回",
            en="{protocol_name} from {src_ip} to {dst_ip}:{dst_port} sent the password of {account_list} in clear "
            "text (the same password is used on other servers too); {count:,} times",
            when=lambda a: bool(a.details.reused_on),
        ),
        Summary(
            ja="{src_ip} から {dst_ip}:{dst_port} への {protocol_name} で、アカウント {account_list} のパスワードが"
            "平文で流れました。{count:,} 回",
            en="{protocol_name} from {src_ip} to {dst_ip}:{dst_port} sent the password of {account_list} in clear "
            "text; {count:,} times",
        ),
    ),
    labels={
        "protocol": Text("方式", "Method"),
        "logins": Text("ログインの回数", "Logins"),
        "password_tags": Text("パスワードの符号（ハッシュの先頭）", "Password codes (start of the hash)"),
        "reused_on": Text("同じパスワードのサーバ", "Same password on"),
    },
    values={("protocol", code): Text(ja, en) for code, (ja, en) in PROTOCOL_NAMES.items()},
)


# -- rogue-dhcp -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RogueDhcpDetails(Details):
    segment: str | None = None
    registered: tuple[str, ...] = ()
    offered: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    dns_servers: tuple[str, ...] = ()
    messages: Mapping[str, int] | None = None  # offer / ack / nak -> count

    def words(self, lang: str) -> Mapping[str, Any]:
        where = self.segment or ("どのセグメントにもない" if lang == "ja" else "no segment")
        return {"segment_name": where}


ROGUE_DHCP = Rule(
    id="rogue-dhcp",
    category="network",
    severity=Severity.HIGH,
    title=Text("登録外の DHCP サーバ", "Rogue DHCP server"),
    short=Text(
        "セグメントの DHCP サーバとして登録されていない機器が、端末にアドレスを配っています。",
        "A device that is not the segment's registered DHCP server is handing out addresses.",
    ),
    meaning=Text(
        "セグメントに登録された DHCP サーバ以外の機器が DHCP の応答（OFFER・ACK）を送りました（HEASNET 報告書の"
        "脅威 T6: ネットワーク構成の破壊）。持ち込まれた家庭用ルータや設定を誤った機器のほか、攻撃者が偽の"
        "ゲートウェイや DNS サーバを配って通信を横取りする手口があります。端末が誤ったアドレスを受け取ると、"
        "部門システムにつながらなくなります。",
        "A device other than the segment's registered DHCP servers answered DHCP requests (OFFER, ACK): threat T6 "
        "of the HEASNET report, the network's structure broken. It may be a home router plugged in or a misconfigured "
        "device, or an attacker handing out a false gateway or DNS server to intercept traffic. Terminals that take "
        "its addresses may lose the department systems.",
    ),
    response=Text(
        "送信元の MAC アドレスから、スイッチの MAC アドレステーブルでつながっているポートを探し、その機器を"
        "外してください。正規の DHCP サーバ（またはリレー）なら、設定ファイルのセグメントの `dhcp_servers` に"
        "加えます。配られたゲートウェイや DNS サーバが正規のものでなければ、その間に通信した端末を確認します。",
        "Find the switch port of the sender's MAC address (the switch's MAC address table) and unplug the device. "
        "If it is a legitimate DHCP server (or relay), add it to the segment's `dhcp_servers` in the settings file. "
        "If the gateway or DNS servers it handed out are not yours, check the terminals that used them meanwhile.",
    ),
    notes=Text(
        "セグメントは配られたアドレスで決まります（なければ送信元のアドレス）。`dhcp_servers` を書いたセグメント"
        "だけを判定し、空のリスト `[]` は「DHCP サーバはない」という意味です。1 台の送信元につき 1 件です。",
        "The segment is the one of the address handed out (else of the sender). Only segments that list "
        "`dhcp_servers` are judged; an empty list `[]` means no DHCP server is expected. One alert per sender.",
    ),
    details=RogueDhcpDetails,
    summaries=(
        Summary(
            ja="登録外の DHCP サーバ {src_ip} ({src_mac}) がセグメント {segment_name} でアドレスを配りました。"
            "{count:,} 回",
            en="Unregistered DHCP server {src_ip} ({src_mac}) handed out addresses on segment {segment_name}; "
            "{count:,} times",
        ),
    ),
    labels={
        "registered": Text("登録された DHCP サーバ", "Registered DHCP servers"),
        "offered": Text("配られたアドレス", "Addresses handed out"),
        "gateways": Text("配られたゲートウェイ", "Gateways handed out"),
        "dns_servers": Text("配られた DNS サーバ", "DNS servers handed out"),
        "messages": Text("DHCP の応答", "DHCP answers"),
    },
)


# -- rogue-ra ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RogueRaDetails(Details):
    reason: str = "unregistered-router"  # unregistered-router | none-expected
    segment: str | None = None
    registered: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    router_lifetime: int | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        where = self.segment or ("どのセグメントにもない" if lang == "ja" else "no segment")
        return {"segment_name": where}


ROGUE_RA = Rule(
    id="rogue-ra",
    category="network",
    severity=Severity.HIGH,
    title=Text("登録外の IPv6 ルータ広告", "Rogue IPv6 router advertisement"),
    short=Text(
        "IPv6 のルータ広告が、登録されたルータ以外から、または IPv6 を使わないセグメントで流れました。",
        "An IPv6 router advertisement came from an unregistered router, or on a segment without IPv6.",
    ),
    meaning=Text(
        "IPv6 のルータ広告（RA）を受けた端末は、それを送った機器を自分のゲートウェイとして使い始めます。IPv4 だけの"
        "つもりのセグメントでも Windows は IPv6 を有効にしているため、偽の RA で通信を横取りできます（HEASNET 報告書"
        "の脅威 T6）。持ち込まれたルータや、IPv6 の共有を有効にした PC のこともあります。",
        "Terminals that receive an IPv6 router advertisement (RA) start using its sender as their gateway. Windows "
        "has IPv6 on even on segments meant to be IPv4-only, so a false RA can intercept traffic (threat T6 of the "
        "HEASNET report). It may also be a router plugged in, or a PC sharing its connection over IPv6.",
    ),
    response=Text(
        "送信元の MAC アドレスからスイッチのポートを探し、機器を外すか設定を直してください。スイッチで RA Guard を"
        "有効にすると、ルータのポート以外からの RA を止められます。正規のルータなら、セグメントの `routers_v6` に"
        "加えます。",
        "Find the switch port of the sender's MAC address and unplug or reconfigure the device. RA Guard on the "
        "switch stops RAs from any port but the router's. If the router is legitimate, add it to the segment's "
        "`routers_v6`.",
    ),
    notes=Text(
        "`routers_v6` を書いたセグメントだけを判定します（空のリスト `[]` は「RA はない」）。広告されたプレフィックス"
        "がセグメントにあればそのセグメントの一覧で、なければ全セグメントの一覧で判定します。`reason`: "
        "`unregistered-router`・`none-expected`。1 台の送信元につき 1 件です。",
        "Only segments that list `routers_v6` are judged (an empty list `[]`: no RA expected). An RA whose prefix "
        "lies in a segment is judged by that segment's list, else by every segment's. `reason`: "
        "`unregistered-router`, `none-expected`. One alert per sender.",
    ),
    details=RogueRaDetails,
    summaries=(
        Summary(
            ja="IPv6 を使わないセグメント {segment_name} で、{src_ip} ({src_mac}) がルータ広告を送りました。"
            "{count:,} 回",
            en="{src_ip} ({src_mac}) sent IPv6 router advertisements on segment {segment_name}, where none are "
            "expected; {count:,} times",
            when=lambda a: a.details.reason == "none-expected",
        ),
        Summary(
            ja="登録外のルータ {src_ip} ({src_mac}) が IPv6 のルータ広告を送りました（セグメント {segment_name}）。"
            "{count:,} 回",
            en="Unregistered router {src_ip} ({src_mac}) sent IPv6 router advertisements (segment {segment_name}); "
            "{count:,} times",
        ),
    ),
    labels={
        "registered": Text("登録されたルータ", "Registered routers"),
        "prefixes": Text("広告されたプレフィックス", "Prefixes advertised"),
        "router_lifetime": Text("ルータの有効時間（秒）", "Router lifetime (seconds)"),
    },
    values={
        ("reason", "unregistered-router"): Text("登録外のルータ", "an unregistered router"),
        ("reason", "none-expected"): Text("RA のないはずのセグメント", "a segment without RAs"),
    },
)


# -- tcp-reset-injection ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ResetInjectionDetails(Details):
    reasons: tuple[str, ...] = ()  # seq-out-of-window | ttl-mismatch | mac-mismatch
    claimed: tuple[str, ...] = ()  # the endpoints the resets claimed to come from
    connections: int = 0
    expected_ttl: int | None = None
    seen_ttls: tuple[int, ...] = ()
    expected_mac: str | None = None
    seq_distance: int | None = None  # the largest distance of a reset's sequence number from the expected one


TCP_RESET_INJECTION = Rule(
    id="tcp-reset-injection",
    category="network",
    severity=Severity.HIGH,
    title=Text("偽造された TCP リセット", "Injected TCP reset"),
    short=Text(
        "部門サーバの接続を切るリセット（RST）が、通信の相手ではない機器から送られたようです。",
        "Resets (RST) that cut a department server's connections seem to come from a device other than the peer.",
    ),
    meaning=Text(
        "接続を切る TCP のリセットが、その接続の相手が送ったものと合いません: シーケンス番号が相手の送っている"
        "範囲から外れている、TTL（経由したルータの数）が相手のパケットと違う、または送信元 MAC が相手のものと違う"
        "（HEASNET 報告書の脅威 T14〜T16: セッションの妨害・乗っ取り）。同じ LAN の機器が部門システムの通信を"
        "妨害しているおそれがあります。ファイアウォールや IPS が相手の代わりにリセットを送る場合もあります。",
        "TCP resets that cut a connection do not match the connection's peer: their sequence number lies outside "
        "what the peer was sending, their TTL (the routers passed) differs from the peer's packets, or their source "
        "MAC is not the peer's (threats T14-T16 of the HEASNET report: sessions disrupted or hijacked). A device on "
        "the LAN may be disrupting the department system's traffic. A firewall or IPS resetting connections on the "
        "peer's behalf looks the same.",
    ),
    response=Text(
        "送信元 MAC（`src_mac`）の機器をスイッチの MAC アドレステーブルで探してください。ファイアウォールや IPS の"
        "ものでなければ、その機器を隔離し、同じ機器の他のアラート（ARP 詐称など）も確認します。",
        "Find the device with the source MAC (`src_mac`) in the switch's MAC address table. If it is not a firewall "
        "or IPS, isolate it and look at its other alerts (ARP spoofing in particular).",
    ),
    notes=Text(
        "部門システムのポート（または `detection.tcp_reset_injection.ports`）の接続だけを、SYN・SYN-ACK と"
        "IP の識別番号で間引いた通常のパケットから追います。`reasons`: `seq-out-of-window`・`ttl-mismatch`・"
        "`mac-mismatch`。サーバと送信元 MAC ごとに 1 件です。",
        "Only connections on the department systems' ports (or `detection.tcp_reset_injection.ports`) are followed, "
        "from their SYN and SYN-ACK and a sample of their other packets (by IP identification). `reasons`: "
        "`seq-out-of-window`, `ttl-mismatch`, `mac-mismatch`. One alert per server and source MAC.",
    ),
    details=ResetInjectionDetails,
    summaries=(
        Summary(
            ja="{dst_ip}:{dst_port} の接続に、相手を装ったリセットが送られました（送信元 MAC {src_mac}）。{count:,} 回",
            en="Resets claiming to come from the peer were sent into connections of {dst_ip}:{dst_port} (source MAC "
            "{src_mac}); {count:,} times",
        ),
    ),
    labels={
        "reasons": Text("合わない点", "Mismatches"),
        "claimed": Text("装われた送信元", "Claimed senders"),
        "connections": Text("切られた接続の数", "Connections reset"),
        "expected_ttl": Text("相手のパケットの TTL", "Peer's TTL"),
        "seen_ttls": Text("リセットの TTL", "Resets' TTL"),
        "expected_mac": Text("相手のパケットの MAC", "Peer's MAC"),
        "seq_distance": Text("シーケンス番号のずれ（バイト）", "Sequence number off by (bytes)"),
    },
    values={
        ("reasons", "seq-out-of-window"): Text("シーケンス番号が範囲外", "sequence number out of window"),
        ("reasons", "ttl-mismatch"): Text("TTL が違う", "TTL differs"),
        ("reasons", "mac-mismatch"): Text("送信元 MAC が違う", "source MAC differs"),
    },
)


RULES: tuple[Rule, ...] = (CLEARTEXT_CREDENTIALS, ROGUE_DHCP, ROGUE_RA, TCP_RESET_INJECTION)
