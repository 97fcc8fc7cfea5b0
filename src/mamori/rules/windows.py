"""The Windows event log rules: what .evtx files and forwarded events show (the Osaka attack chain)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details
from mamori.rules.words import listed

__all__ = ["RULES"]

# Channels named in a log-cleared summary when a burst clears many: the audit log, System, the RDP, PowerShell and
# Sysmon logs.
_IMPORTANT_LOG = re.compile(r"^(security|system)$|terminalservices|remotedesktop|rdp|powershell|sysmon", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class WindowsDetails(Details):
    """What every Windows rule's details carry: the computer that logged the events."""

    computer: str | None = None


def _accounts(users: tuple[str, ...], lang: str) -> str:
    if len(users) == 1:
        return users[0]
    return f"{len(users)} アカウント" if lang == "ja" else f"{len(users)} accounts"


# -- brute-force ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BruteForceDetails(WindowsDetails):
    source: str | None = None
    detection: str | None = None  # burst | slow
    target_user: str | None = None
    users: tuple[str, ...] = ()
    logon_type: int | None = None
    status: str | None = None
    sub_status: str | None = None
    auth_package: str | None = None
    workstation: str | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        slow = self.detection == "slow"
        tail = (
            ("。ゆっくりとした推測（長時間にわたる）" if lang == "ja" else "; slow guessing over a long time")
            if slow
            else ""
        )
        return {"accounts": _accounts(self.users or (self.target_user or "?",), lang), "pace": tail}


BRUTE_FORCE = Rule(
    id="brute-force",
    category="windows",
    severity=Severity.HIGH,
    title=Text("総当たり攻撃", "Brute-force logon"),
    short=Text(
        "同じアカウントへのログオン失敗が短時間に多数（Windows のセキュリティログ）。",
        "Many failed logons to one account in a short time (Windows Security log).",
    ),
    meaning=Text(
        "ログオン失敗（Security 4625）が、1 つの送信元から（送信元が記録されていなければ 1 つのアカウントに対して）"
        "短時間に続いています。攻撃が進行中か、パスワードを誤って設定したプログラムが動いています（大阪の事例では "
        "10 秒間に 27 回、一晩に 1,989 回）。",
        "Failed logons (Security 4625) keep coming from one source (or, when no source is recorded, against one "
        "account): an attack in progress, or a program with a wrong password (the Osaka logs show 27 in 10 s, "
        "1,989 in one night).",
    ),
    response=Text(
        "送信元が自院の機器か確認します。心当たりがなければ、その送信元からの RDP/SMB をファイアウォールで止め、"
        "狙われたアカウントのパスワードを強いものに変え、アカウントロックアウトのポリシーを設定します。同じ時間帯の"
        "「失敗後のログオン成功」を必ず確認してください。保守業者のプログラムの設定誤りなら、業者に直してもらいます"
        "（失敗が常に出ている環境では攻撃を見分けられません）。",
        "Check whether the source is one of yours. If not, block RDP/SMB from it at the firewall, give the accounts "
        'strong passwords, set an account lockout policy, and look for a "logon after failures" at the same time. '
        "If a vendor's program is misconfigured, have the vendor fix it: a log always full of failures hides real "
        "attacks.",
    ),
    notes=Text(
        "既定では 60 秒間に 10 回（`detection: burst`）または 1 時間に 30 回（`detection: slow`）。`users` は狙われた"
        "アカウント、`sub_status` は理由（`0xc000006a` パスワード違い、`0xc0000064` 存在しないユーザー）。",
        "By default 10 within 60 s (`detection: burst`) or 30 within an hour (`detection: slow`). `users` lists the "
        "accounts tried, `sub_status` the reason (`0xc000006a` wrong password, `0xc0000064` no such user).",
    ),
    details=BruteForceDetails,
    summaries=(
        Summary(
            ja="総当たり攻撃: {source} から {computer} の {accounts} へのログオン失敗が {count:,} 回{pace}",
            en="Brute force: {count:,} failed logons from {source} to {accounts} on {computer}{pace}",
            when=lambda a: bool(a.details.source),
        ),
        Summary(
            ja="総当たり攻撃: {computer} の {accounts} へのログオン失敗が {count:,} 回（送信元は記録なし）{pace}",
            en="Brute force: {count:,} failed logons to {accounts} on {computer} (no source recorded){pace}",
        ),
    ),
)


