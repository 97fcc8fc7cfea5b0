"""The words for the fields of alert details and for the codes some of them hold, in Japanese and English.

The evidence table of the alert page and the e-mail body list an alert's details; a person reads "登録済みの MAC"
there, not ``registered_mac``. Field names are shared by many rules (``computer``, ``ports``, ``src_ips``), so the
words are one vocabulary here rather than repeated in each rule's declaration; a rule may still name a field in its
own way through :attr:`mamori.rules.Rule.labels`. A test checks that every field of every catalogued rule has words,
so a new rule cannot show a bare field name. A plugin rule without words for its fields gets the field name with its
underscores turned into spaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mamori.rules.system import CHECK_NAMES  # the self-check's check ids, named once beside its rule

__all__ = ["FIELD_WORDS", "VALUE_WORDS", "field_label", "has_words", "value_label"]

# field -> (Japanese, English)
FIELD_WORDS: Mapping[str, tuple[str, str]] = {
    "account": ("アカウント", "Account"),
    "accounts": ("アカウント数", "Accounts"),
    "accounts_count": ("アカウント数", "Number of accounts"),
    "action": ("動作", "Action"),
    "actions": ("方針の定め", "Policy decision"),
    "actor": ("操作したアカウント", "Done by"),
    "after_rdp_logon": ("RDP ログオン後", "After an RDP logon"),
    "age_hours": ("最後の成功からの時間（時間）", "Hours since the last success"),
    "allowlist": ("許可リスト", "Allow list"),
    "answered": ("応答あり（接続成立）", "Answered (connection made)"),
    "auth_package": ("認証方式", "Authentication package"),
    "caller_computer": ("ロックアウトの発生元コンピュータ", "Caller computer"),
    "category": ("分類", "Category"),
    "changes": ("変更内容", "Changes"),
    "checked_by": ("照合に使った値", "Checked by"),
    "claimed_mac": ("名乗った MAC", "Claiming MAC"),
    "commands": ("実行されたコマンド", "Commands run"),
    "commands_count": ("コマンドの数", "Number of commands"),
    "computer": ("コンピュータ", "Computer"),
    "correlation": ("相関", "Correlation"),
    "deleted": ("消されたもの", "What was deleted"),
    "destination": ("接続先", "Destination"),
    "destinations": ("接続先", "Destinations"),
    "destinations_count": ("接続先の数", "Number of destinations"),
    "detection": ("検知の種類", "Kind of detection"),
    "device": ("機器", "Device"),
    "direction": ("走査の方向", "Scan direction"),
    "distinct_sources": ("送信元の数", "Distinct sources"),
    "dst_ips": ("宛先 IP", "Destination IPs"),
    "dst_segment": ("宛先セグメント", "Destination segment"),
    "dst_zone": ("宛先ゾーン", "Destination zone"),
    "errno": ("エラー番号", "Error number"),
    "error": ("エラー", "Error"),
    "ethernet_source": ("Ethernet 送信元 MAC", "Ethernet source MAC"),
    "event_ids": ("イベント ID", "Event IDs"),
    "every_hours": ("予定の間隔（時間）", "Interval (hours)"),
    "evidence": ("根拠", "Evidence"),
    "expected": ("設定した世代数", "Generations declared"),
    "failure": ("失敗の内容", "Failure"),
    "failures": ("失敗回数", "Failures"),
    "failures_since": ("失敗の始まり", "Failures since"),
    "gateway": ("ゲートウェイ", "Gateway"),
    "gateway_mac": ("ゲートウェイの MAC", "Gateway MAC"),
    "generations": ("残っている世代数", "Generations kept"),
    "gratuitous": ("Gratuitous ARP の数", "Gratuitous ARPs"),
    "group": ("グループ", "Group"),
    "handshakes_answered": ("応答した接続", "Handshakes answered"),
    "handshakes_refused": ("拒否した接続", "Handshakes refused"),
    "host": ("ホスト", "Host"),
    "hosts": ("ホスト数", "Hosts"),
    "how": ("見えた方法", "Seen by"),
    "image_path": ("実行ファイル", "Executable"),
    "incomplete_ratio": ("未完了の割合", "Share without a completed handshake"),
    "job": ("バックアップ", "Backup"),
    "kind": ("確認の方法", "Checked through"),
    "last_failure": ("最後の失敗", "Last failure"),
    "last_success": ("最後の成功", "Last success"),
    "learning_started": ("学習の開始", "Learning started"),
    "log": ("ログ", "Log"),
    "logon_type": ("ログオンの種類", "Logon type"),
    "logs": ("ログ", "Logs"),
    "logs_count": ("ログの数", "Number of logs"),
    "mac": ("MAC アドレス", "MAC address"),
    "macs": ("MAC アドレス", "MAC addresses"),
    "margin_hours": ("猶予（時間）", "Margin (hours)"),
    "matched_by": ("結び付けた根拠", "Matched by"),
    "name": ("名前", "Name"),
    "new_path": ("初めての経路", "First time on this path"),
    "newest": ("最新の世代", "Newest generation"),
    "oldest": ("最古の世代", "Oldest generation"),
    "path": ("パス", "Path"),
    "peak_rate": ("最大の速さ（毎秒）", "Peak rate (per second)"),
    "pending": ("保留中の件数", "Pending"),
    "policy": ("ゾーン方針", "Zone policy"),
    "port": ("ポート", "Port"),
    "port_name": ("ポートの用途", "Port's use"),
    "port_names": ("ポートの用途", "Ports' use"),
    "ports": ("ポート", "Ports"),
    "privileged": ("特権グループ", "Privileged group"),
    "proto": ("プロトコル", "Protocol"),
    "proxy_ref": ("プロキシの規定", "Proxy rule"),
    "reason": ("理由", "Reason"),
    "recovered_at": ("回復した時刻", "Recovered at"),
    "resumed_at": ("再開した時刻", "Resumed at"),
    "site": ("拠点", "Site"),
    "packet_source": ("監視ポート（パケットの取得元）", "Capture source"),
    "last_message": ("最後のメッセージ", "Last message"),
    "silent_minutes": ("届いていない時間（分）", "Minutes without a message"),
    "threshold_minutes": ("しきい値（分）", "Threshold (minutes)"),
    "ref": ("チェックシートの項目", "Checksheet item"),
    "registered_ip": ("登録済みの IP", "Registered IP"),
    "registered_mac": ("登録済みの MAC", "Registered MAC"),
    "registered_mac_learned": ("登録 MAC は学習で得たもの", "Registered MAC was learned"),
    "replies": ("ARP 応答の数", "ARP replies"),
    "requests": ("ARP 要求の数", "ARP requests"),
    "role": ("役割", "Role"),
    "scan_type": ("走査の手法", "Scan technique"),
    "scan_types": ("使われた手法", "Techniques used"),
    "seen_at": ("見えた時刻", "Seen at"),
    "service": ("サービス", "Service"),
    "services": ("サービス", "Services"),
    "services_count": ("サービスの数", "Number of services"),
    "sigma_file": ("Sigma ルールのファイル", "Sigma rule file"),
    "sigma_id": ("Sigma ルール ID", "Sigma rule id"),
    "sigma_title": ("Sigma ルール名", "Sigma rule title"),
    "source": ("送信元", "Source"),
    "source_ips": ("送信元 IP", "Source IPs"),
    "source_macs": ("送信元 MAC", "Source MACs"),
    "spoofed_sources": ("偽装と思われる送信元", "Likely spoofed sources"),
    "src_ips": ("送信元 IP", "Source IPs"),
    "src_segment": ("送信元セグメント", "Source segment"),
    "src_zone": ("送信元ゾーン", "Source zone"),
    "status": ("状態コード", "Status code"),
    "sub_status": ("詳細な状態コード", "Sub-status code"),
    "successes": ("成功回数", "Successes"),
    "suspicious": ("不審な点", "Suspicious"),
    "target_server": ("対象サーバー", "Target server"),
    "target_user": ("対象アカウント", "Target account"),
    "terminal": ("端末", "Terminal"),
    "tool": ("ツール", "Tool"),
    "top_sources": ("多い送信元", "Top sources"),
    "users": ("アカウント", "Accounts"),
    "via": ("経路", "Via"),
    "via_gateway": ("ゲートウェイ経由", "Through the gateway"),
    "what": ("対象", "What is backed up"),
    "window": ("オンラインにしてよい時間帯", "Allowed online window"),
    "workstation": ("ワークステーション名", "Workstation"),
    "peak_hosts": ("一つの時間幅で到達したホストの最大数", "Most hosts reached within one window"),
    "targets": ("到達した相手", "Hosts reached"),
    "targets_count": ("到達した相手の数", "Number of hosts reached"),
    "by": ("まとめた単位", "Grouped by"),
    "session": ("セッション番号", "Session number"),
    "vendor": ("保守業者", "Vendor"),
    "remote_ip": ("VPN 接続元の外部アドレス", "VPN peer's own address"),
    "differences": ("作業計画との違い", "Differences from the work plan"),
    "off_plan": ("計画にない対象・ポート・アカウント", "Targets, ports, accounts not in the plan"),
    "plan": ("作業計画", "Work plan"),
    "ticket": ("作業計画の番号", "Work plan reference"),
    "scan_id": ("スキャンの実行番号", "Scan run number"),
    "segment": ("セグメント", "Segment"),
    "observer": ("観測した位置（スキャン元・最初の接続元）", "Seen from (scanner or first client)"),
    "new_ports": ("新しく開いたポート", "Newly open ports"),
    "unneeded_ports": ("役割に不要なポート", "Ports the role does not need"),
    "database_ports": ("他のセグメントから届くデータベースのポート", "Database ports reachable from other segments"),
    "gone_ports": ("閉じたポート（前回は開いていた）", "Ports now closed (open last time)"),
    "first_scan_id": ("最初に見つけたスキャンの実行番号", "Scan run that first found it"),
    "ended_scan_id": ("このアラートの更新を終えたスキャンの実行番号", "Scan run that ended this alert"),
    "ended": ("更新を終えた理由", "Why it is no longer updated"),
    "sources": ("送信元", "Sources"),
    "methods": ("手段と回数", "Methods and counts"),
    "local_admin_ntlm": ("NTLM でログオンされたローカル Administrator", "Local Administrator logged on with NTLM"),
    "remote_services": ("管理共有の後に作られたサービス", "Services created after admin-share access"),
    "checks": ("問題のあった点検項目", "Checks with a problem"),
    "problems": ("問題の数", "Problems"),
    "machine": ("機械", "Machine"),
}

# (field, code) -> (Japanese, English): codes a detector writes that a person should read as words
VALUE_WORDS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("reason", "unregistered-ip"): ("登録されていない IP", "IP not registered"),
    ("reason", "unregistered-mac"): ("登録されていない MAC", "MAC not registered"),
    ("reason", "ip-mismatch"): ("登録と違う IP（MAC は登録済み）", "registered MAC with another IP"),
    ("reason", "registered-binding"): ("登録済みの IP を別の MAC が名乗った", "a registered IP claimed by another MAC"),
    ("reason", "flip-flop"): ("同じ IP の MAC が入れ替わる", "the IP's MAC flips back and forth"),
    ("reason", "forbidden"): ("方針で禁止された通信", "forbidden by the policy"),
    ("reason", "no-proxy"): ("プロキシを経由していない", "not through the proxy"),
    ("role", "gateway"): ("ゲートウェイ", "gateway"),
    ("role", "server"): ("サーバー", "server"),
    ("role", "terminal"): ("端末", "terminal"),
    ("direction", "vertical"): ("1 台の多くのポート", "many ports of one host"),
    ("direction", "horizontal"): ("多くのホストの同じポート", "one port on many hosts"),
    ("checked_by", "ip"): ("IP アドレス", "IP address"),
    ("checked_by", "mac"): ("MAC アドレス", "MAC address"),
    ("detection", "burst"): ("短時間の集中", "a burst"),
    ("detection", "slow"): ("長時間にわたる少しずつの試行", "slow and spread out"),
    ("via", "explicit-credentials"): ("明示的な資格情報（4648）", "explicit credentials (4648)"),
    ("via", "failures"): ("失敗の記録", "the failures"),
    ("evidence", "packets"): ("パケット（ミラーポート）", "packets (mirror port)"),
    ("evidence", "firewall"): ("ルータ・ファイアウォールのログ", "router / firewall log"),
    ("reason", "fan-out"): ("多くのコンピュータへのログオン", "logons to many computers"),
    ("reason", "remote-service"): (
        "管理共有の後に新しいサービス（PsExec 型）",
        "admin share, then a new service (PsExec-style)",
    ),
    ("reason", "local-admin"): ("ローカル Administrator の NTLM ログオン", "NTLM logons of a local Administrator"),
    ("by", "source"): ("送信元", "source"),
    ("source", "scan"): ("mamori scan（nmap）", "mamori scan (nmap)"),
    ("source", "passive"): ("通信の観測（SYN-ACK）", "traffic seen (SYN-ACK)"),
    ("ended", "cleared"): (
        "機器に指摘がなくなった（止めた・承認した・新しくなくなった）",
        "the host has no finding left (stopped, approved, no longer new)",
    ),
    ("ended", "changed"): ("新しい指摘が見つかり、別のアラートになった", "a new finding opened another alert"),
    ("by", "account"): ("アカウント", "account"),
    ("methods", "rdp"): ("RDP", "RDP"),
    ("methods", "network-logon"): ("ネットワークログオン", "network logon"),
    ("methods", "explicit-credentials"): ("明示的な資格情報", "explicit credentials"),
    ("methods", "admin-share"): ("管理共有", "admin share"),
    ("how", "arp"): ("ARP", "ARP"),
    ("how", "syn"): ("接続の試み（SYN）", "a connection attempt (SYN)"),
    ("how", "answer"): ("接続への応答", "an answer to a connection"),
}
for _code, _ja, _en in (
    ("syn", "SYN スキャン", "SYN scan"),
    ("connect", "接続スキャン", "connect scan"),
    ("fin", "FIN スキャン", "FIN scan"),
    ("null", "NULL スキャン", "NULL scan"),
    ("xmas", "Xmas スキャン", "Xmas scan"),
    ("ack", "ACK スキャン", "ACK scan"),
    ("udp", "UDP スキャン", "UDP scan"),
    ("other", "その他のフラグ", "other flags"),
):
    VALUE_WORDS = {**VALUE_WORDS, ("scan_type", _code): (_ja, _en), ("scan_types", _code): (_ja, _en)}
for _code, (_ja, _en) in CHECK_NAMES.items():
    VALUE_WORDS = {**VALUE_WORDS, ("checks", _code): (_ja, _en)}


for _code, (_ja, _en) in {
    "folder": ("フォルダ", "folder"),
    "restic": ("restic リポジトリ", "restic repository"),
    "borg": ("borg リポジトリ", "borg repository"),
    "wsb": ("Windows Server Backup のイベント", "Windows Server Backup events"),
}.items():
    VALUE_WORDS = {**VALUE_WORDS, ("kind", _code): (_ja, _en)}
for _code, (_ja, _en) in {
    "shadow-copies": ("シャドウコピー", "shadow copies"),
    "shadow-storage": ("シャドウコピー領域の縮小", "shadow copy storage shrunk"),
    "catalog": ("バックアップカタログ", "backup catalog"),
    "system-state": ("システム状態バックアップ", "system state backups"),
    "backups": ("バックアップ", "backups"),
    "recovery": ("Windows 回復機能（無効化）", "Windows recovery (disabled)"),
}.items():
    VALUE_WORDS = {**VALUE_WORDS, ("deleted", _code): (_ja, _en)}


def has_words(name: str) -> bool:
    return name in FIELD_WORDS


def field_label(name: str, lang: str, own: Mapping[str, Any] | None = None) -> str:
    """The words for the field ``name``: the rule's own (``own``, name -> Text) first, then the shared vocabulary,
    then the name with spaces for underscores."""
    if own and name in own:
        text = own[name]
        return str(text.ja if lang == "ja" else text.en)
    words = FIELD_WORDS.get(name)
    if words is None:
        return name.replace("_", " ")
    return words[0] if lang == "ja" else words[1]


def value_label(name: str, value: Any, lang: str, own: Mapping[tuple[str, str], Any] | None = None) -> Any:
    """A code the field ``name`` holds, in words (the rule's own words, ``own``, first); anything else unchanged."""
    if isinstance(value, str):
        if own and (name, value) in own:
            text = own[name, value]
            return str(text.ja if lang == "ja" else text.en)
        words = VALUE_WORDS.get((name, value))
        if words is not None:
            return words[0] if lang == "ja" else words[1]
    return value
