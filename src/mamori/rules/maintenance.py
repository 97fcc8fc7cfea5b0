"""The remote-maintenance rule: a vendor's session that its work plan does not cover.

The Ministry's guideline (system operations 10④) asks that remote-maintenance work be logged, compared with the
work plan and reported to the person in charge; the Fukui seminar asks for one logged entrance for the vendors.
The words for what differed (``DIFFERENCES``) are shared with the work report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details

__all__ = ["DIFFERENCES", "REMOTE_MAINTENANCE", "RULES", "RemoteMaintenanceDetails", "difference_text"]

DIFFERENCES: dict[str, Text] = {
    "no-plan": Text("作業計画のない業者", "a vendor with no work plan"),
    "outside-window": Text("作業計画の時間外", "outside every window of the work plan"),
    "target": Text("計画にない接続先", "a target the plan does not list"),
    "port": Text("計画にないポート", "a port the plan does not list"),
    "account": Text("計画にないアカウント", "an account the plan does not list"),
    "vpn-no-plan": Text(
        "どの業者とも結び付かない VPN 接続で、その時刻に作業計画がない",
        "a VPN session tied to no vendor, at a time no work plan covers",
    ),
}

_VIA: dict[str, Text] = {
    "wire": Text("パケット", "packets"),
    "firewall": Text("ファイアウォールのログ", "firewall logs"),
    "vpn": Text("VPN のログ", "VPN logs"),
    "windows": Text("Windows のログオン", "Windows logons"),
}

_LISTED = 6


def difference_text(code: str, lang: str) -> str:
    text = DIFFERENCES.get(code)
    return text(lang) if text is not None else code


def _listed(values: tuple[Any, ...], lang: str) -> str:
    shown = ", ".join(str(v) for v in values[:_LISTED])
    if len(values) > _LISTED:
        shown += f" ほか {len(values) - _LISTED} 件" if lang == "ja" else f" and {len(values) - _LISTED} more"
    return shown


@dataclass(frozen=True, kw_only=True)
class RemoteMaintenanceDetails(Details):
    session: str = ""  # the session's uid (the work report lists it)
    vendor: str = ""  # "" when a VPN session could not be tied to a vendor
    source: str = ""  # the address the vendor came from (inside the VPN when known)
    remote_ip: str = ""  # the VPN peer's own address, when a VPN gateway reported it
    accounts: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    differences: tuple[str, ...] = ()  # no-plan | outside-window | target | port | account | vpn-no-plan
    off_plan: tuple[str, ...] = ()  # what the plan does not list: "target:10.1.0.9", "port:445", "account:x"
    plan: str = ""  # the work plan it was compared with ("" none)
    ticket: str = ""
    via: tuple[str, ...] = ()  # wire | firewall | vpn | windows

    def words(self, lang: str) -> Mapping[str, Any]:
        ja = lang == "ja"
        what = [difference_text(code, lang) for code in self.differences]
        off = [item.partition(":")[2] for item in self.off_plan]
        return {
            "vendor_name": self.vendor or ("不明な接続元" if ja else "an unknown party"),
            "what": ("、" if ja else "; ").join(what) or "?",
            "off_list": _listed(tuple(off), lang) if off else "",
            "target_list": _listed(self.targets, lang) or ("（まだなし）" if ja else "(none yet)"),
            "account_list": _listed(self.accounts, lang) or "-",
            "via_text": ("、" if ja else ", ").join(_VIA[v](lang) if v in _VIA else v for v in self.via) or "-",
            "ticket_text": self.ticket or "-",
        }


REMOTE_MAINTENANCE = Rule(
    id="remote-maintenance",
    category="network",
    severity=Severity.HIGH,
    title=Text("作業計画と違うリモートメンテナンス", "Remote maintenance outside its work plan"),
    short=Text(
        "保守業者の接続（VPN・パケット・ファイアウォール・Windows ログオン）が作業計画の時間・接続先・ポート・"
        "アカウントと合わないか、作業計画のない業者・どの業者とも結び付かない VPN 接続です。",
        "A vendor's connection (VPN, packets, firewall, Windows logon) outside the work plan's windows, targets, "
        "ports or accounts; a vendor with no plan; or a VPN session tied to no vendor when no plan is open.",
    ),
    meaning=Text(
        "保守業者のリモートメンテナンス回線から、作業計画にない接続がありました。日本の病院へのランサムウェアは、"
        "保守業者の VPN 装置から入りました（大阪の事例では VPN から 38 分でサーバに達しました）。業者の正規の作業が"
        "計画より延びた・計画を登録し忘れた場合もありますが、業者の装置やアカウントが乗っ取られ、攻撃者が保守回線を"
        "使っている場合もあります。厚生労働省のガイドライン（システム運用編 10④）は、作業の記録を作業計画と照らし、"
        "終了時に担当者へ報告させることを求めています。",
        "A connection came in over a vendor's remote-maintenance line that no work plan covers. Ransomware reached "
        "Japanese hospitals through the vendors' VPN devices (in Osaka, 38 minutes from the VPN to the servers). "
        "The vendor's real work may have run late or its plan was not entered; or the vendor's device or account "
        "was taken over and an attacker is using the maintenance line. The Ministry's guideline (system "
        "operations 10④) asks that the work be logged, compared with the work plan, and reported when it ends.",
    ),
    response=Text(
        "業者に電話し（登録済みの番号で。アラートやメールにある番号は使わない）、今この時刻に作業しているか、"
        "どの機器に何のために接続したかを確かめます。作業であれば、作業計画をダッシュボードで登録し（作業計画 → "
        "追加）、作業報告に理由を残してください。業者が作業していないなら、VPN のアカウントを止め、接続元の"
        "アドレスを遮断し、接続先の機器のログオンと動いたプログラムを調べます。",
        "Call the vendor (on the number you have on file, not one in an alert or an e-mail) and ask whether it is "
        "working now, on which devices and why. If it is its work, enter the work plan on the dashboard (Work "
        "plans → Add) and note the reason in the work report. If the vendor is not working, disable the VPN "
        "account, block the source address, and look at the logons and programs on the devices it reached.",
    ),
    notes=Text(
        "1 つのアラートは 1 つのセッション（同じ業者・同じ接続元からの接続の続き。30 分途切れるか VPN が切れる"
        "まで）です。`differences`: `no-plan`（作業計画のない業者）、`outside-window`（時間外）、`target`・`port`・"
        "`account`（計画にない接続先・ポート・アカウント）、`vpn-no-plan`（業者と結び付かない VPN 接続で、その時刻"
        "にどの作業計画もない）。`off_plan` は計画にない値、`plan`・`ticket` は照らした作業計画、`via` は証拠の出所"
        "（`wire`・`firewall`・`vpn`・`windows`）。計画どおりのセッションはアラートにならず、作業報告に残ります。",
        "One alert per session (a vendor's connections from one source, until they stop for 30 minutes or the VPN "
        "session ends). `differences`: `no-plan` (a vendor with no work plan), `outside-window`, `target`, `port`, "
        "`account` (not listed by the plan), `vpn-no-plan` (a VPN session tied to no vendor when no plan is open). "
        "`off_plan` lists the values the plan does not list; `plan` and `ticket` the plan compared with; `via` the "
        "evidence (`wire`, `firewall`, `vpn`, `windows`). A session within its plan gives no alert and is kept in "
        "the work report.",
    ),
    details=RemoteMaintenanceDetails,
    values={
        **{("differences", code): text for code, text in DIFFERENCES.items()},
        **{("via", code): text for code, text in _VIA.items()},
    },
    summaries=(
        Summary(
            ja="作業計画と違うリモートメンテナンス: {vendor_name}（{src_ip}）が {what}（{off_list}）。接続先 "
            "{target_list}、アカウント {account_list}、証拠 {via_text}。{count:,} 回",
            en="Remote maintenance outside its work plan: {vendor_name} ({src_ip}), {what} ({off_list}); targets "
            "{target_list}, accounts {account_list}, seen in {via_text}; {count:,} times",
            when=lambda a: bool(a.details.off_plan),
            system=False,
        ),
        Summary(
            ja="作業計画と違うリモートメンテナンス: {vendor_name}（{src_ip}）が {what}。接続先 {target_list}、"
            "アカウント {account_list}、証拠 {via_text}。{count:,} 回",
            en="Remote maintenance outside its work plan: {vendor_name} ({src_ip}), {what}; targets {target_list}, "
            "accounts {account_list}, seen in {via_text}; {count:,} times",
            system=False,
        ),
    ),
)

RULES = (REMOTE_MAINTENANCE,)