# -- password-spray ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PasswordSprayDetails(WindowsDetails):
    source: str | None = None
    via: str | None = None  # failures | explicit-credentials
    accounts: int = 0
    users: tuple[str, ...] = ()
    target_server: str | None = None


PASSWORD_SPRAY = Rule(
    id="password-spray",
    category="windows",
    severity=Severity.HIGH,
    title=Text("パスワードスプレー", "Password spraying"),
    short=Text("1 つの送信元から多数のアカウントへのログオン失敗。", "Failed logons to many accounts from one source."),
    meaning=Text(
        "1 つの送信元が、多数の異なるアカウントでログオンを試みています（既定 1 時間に 10 アカウント）。よく使われる"
        "パスワードを全員に試す攻撃です。失敗（4625）のほか、その端末上で別のアカウントの資格情報を使ったログオン"
        "（4648）も数えます。",
        "One source tried many different accounts (by default 10 within an hour): the attack that tries a few "
        "common passwords on everyone. Failures (4625) count, and so do logons with explicit credentials (4648: "
        "someone on that machine used other accounts' credentials).",
    ),
    response=Text(
        "送信元の端末を特定して隔離し、試されたアカウントのうちログオンに成功したものがないか（「失敗後のログオン"
        "成功」、ログオン一覧）を確認します。弱いパスワードを使っているアカウントを変更させます。",
        'Isolate the source, check whether any of the accounts tried then logged on ("logon after failures", the '
        "logon summary), and have weak passwords changed.",
    ),
    notes=Text(
        "`via: failures`（4625）または `explicit-credentials`（4648）。`users` は試されたアカウントです。",
        "`via: failures` (4625) or `explicit-credentials` (4648). `users` lists the accounts tried.",
    ),
    details=PasswordSprayDetails,
    summaries=(
        Summary(
            ja="パスワードスプレー: {computer} のユーザー {source} が {accounts} 個のアカウントの資格情報でログオンを"
            "試みました（4648、{count:,} 回）",
            en="Password spraying: user {source} on {computer} tried the credentials of {accounts} accounts (4648 "
            "explicit credentials, {count:,} attempts)",
            when=lambda a: a.details.via == "explicit-credentials",
        ),
        Summary(
            ja="パスワードスプレー: {source} から {computer} の {accounts} 個のアカウントへのログオン失敗"
            "（{count:,} 回）",
            en="Password spraying: failed logons to {accounts} accounts on {computer} from {source} ({count:,})",
        ),
    ),
)


# -- logon-after-failures ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LogonAfterFailuresDetails(WindowsDetails):
    source: str | None = None
    target_user: str | None = None
    logon_type: int | None = None
    matched_by: str | None = None  # source | account
    failures: int = 0
    failures_since: float | None = None
    auth_package: str | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        return {"from": self.source}


LOGON_AFTER_FAILURES = Rule(
    id="logon-after-failures",
    category="windows",
    severity=Severity.CRITICAL,
    title=Text("失敗後のログオン成功", "Logon after failures"),
    short=Text(
        "ログオン失敗が続いた直後の成功。パスワードを推測された可能性があります。",
        "A successful logon right after a run of failures: the password may have been guessed.",
    ),
    meaning=Text(
        "直前（既定 1 時間以内）に 5 回以上ログオンに失敗した送信元、またはアカウントで、ログオン（4624）が成功"
        "しました。攻撃が成功した瞬間である可能性が高く、重大度は critical です。",
        "A logon (4624) succeeded from a source, or for an account, that failed at least 5 times just before "
        "(within an hour by default). Most likely the moment the attack worked: critical.",
    ),
    response=Text(
        "直ちに対応します。そのアカウントのパスワードを変え、ログオン元と対象のコンピュータをネットワークから"
        "切り離し、その後のそのアカウントの操作（ソフトウェアのインストール、RDP での他のサーバへの接続、ログの消去）を"
        "時系列で確認し、セキュリティベンダーに相談します。",
        "Act at once: change the account's password, disconnect the source and the computer, follow what the "
        "account did next in the timeline (installs, RDP to other servers, log clearing), and call your security "
        "vendor.",
    ),
    notes=Text(
        "`matched_by: account` は、失敗に送信元が記録されていない（大阪の事例のように）ためアカウントで結び付けた"
        "ことを示します。`failures` は直前の失敗の数です。",
        "`matched_by: account` says the failures recorded no source (as in the Osaka logs) and were linked by "
        "account; `failures` counts them.",
    ),
    details=LogonAfterFailuresDetails,
    summaries=(
        Summary(
            ja="攻撃が成功した可能性: {computer} で {target_user} のログオンが {from} から成功しました（直前にログオン"
            "失敗 {failures:,} 回、ログオンタイプ {logon_type}）",
            en="Logon after failures: {target_user} logged on to {computer} from {from} after {failures:,} failed "
            "logons (logon type {logon_type}): the attack may have worked",
        ),
    ),
)


