"""Evidence from the logins seen in clear text (the ``cleartext-credentials`` rule; docs/design.md §10, "LAN
threats"): the cleartext methods in use for item 2-⑫ (services that should not be offered) and the passwords seen on
more than one server for item 2-⑧ (no password reuse). Registered with one ``Provider`` line in
``evidence.BUILTIN_PROVIDERS``; reads through the store only.

What mamori sees of passwords is only what crosses the wire in clear text: it can show that a password *is* reused,
never that none is, so 2-⑧ is never proposed as はい from this evidence.
"""

from __future__ import annotations

from collections.abc import Iterable

from mamori.reports.checklist.base import NO, RECENT, Evidence, EvidenceContext, EvidenceLine, day
from mamori.reports.lan import lan_evidence
from mamori.storage.lan import CleartextLoginTable

__all__ = ["LAN_ITEMS", "lan_checklist_evidence"]

LAN_ITEMS = tuple((form, item) for form in ("medical", "vendor") for item in ("2-⑫", "2-⑧"))
_LISTED = 5
_NAMES = {
    "ftp": "FTP",
    "telnet": "Telnet",
    "http": "HTTP Basic",
    "pop3": "POP3",
    "imap": "IMAP",
    "snmp": "SNMP v1/v2c",
    "ldap": "LDAP simple bind",
    "ntlm": "NTLMv1",
}


def _listed(values: list[str], lang: str) -> str:
    shown = ("、" if lang == "ja" else ", ").join(values[:_LISTED])
    if len(values) > _LISTED:
        shown += f" ほか {len(values) - _LISTED} 件" if lang == "ja" else f" and {len(values) - _LISTED} more"
    return shown


def lan_checklist_evidence(ctx: EvidenceContext) -> Iterable[Evidence]:
    """2-⑫: cleartext logins in the last 30 days (no proposal when none was seen: the rule may be off); 2-⑧: a
    password seen on two or more servers proposes いいえ."""
    if ctx.store is None:
        return
    found = lan_evidence(CleartextLoginTable(ctx.store), ctx.now - RECENT)
    if not found.in_use:
        line = EvidenceLine(
            "過去 30 日に平文のログインは記録されていません（cleartext-credentials ルールが有効な場合に記録します）。",
            "No login in clear text was recorded in the last 30 days (recorded when the cleartext-credentials rule "
            "is on).",
            "/alerts/?rule=cleartext-credentials",
        )
        for form, item in LAN_ITEMS:
            yield Evidence(form, item, "cleartext", (line,), None, observed=False)
        return
    uses = [f"{_NAMES.get(u.protocol, u.protocol)} {u.server_ip}:{u.server_port}" for u in found.in_use]
    logins = sum(u.logins for u in found.in_use)
    twelve = EvidenceLine(
        f"過去 30 日に平文のログインを {logins} 回観測しました（{len(uses)} 件のサービス: {_listed(uses, 'ja')}）。"
        "暗号化された方式への切り替えか、サービスの停止を検討してください。",
        f"{logins} logins in clear text were seen in the last 30 days ({len(uses)} services: {_listed(uses, 'en')}). "
        "Move them to an encrypted method or stop the service.",
        "/alerts/?rule=cleartext-credentials",
        {"services": len(uses), "logins": logins},
    )
    if found.reuse:
        shared = [
            f"{'/'.join(r.accounts) or '?'} → {_listed(list(r.servers), 'en')} ({day(r.last_seen)})"
            for r in found.reuse
        ]
        eight = EvidenceLine(
            f"同じパスワードが複数のサーバで使われています: {len(found.reuse)} 件（{_listed(shared, 'ja')}）。"
            "パスワードそのものは保存していません（照合用の短い符号のみ）。",
            f"The same password is used on several servers: {len(found.reuse)} ({_listed(shared, 'en')}). The "
            "password itself is not kept (only a short tag to compare).",
            "/alerts/?rule=cleartext-credentials",
            {"reused": len(found.reuse)},
        )
        eight_proposal: str | None = NO
    else:
        eight = EvidenceLine(
            "平文で見えたパスワードに、複数のサーバで使われたものはありません（暗号化された通信のパスワードは"
            "見えないため、再利用がないことの証明にはなりません）。",
            "No password seen in clear text was used on more than one server (passwords sent encrypted cannot be "
            "seen, so this does not prove there is no reuse).",
            "/alerts/?rule=cleartext-credentials",
        )
        eight_proposal = None
    for form in ("medical", "vendor"):
        yield Evidence(form, "2-⑫", "cleartext", (twelve,), NO)
        yield Evidence(form, "2-⑧", "cleartext", (eight,), eight_proposal)
