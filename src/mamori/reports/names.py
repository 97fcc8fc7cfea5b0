"""The names people read for rule ids, statuses and handling actions, in Japanese and English (for reports that
are not web pages; the dashboard has the same names in its translation catalogue)."""

from __future__ import annotations

__all__ = ["ACTION_NAMES", "RULE_NAMES", "STATUS_NAMES", "rule_label"]

RULE_NAMES: dict[str, tuple[str, str]] = {
    "unregistered-terminal": ("未登録端末", "Unregistered terminal"),
    "port-scan": ("ポートスキャン", "Port scan"),
    "syn-flood": ("SYN フラッド", "SYN flood"),
    "ip-mac-conflict": ("ARP 詐称・IP-MAC 不一致", "ARP spoofing / IP-MAC conflict"),
    "archive-error": ("ログ保管のエラー", "Log archive error"),
    "brute-force": ("総当たり攻撃", "Brute-force logon"),
    "password-spray": ("パスワードスプレー", "Password spraying"),
    "logon-after-failures": ("失敗後のログオン成功", "Logon after failures"),
    "rdp-logon": ("RDP ログオン", "RDP logon"),
    "rdp-outbound": ("外向きの RDP", "Outgoing RDP"),
    "admin-ntlm-logon": ("Administrator の NTLM ログオン", "Administrator NTLM logon"),
    "account-lockout": ("アカウントのロック", "Account lockout"),
    "account-change": ("アカウントの変更", "Account change"),
    "log-cleared": ("ログの消去", "Log cleared"),
    "service-installed": ("サービスの追加", "Service installed"),
    "attack-tool": ("攻撃ツール", "Attack tool"),
    "sigma": ("Sigma ルール", "Sigma rule"),
}
STATUS_NAMES: dict[str, tuple[str, str]] = {
    "open": ("未対応", "Open"),
    "acknowledged": ("確認済み", "Acknowledged"),
    "resolved": ("対応済み", "Resolved"),
    "false_positive": ("誤検知", "False positive"),
}
ACTION_NAMES: dict[str, tuple[str, str]] = {
    "acknowledge": ("確認済みにした", "acknowledged"),
    "resolve": ("対応済みにした", "resolved"),
    "false_positive": ("誤検知とした", "marked as false positive"),
    "reopen": ("未対応に戻した", "reopened"),
    "register_terminal": ("端末を登録した", "registered the terminal"),
}


def rule_label(rule: str) -> str:
    """``port-scan`` -> ``ポートスキャン / Port scan`` (an unknown id as it is)."""
    names = RULE_NAMES.get(rule)
    return f"{names[0]} / {names[1]}" if names else rule