# -- rdp-logon --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RdpLogonDetails(WindowsDetails):
    target_user: str | None = None
    users: tuple[str, ...] = ()
    event_ids: tuple[int, ...] = ()
    allowlist: bool = False
    logon_type: int | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        return {"who": ", ".join(sorted(self.users)) or "?"}

    def alert_words(self, lang: str, alert: Any) -> Mapping[str, Any]:
        """A loopback source means RDP through a tunnel."""
        try:
            loopback = alert.src_ip is not None and ipaddress.ip_address(alert.src_ip).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return {"tunnel": ""}
        if lang == "ja":
            return {"tunnel": "。接続元がループバック: RDP がトンネル経由の可能性"}
        return {"tunnel": "; from loopback: RDP through a tunnel"}


RDP_LOGON = Rule(
    id="rdp-logon",
    category="windows",
    severity=Severity.HIGH,
    title=Text("許可されていない RDP ログオン", "RDP logon from a host not allowed"),
    short=Text(
        "管理端末として登録されていない接続元からのリモートデスクトップ（RDP）ログオン。",
        "A Remote Desktop (RDP) logon from an address not listed as an admin host.",
    ),
    meaning=Text(
        "リモートデスクトップ（RDP）でログオンがありました（4624 のログオンタイプ 10、LocalSessionManager 21/25、"
        "RemoteConnectionManager 1149）。接続元が設定の windows.rdp_admin_hosts（管理端末）にないとき high です。"
        "一覧を設定していなければ、すべての RDP ログオンを medium で知らせます。接続元が 127.0.0.1 のときは RDP が"
        "トンネル経由で使われた可能性があります。大阪の事例では給食業者のサーバからの RDP ログオンが侵入の入口でした。",
        "Someone logged on over RDP (4624 logon type 10, LocalSessionManager 21/25, RemoteConnectionManager 1149). "
        "High when the source is not in windows.rdp_admin_hosts (the admins' addresses); without that list every RDP "
        "logon is reported as medium. A source of 127.0.0.1 means RDP through a tunnel. In Osaka, an RDP logon from "
        "the catering vendor's server was the way in.",
    ),
    response=Text(
        "RDP で接続されるサーバ・使うアカウント・接続元の一覧を作り、管理端末を windows.rdp_admin_hosts に登録します。"
        "一覧にない接続元なら、そのセッションを切断し、ネットワークから外すか Windows ファイアウォールで RDP（3389）を"
        "無効にして、セキュリティベンダーに相談します。",
        "List which servers take RDP, with which accounts, from where, and put the admin hosts in "
        "windows.rdp_admin_hosts. For any other source, end the session, disconnect the machine or block RDP (3389) "
        "in its firewall, and call your security vendor.",
    ),
    details=RdpLogonDetails,
    summaries=(
        Summary(
            ja="許可されていない RDP ログオン: {src_ip} から {computer} へ（{who}、{count:,} 件）{tunnel}",
            en="RDP logon from a host not allowed: {src_ip} to {computer} ({who}; {count:,} events){tunnel}",
            when=lambda a: a.details.allowlist,
        ),
        Summary(
            ja="RDP ログオン: {src_ip} から {computer} へ（{who}、{count:,} 件）。許可する管理端末が未設定です"
            "（windows.rdp_admin_hosts）{tunnel}",
            en="RDP logon: {src_ip} to {computer} ({who}; {count:,} events); no allowed admin hosts are set "
            "(windows.rdp_admin_hosts){tunnel}",
        ),
    ),
)


# -- rdp-outbound -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RdpOutboundDetails(WindowsDetails):
    destination: str | None = None
    destinations: tuple[str, ...] = ()
    destinations_count: int = 0
    after_rdp_logon: bool = False

    def words(self, lang: str) -> Mapping[str, Any]:
        total = self.destinations_count or len(self.destinations)
        out: dict[str, Any] = {"total": total, "names": listed(self.destinations, total, lang), "lateral": ""}
        if self.after_rdp_logon:
            out["lateral"] = (
                "。この端末は許可されていない RDP ログオンを受けています: 水平展開の可能性"
                if lang == "ja"
                else "; this machine took an RDP logon from a host not allowed: lateral movement"
            )
        return out


RDP_OUTBOUND = Rule(
    id="rdp-outbound",
    category="windows",
    severity=Severity.MEDIUM,
    title=Text("RDP の外向き接続", "Outgoing RDP"),
    short=Text(
        "このコンピュータが他のコンピュータへ RDP 接続しました（水平展開の典型）。",
        "This computer opened an RDP session to another (how attackers move on).",
    ),
    meaning=Text(
        "このコンピュータが他のコンピュータへ RDP 接続しました（RDPClient 1024・1102）。サーバから他のサーバへの RDP は"
        "水平展開（攻撃者が次のサーバへ移る）の典型で medium、同じコンピュータが許可されていない RDP ログオンを"
        "受けた後なら high です。",
        "This computer opened an RDP session to another (RDPClient 1024, 1102). RDP from server to server is how "
        "attackers move on: medium; high when the same computer took an RDP logon from a host not allowed.",
    ),
    response=Text(
        "接続先のサーバのログ（ログオン、許可されていない RDP ログオン）も確認し、侵害の範囲を特定します。正当な保守"
        "作業でなければ、両方のサーバをネットワークから外します。管理端末は windows.rdp_admin_computers に登録すると"
        "対象外になります。",
        "Look at the destination's logs too, to know how far it went. Unless it was legitimate maintenance, "
        "disconnect both servers. Admin terminals listed in windows.rdp_admin_computers are left out.",
    ),
    details=RdpOutboundDetails,
    summaries=(
        Summary(
            ja="RDP の外向き接続: {computer} が {total:,} 台（{names}）へ RDP 接続しました（{count:,} 件）{lateral}",
            en="Outgoing RDP: {computer} connected to {total:,} machines ({names}) over RDP ({count:,} events)"
            "{lateral}",
            when=lambda a: (a.details.destinations_count or len(a.details.destinations)) > 1,
        ),
        Summary(
            ja="RDP の外向き接続: {computer} が {destination} へ RDP 接続しました（{count:,} 件）{lateral}",
            en="Outgoing RDP: {computer} connected to {destination} over RDP ({count:,} events){lateral}",
        ),
    ),
)


# -- admin-ntlm-logon -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AdminNtlmLogonDetails(WindowsDetails):
    source: str | None = None
    target_user: str | None = None
    successes: int = 0
    failures: int = 0
    logon_type: int | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        if self.source:
            return {"from": self.source}
        return {"from": "送信元不明" if lang == "ja" else "an unrecorded source"}


ADMIN_NTLM_LOGON = Rule(
    id="admin-ntlm-logon",
    category="windows",
    severity=Severity.HIGH,
    title=Text("Administrator の NTLM ログオン", "Administrator NTLM logon"),
    short=Text(
        "組み込みの Administrator が、ドメインを指定せず NTLM でログオンしました（またはしようとしました）。",
        "The built-in Administrator logged on (or tried to) over NTLM as a local account.",
    ),
    meaning=Text(
        "組み込みの Administrator（名前、または SID の末尾 -500）が、ドメインを指定せず（ローカルアカウントとして）"
        "NTLM でログオンしました（4624）またはしようとしました（4625）。普通のプログラムはドメインを指定して Kerberos "
        "を使います。成功があれば high、失敗だけなら low です。",
        "The built-in Administrator (by name, or a SID ending in -500) logged on (4624) or tried to (4625) over NTLM "
        "as a local account, without a domain; normal programs name the domain and use Kerberos. High when one "
        "succeeded, low for failures only.",
    ),
    response=Text(
        "成功していれば、そのサーバの Administrator のパスワードを直ちに変え（サーバごとに違うものに）、ログオン元を"
        "確認します。管理者パスワードの共通化をやめ、リモートからの Administrator ログオンを禁止することを検討して"
        "ください。",
        "After a success, change that server's Administrator password at once (a different one per server) and "
        "check the source. Stop sharing admin passwords; consider denying network logons to the local "
        "Administrator.",
    ),
    details=AdminNtlmLogonDetails,
    summaries=(
        Summary(
            ja="ドメインを指定しない NTLM での Administrator ログオン: {computer} へ {from} から"
            "（成功 {successes:,} 回、失敗 {failures:,} 回）",
            en="NTLM logon of the local Administrator without a domain on {computer} from {from} ({successes:,} "
            "succeeded, {failures:,} failed)",
        ),
    ),
)


# -- account-lockout --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AccountLockoutDetails(WindowsDetails):
    target_user: str | None = None
    caller_computer: str | None = None
    accounts: tuple[str, ...] = ()
    accounts_count: int = 0

    def words(self, lang: str) -> Mapping[str, Any]:
        total = self.accounts_count or len(self.accounts)
        return {"total": total, "names": listed(self.accounts, total, lang)}


ACCOUNT_LOCKOUT = Rule(
    id="account-lockout",
    category="windows",
    severity=Severity.MEDIUM,
    title=Text("アカウントのロックアウト", "Account lockout"),
    short=Text(
        "ログオン失敗が続いたため、アカウントがロックされました。", "An account was locked out after failed logons."
    ),
    meaning=Text(
        "ログオン失敗が続いたため、アカウントがロックされました（4740）。総当たり攻撃の結果か、古いパスワードを使い"
        "続けている端末・サービスです。",
        "An account was locked out after failed logons (4740): a brute force, or a device or service still using an "
        "old password.",
    ),
    response=Text(
        "失敗の発生元（caller_computer）を確認します。攻撃なら「総当たり攻撃」のアラートを見て送信元を止めます。",
        "Check where the failures came from (caller_computer); if it is an attack, see the brute-force alert and "
        "block the source.",
    ),
    details=AccountLockoutDetails,
    summaries=(
        Summary(
            ja="アカウントのロックアウト: {total:,} アカウント（{names}）（{computer}、失敗の発生元 {caller_computer}）"
            "{count:,} 回",
            en="Accounts locked out: {total:,} ({names}) on {computer} (failures came from {caller_computer}), "
            "{count:,}×",
            when=lambda a: (a.details.accounts_count or len(a.details.accounts)) > 1,
        ),
        Summary(
            ja="アカウントのロックアウト: {target_user}（{computer}、失敗の発生元 {caller_computer}）{count:,} 回",
            en="Account locked out: {target_user} on {computer} (failures came from {caller_computer}), {count:,}×",
        ),
    ),
)


# -- account-change ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AccountChangeDetails(WindowsDetails):
    actor: str | None = None
    target_user: str | None = None
    changes: tuple[str, ...] = ()
    privileged: bool = False

    def words(self, lang: str) -> Mapping[str, Any]:
        shown = "; ".join(self.changes[:3]) + (" …" if len(self.changes) > 3 else "")
        return {"shown": shown}


ACCOUNT_CHANGE = Rule(
    id="account-change",
    category="windows",
    severity=Severity.MEDIUM,
    title=Text("アカウントの変更", "Account change"),
    short=Text(
        "ユーザーの作成・削除、グループへのメンバー追加（特権グループは high）。",
        "Users created or deleted, members added to groups (privileged groups: high).",
    ),
    meaning=Text(
        "ユーザーが作成・削除された（4720/4726）、またはグループにメンバーが追加された（4728/4732/4756）。変更した人と"
        "コンピュータごとに 1 件です。Administrators・Remote Desktop Users・Backup Operators・Domain Admins など"
        "特権グループへの追加は high です。攻撃者は侵入後、戻ってくるためのアカウントを作り、管理者グループに"
        "入れます。",
        "Users created or deleted (4720/4726), members added to groups (4728/4732/4756); one alert per actor and "
        "computer. High when a privileged group (Administrators, Remote Desktop Users, Backup Operators, Domain "
        "Admins...) gained a member. Attackers add an account to come back with.",
    ),
    response=Text(
        "変更が申請された作業か確認します。心当たりがなければ、作られたアカウントを無効にし、変更した人（actor）の"
        "アカウントが乗っ取られていないか調べます。",
        "Check the change was requested. If not, disable the new account and find out whether the actor's account "
        "was taken over.",
    ),
    details=AccountChangeDetails,
    summaries=(
        Summary(
            ja="管理者グループの変更: {computer} で {actor} が {shown}",
            en="Privileged group change on {computer} by {actor}: {shown}",
            when=lambda a: a.details.privileged,
        ),
        Summary(
            ja="アカウントの変更: {computer} で {actor} が {shown}",
            en="Account change on {computer} by {actor}: {shown}",
        ),
    ),
)


# -- log-cleared ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LogClearedDetails(WindowsDetails):
    log: str | None = None
    actor: str | None = None
    logs: tuple[str, ...] = ()
    logs_count: int = 0

    def words(self, lang: str) -> Mapping[str, Any]:
        total = self.logs_count or len(self.logs)
        important = sorted(
            (log for log in self.logs if _IMPORTANT_LOG.search(log)),
            key=lambda log: (log.lower() != "security", log.lower() != "system"),
        )
        names = listed(important or self.logs, total, lang, shown=min(len(important), 12) if important else 3)
        first = self.logs[0] if self.logs else (self.log or "?")
        return {"total": total, "names": names, "first": first}


LOG_CLEARED = Rule(
    id="log-cleared",
    category="windows",
    severity=Severity.HIGH,
    title=Text("イベントログの消去", "Event log cleared"),
    short=Text(
        "イベントログが消去されました（攻撃者は痕跡を消します）。",
        "An event log was cleared (attackers erase their tracks).",
    ),
    meaning=Text(
        "Security ログ（1102）または他のログ（System の 104）が消去されました。攻撃者は管理者権限を得るとログを"
        "消します。",
        "The Security log (1102) or another log (System 104) was cleared. Attackers with admin rights clear the logs.",
    ),
    response=Text(
        "消去の前後のイベントを時系列で確認し、消去したアカウントと同じ時間帯のログオンを調べます。ログを別のサーバ"
        "（Windows イベント転送、syslog サーバ）に送っておくと、消されても証跡が残ります。",
        "Read the timeline around it, and the logons of the account that cleared it at that time. Forward logs to "
        "another server (Windows Event Forwarding, a syslog server) so that clearing them does not erase the "
        "evidence.",
    ),
    details=LogClearedDetails,
    summaries=(
        Summary(
            ja="イベントログの消去: {computer} で {actor} が {total:,} 個のログを消去しました（{names}。{count:,} 回）",
            en="Event logs cleared: {actor} cleared {total:,} logs on {computer}: {names} ({count:,}×)",
            when=lambda a: (a.details.logs_count or len(a.details.logs)) > 1,
        ),
        Summary(
            ja="イベントログの消去: {computer} の {first} ログが {actor} により消去されました（{count:,} 回）",
            en="Event log cleared: the {first} log on {computer} was cleared by {actor} ({count:,}×)",
        ),
    ),
)


# -- service-installed ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ServiceInstalledDetails(WindowsDetails):
    service: str | None = None
    image_path: str | None = None
    account: str | None = None
    suspicious: str | None = None
    services: tuple[Mapping[str, Any], ...] = ()
    services_count: int = 0

    def words(self, lang: str) -> Mapping[str, Any]:
        why = ""
        if self.suspicious:
            why = f"。不審: {self.suspicious}" if lang == "ja" else f"; suspicious: {self.suspicious}"
        services = [s for s in self.services if isinstance(s, Mapping)]
        shown = sorted(services, key=lambda s: not s.get("suspicious"))  # the suspicious ones first

        def named(service: Mapping[str, Any]) -> str:  # the command line cut short: all of it is in the details
            image = str(service.get("image_path") or "")
            return f"{service.get('name')} ({image if len(image) <= 80 else image[:80] + '…'})"

        total = self.services_count or len(services)
        return {"why": why, "total": total, "names": listed([named(s) for s in shown], total, lang, shown=2)}


SERVICE_INSTALLED = Rule(
    id="service-installed",
    category="windows",
    severity=Severity.MEDIUM,
    title=Text("サービスの追加", "Service installed"),
    short=Text(
        "サービスが新しく登録されました（PsExec などの遠隔実行の痕跡）。",
        "A service was installed (how PsExec-style remote execution works).",
    ),
    meaning=Text(
        "サービスが新しく登録されました（System 7045、Security 4697）。PsExec や Metasploit の psexec は接続先に"
        "サービスを作って命令を実行します。コマンドラインにシェル、スクリプト、共有フォルダ（ADMIN$）、ユーザーや一時"
        "フォルダ、攻撃ツールの名前があるときは high です。",
        "A service was installed (System 7045, Security 4697); PsExec and Metasploit's psexec run commands this way. "
        "High when its command line holds a shell, a script, an admin share (ADMIN$), a user's or temporary folder, "
        "or an attack tool's name.",
    ),
    response=Text(
        "ソフトウェアの導入・更新の予定と照らし合わせます。心当たりがなければサービスを停止・無効にし、実行ファイル"
        "（image_path）を保全して調べます。",
        "Compare with planned installs and updates. If unknown, stop and disable the service and keep the file in "
        "image_path for analysis.",
    ),
    details=ServiceInstalledDetails,
    summaries=(
        Summary(
            ja="サービスの新規登録: {computer} に {total:,} 個: {names}{why}",
            en="{total:,} new services installed on {computer}: {names}{why}",
            when=lambda a: (a.details.services_count or len(a.details.services)) > 1,
        ),
        Summary(
            ja="サービスの新規登録: {computer} に {service}（{image_path}）{why}",
            en="New service installed on {computer}: {service} ({image_path}){why}",
        ),
    ),
)


# -- attack-tool ------------------------------------------------------------------------------------------------------

_TOOL_ACTIONS = {
    "install": ("インストール", "installed"),
    "run": ("実行", "run"),
    "service": ("サービス登録", "installed as a service"),
    "file": ("ファイル作成", "written to disk"),
}


@dataclass(frozen=True, kw_only=True)
class AttackToolDetails(WindowsDetails):
    tool: str | None = None
    category: str | None = None
    action: str | None = None  # install | run | service | file
    evidence: str | None = None
    event_ids: tuple[int, ...] = ()

    def words(self, lang: str) -> Mapping[str, Any]:
        names = _TOOL_ACTIONS.get(self.action or "", ("使用", "used"))
        return {"how": names[0 if lang == "ja" else 1]}


ATTACK_TOOL = Rule(
    id="attack-tool",
    category="windows",
    severity=Severity.HIGH,
    title=Text("攻撃ツール", "Attack tool"),
    short=Text(
        "よく知られた攻撃ツール・スキャンツールのインストール・実行などの痕跡。",
        "A well-known attack or scanning tool was installed, run or written to disk.",
    ),
    meaning=Text(
        "よく知られた攻撃ツール・スキャンツールの名前が、インストール、プロセスの実行、LSASS へのアクセス、ファイル"
        "作成、特権の使用、サービス登録に現れました。Mimikatz など資格情報を盗むツールは critical、スキャナ（Advanced "
        "IP Scanner、nmap）・遠隔実行（PsExec、Impacket）・AD 調査（BloodHound、AdFind）は high です。大阪の事例では "
        "Advanced IP Scanner のインストールと Mimikatz が給食サーバに残っていました。",
        "The name of a well-known attack or scanning tool appeared in an install, a process start, access to LSASS, "
        "a file written, a privileged call or a service install. Credential thieves such as Mimikatz are critical; "
        "scanners (Advanced IP Scanner, nmap), remote execution (PsExec, Impacket), AD reconnaissance (BloodHound, "
        "AdFind) are high. In Osaka, Advanced IP Scanner had been installed and Mimikatz left on the catering "
        "server.",
    ),
    response=Text(
        "攻撃者がそのコンピュータで作業しています。ネットワークから切り離し、ツールのファイルを保全し、そのコンピュータ"
        "でログオンしたすべてのアカウントのパスワードを変え、セキュリティベンダーに相談します。院内で正当に使う"
        "ツールの名前は windows.attack_tools で調整できます。",
        "An attacker is at work on that computer: disconnect it, keep the tool's files, change the passwords of "
        "every account that logged on there, and call your security vendor. Tools used legitimately on site can be "
        "adjusted in windows.attack_tools.",
    ),
    details=AttackToolDetails,
    summaries=(
        Summary(
            ja="攻撃ツール: {computer} で Mimikatz のパス・ザ・ハッシュ（ログオンタイプ 9、seclogo）",
            en="Attack tool: Mimikatz pass-the-hash on {computer} (logon type 9 through seclogo)",
            when=lambda a: a.details.category == "pass-the-hash",
        ),
        Summary(
            ja="攻撃ツールの{how}: {computer} で {tool}（{evidence}）",
            en="Attack tool {how}: {tool} on {computer} ({evidence})",
        ),
    ),
)


# -- sigma ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SigmaDetails(WindowsDetails):
    sigma_id: str | None = None
    sigma_title: str | None = None
    sigma_file: str | None = None
    correlation: str | None = None
    group: tuple[str, ...] = ()

    def words(self, lang: str) -> Mapping[str, Any]:
        where = ", ".join(str(g) for g in self.group if g) if self.group else (self.computer or "?")
        kind = ""
        if self.correlation:
            kind = f"（相関 {self.correlation}）" if lang == "ja" else f" (correlation {self.correlation})"
        return {"where": where, "kind": kind}


SIGMA = Rule(
    id="sigma",
    category="windows",
    severity=Severity.MEDIUM,
    title=Text("Sigma ルール", "Sigma rule"),
    short=Text("読み込んだ Sigma ルールに一致しました。", "A loaded Sigma rule matched."),
    meaning=Text(
        "設定の windows.sigma_rules（または --sigma）で読み込んだ Sigma ルールに一致しました。重大度はルールの level "
        "です。ルールの題名（sigma_title）が何を見つけたかを示します。",
        "A Sigma rule loaded from windows.sigma_rules (or --sigma) matched; the severity is the rule's level and its "
        "title (sigma_title) says what it found.",
    ),
    response=Text(
        "ルールの説明（Sigma ファイルの description・references）に従って確認します。誤検知が多いルールは、その"
        "ファイルを読み込み対象から外します。",
        "Follow the rule's own description and references. Remove a rule's file from the loaded set if it keeps "
        "raising false alarms.",
    ),
    notes=Text(
        "相関ルール（`event_count`、`value_count`、`temporal`）は `group`（コンピュータと group-by の値）ごとに判定"
        "します。判定できない書き方は `mamori evtx rules --sigma DIR` で確認できます。",
        "Correlations (`event_count`, `value_count`, `temporal`) are decided per `group` (the computer and the "
        "group-by values). What cannot be evaluated is listed by `mamori evtx rules --sigma DIR`.",
    ),
    details=SigmaDetails,
    summaries=(
        Summary(
            ja="Sigma ルール: {sigma_title}（{where}） {count:,} 件{kind}",
            en="Sigma rule: {sigma_title} ({where}); {count:,} events{kind}",
        ),
    ),
)

RULES = (
    BRUTE_FORCE,
    PASSWORD_SPRAY,
    LOGON_AFTER_FAILURES,
    RDP_LOGON,
    RDP_OUTBOUND,
    ADMIN_NTLM_LOGON,
    ACCOUNT_LOCKOUT,
    ACCOUNT_CHANGE,
    LOG_CLEARED,
    SERVICE_INSTALLED,
    ATTACK_TOOL,
    SIGMA,
)
