"""Lateral movement (水平展開): one host or one account reaching many computers in a short time.

Two rules, because the evidence and what a person does with it differ: ``lateral-movement`` is seen on the network
(SYNs on a mirror port, allow/deny lines of routers and firewalls) and names a source address and the hosts it
reached on remote-administration ports; ``lateral-movement-windows`` is seen in Windows logs and names the account,
the source and the computers it logged on to, the admin shares opened and the services created (PsExec-style).
Both leave the registered admin, antivirus, update, backup and asset-management hosts alone (``exempt_hosts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details
from mamori.rules.windows import WindowsDetails
from mamori.rules.words import listed

__all__ = ["LATERAL_MOVEMENT", "LATERAL_MOVEMENT_WINDOWS", "RULES"]


def _minutes(seconds: float, lang: str) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        n = int(seconds // 60)
        return f"{n} 分" if lang == "ja" else f"{n} min"
    return f"{seconds:g} 秒" if lang == "ja" else f"{seconds:g} s"


# -- lateral-movement (network) ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LateralMovementDetails(Details):
    evidence: str = "packets"  # packets (SYNs on the wire) | firewall (router and firewall log lines)
    window: float = 600.0  # seconds the hosts were counted in
    peak_hosts: int = 0  # the most distinct hosts reached within one window
    targets: tuple[str, ...] = ()  # the hosts reached, in order (the first 64)
    targets_count: int = 0  # every distinct host reached while the alert was open
    port_names: Mapping[str, str] = field(default_factory=dict)  # port -> name (SMB, RDP...)
    actions: Mapping[str, int] = field(default_factory=dict)  # wire | allow | deny -> attempts
    device: str | None = None  # the router or firewall that logged them

    def words(self, lang: str) -> Mapping[str, Any]:
        ja = lang == "ja"
        named = sorted(self.port_names.items(), key=lambda p: int(p[0]) if p[0].isdigit() else 0)
        ports = ", ".join(f"{name} {port}" if name else port for port, name in named)
        if self.evidence == "firewall":
            seen = sum(self.actions.values())
            denied = self.actions.get("deny", 0)
            how = "ファイアウォールのログ" if ja else "firewall log"
            if seen and denied == seen:
                how += "、すべて拒否" if ja else ", all denied"
            elif denied:
                how += f"、{denied:,} 回拒否" if ja else f", {denied:,} denied"
        else:
            how = "パケット" if ja else "packets"
        return {
            "port_list": ports or "?",
            "how": how,
            "minutes": _minutes(self.window, lang),
            "hosts": listed(self.targets, max(self.targets_count, len(self.targets)), lang, shown=4),
            "n_hosts": max(self.targets_count, len(self.targets)),
        }


LATERAL_MOVEMENT = Rule(
    id="lateral-movement",
    category="network",
    severity=Severity.MEDIUM,
    title=Text("水平展開の疑い（多数のホストへの管理用ポート接続）", "Lateral movement (many hosts on admin ports)"),
    short=Text(
        "1 台の機器が、短い時間に多数のホストのリモート管理用ポート（RDP・SMB・RPC・WinRM・SSH）へ接続しました。",
        "One device reached many hosts on remote-administration ports (RDP, SMB, RPC, WinRM, SSH) in a short time.",
    ),
    meaning=Text(
        "1 台の機器が、短い時間（既定 10 分）に多数のホスト（既定 5 台で medium、10 台で high）のリモート管理用ポート"
        "（RDP 3389、SMB 445/139、RPC 135、WinRM 5985/5986、SSH 22）へ接続を始めました。ミラーポートで見た SYN、"
        "またはルータ・ファイアウォールの許可・拒否のログからです。侵入した攻撃者やランサムウェアが、奪った"
        "パスワードで次々にサーバへ広がる（水平展開）ときの形です。大阪の事例では、給食業者のサーバから RDP で"
        "サーバを次々に乗っ取られました。登録された管理端末・ウイルス対策・更新・バックアップ・資産管理のサーバ"
        "（exempt_hosts）は対象外です。",
        "One device started connections to many hosts (by default 5 within 10 minutes: medium; 10: high) on "
        "remote-administration ports (RDP 3389, SMB 445/139, RPC 135, WinRM 5985/5986, SSH 22), seen as SYNs on the "
        "mirror port or in the allow/deny logs of routers and firewalls. This is how an intruder or ransomware "
        "spreads from server to server with stolen passwords (lateral movement); in the Osaka incident the "
        "attackers went from the catering vendor's server over RDP to one server after another. Registered admin "
        "terminals and antivirus, update, backup and asset-management servers (exempt_hosts) are left out.",
    ),
    response=Text(
        "送信元の機器が誰のものか、その時刻に誰がログオンし何が動いていたかを確認します。管理作業や配布ツールなど"
        "正当なものなら、その機器を exempt_hosts に役割（admin、update など）とともに登録します。心当たりがなければ、"
        "送信元をネットワークから切り離し（スイッチのポートを閉じる）、接続先のホスト（targets）のログオン記録"
        "（Windows の 4624・7045）を確認して、パスワードを変更してください。",
        "Find whose device the source is and who was logged on and what ran there at the time. If it is legitimate "
        "(administration, a software-distribution tool), register it in exempt_hosts with its role (admin, "
        "update...). If not, disconnect the source (close its switch port), check the logons on the hosts it "
        "reached (targets; Windows 4624, 7045) and change the passwords used.",
    ),
    notes=Text(
        "1 つのアラートは（送信元、証拠）ごとです: `evidence` は `packets`（ミラーポートの SYN）か `firewall`"
        "（ルータ・ファイアウォールのログ、`mamori collect`）。`peak_hosts` は 1 つの時間枠（`window` 秒）で"
        "接続した最大のホスト数、`targets` は接続先（先頭 64 台）、`targets_count` はアラートの間に接続したホストの数、"
        "`port_names` は使われたポート、`actions` は見えた接続の数（`wire`・`allow`・`deny`）。"
        "設定は `detection.lateral_movement`（window、medium_hosts、high_hosts、ports、max_sources）、"
        "除外は `exempt_hosts` と役割（admin、antivirus、update、backup、asset-management）のあるセグメントです。",
        "One alert per (source, evidence): `evidence` is `packets` (SYNs on the mirror port) or `firewall` (router "
        "and firewall logs through `mamori collect`). `peak_hosts` is the most hosts reached within one window "
        "(`window` seconds), `targets` the hosts reached (the first 64), `targets_count` every host reached while "
        "the alert was open, `port_names` the ports used, `actions` the attempts seen (`wire`, `allow`, `deny`). "
        "Settings: `detection.lateral_movement` (window, medium_hosts, high_hosts, ports, max_sources); exempt: "
        "`exempt_hosts` and segments with the role admin, antivirus, update, backup or asset-management.",
    ),
    details=LateralMovementDetails,
    labels={"window": Text("数えた時間幅（秒）", "Counting window (seconds)")},
    summaries=(
        Summary(
            ja="水平展開の疑い: {src_ip} が {minutes}以内に {peak_hosts:,} 台のホストへ管理用ポート（{port_list}）で"
            "接続（{how}。計 {n_hosts:,} 台: {hosts}）。{count:,} 回",
            en="Lateral movement suspected: {src_ip} reached {peak_hosts:,} hosts within {minutes} on "
            "remote-administration ports ({port_list}) ({how}; {n_hosts:,} hosts in all: {hosts}); {count:,} attempts",
            system=False,
        ),
    ),
)


# -- lateral-movement-windows -----------------------------------------------------------------------------------------

_METHODS = {
    "network-logon": ("ネットワークログオン", "network logon"),
    "rdp": ("RDP", "RDP"),
    "explicit-credentials": ("明示的な資格情報", "explicit credentials"),
    "admin-share": ("管理共有", "admin share"),
}


@dataclass(frozen=True, kw_only=True)
class LateralMovementWindowsDetails(WindowsDetails):
    reason: str = "fan-out"  # what opened the alert: fan-out | remote-service | local-admin
    by: str = "source"  # source: one source reached the computers; account: one account from several sources
    source: str | None = None  # an address, or a computer name when the log names no address
    sources: tuple[str, ...] = ()  # by account: where it logged on from
    accounts: tuple[str, ...] = ()
    window: float = 600.0
    peak_hosts: int = 0  # the most computers within one window
    targets: tuple[str, ...] = ()  # computers reached (the first 64)
    targets_count: int = 0
    methods: Mapping[str, int] = field(default_factory=dict)  # network-logon | rdp | explicit-credentials | admin-share
    local_admin_ntlm: tuple[str, ...] = ()  # computers a local Administrator logged on to over NTLM
    remote_services: tuple[Mapping[str, Any], ...] = ()  # {computer, service, image_path, share}: PsExec-style

    def words(self, lang: str) -> Mapping[str, Any]:
        ja = lang == "ja"
        total = max(self.targets_count, len(self.targets))
        accounts = self.accounts or ("?",)
        account_text = accounts[0] if len(accounts) == 1 else listed(accounts, len(accounts), lang, shown=2)
        services = [s for s in self.remote_services if isinstance(s, Mapping)]

        def named(service: Mapping[str, Any]) -> str:
            image = str(service.get("image_path") or "")
            image = image if len(image) <= 60 else image[:60] + "…"
            return f"{service.get('computer')}: {service.get('service')} ({image})"

        notes = []
        if services and self.reason != "remote-service":
            notes.append(
                f"PsExec 型のサービス作成 {len(services)} 件" if ja else f"PsExec-style services on {len(services)}"
            )
        if self.local_admin_ntlm and self.reason != "local-admin":
            n = len(self.local_admin_ntlm)
            notes.append(
                f"ローカル Administrator の NTLM ログオン {n} 台" if ja else f"local Administrator over NTLM on {n}"
            )
        methods = [_METHODS.get(m, (m, m))[0 if ja else 1] for m in self.methods]
        tail = ("。" + "、".join(notes) if ja else "; " + "; ".join(notes)) if notes else ""
        return {
            "who": self.source or "?",
            "account_text": account_text,
            "hosts": listed(self.targets, total, lang, shown=4),
            "n_hosts": total,
            "n_sources": len(self.sources),
            "minutes": _minutes(self.window, lang),
            "method_text": "・".join(methods) if ja else ", ".join(methods),
            "services_text": listed([named(s) for s in services], len(services), lang, shown=2),
            "tail": tail,
        }


LATERAL_MOVEMENT_WINDOWS = Rule(
    id="lateral-movement-windows",
    category="windows",
    severity=Severity.MEDIUM,
    title=Text("水平展開の疑い（Windows のログオン）", "Lateral movement (Windows logons)"),
    short=Text(
        "1 つのアカウントや 1 台の機器が多数のコンピュータにログオンした、管理共有を開いてサービスを作った"
        "（PsExec 型）、ローカル Administrator が NTLM で複数のコンピュータにログオンした。",
        "One account or one host logged on to many computers, opened an admin share and created a service "
        "(PsExec-style), or a local Administrator logged on over NTLM to several computers.",
    ),
    meaning=Text(
        "Windows のログに、攻撃者がコンピュータからコンピュータへ広がる形が見えました。(1) 1 つの送信元（または"
        "1 つのアカウント）が短い時間（既定 10 分）に多数のコンピュータ（既定 5 台で medium、10 台で high）へ"
        "ログオンした（4624 のログオンタイプ 3・10、4648 明示的な資格情報、RDP の 1149・21・25、管理共有 5140・5145）。"
        "(2) 管理共有（C$・ADMIN$、IPC$ の svcctl）を開いた直後に、同じコンピュータで新しいサービスが作られた"
        "（7045）: PsExec などの遠隔実行です（high）。(3) ローカルの Administrator が NTLM で 2 台以上の"
        "コンピュータにネットワークログオンした: 同じパスワード（ハッシュ）の使い回しを突く pass-the-hash です"
        "（high。1 台だけなら admin-ntlm-logon）。登録された管理端末などは対象外です（exempt_hosts）。",
        "The Windows logs show an attacker moving from computer to computer: (1) one source (or one account) logged "
        "on to many computers in a short time (by default 5 within 10 minutes: medium; 10: high) with logon types "
        "3 and 10 (4624), explicit credentials (4648), RDP (1149, 21, 25) or admin shares (5140, 5145); (2) an "
        "admin share (C$, ADMIN$, or IPC$ with svcctl) was opened and a new service (7045) was created on that "
        "computer right after: remote execution such as PsExec (high); (3) a local Administrator logged on over "
        "NTLM to two or more computers: pass-the-hash, using a password (hash) shared between computers (high; a "
        "single one is admin-ntlm-logon). Registered admin hosts and the like are left out (exempt_hosts).",
    ),
    response=Text(
        "送信元とアカウントが誰のものか、作業の予定があったかを確認します。予定のない操作なら、送信元の機器を"
        "ネットワークから切り離し、アカウントのパスワードを変更（ローカル Administrator は全台で別々に: LAPS）して、"
        "ログオン先のコンピュータ（targets）で作られたサービスや実行されたプログラムを調べます。正当な管理作業なら、"
        "その機器・アカウントを exempt_hosts に登録します。",
        "Find whose the source and the account are and whether work was planned. If not, disconnect the source, "
        "change the account's password (local Administrator passwords different on every computer: LAPS), and "
        "look at the services created and programs run on the computers reached (targets). If it is legitimate "
        "administration, register the host or account in exempt_hosts.",
    ),
    notes=Text(
        "1 つのアラートは送信元（アドレス、なければコンピュータ名）ごとで、送信元が分からない・複数の送信元から"
        "同じアカウントが広がるときはアカウントごとです（`by`）。`reason` はアラートを開いた理由（`fan-out`、"
        "`remote-service`、`local-admin`）、`targets` はログオン先（先頭 64 台）、`methods` は手段ごとの件数、"
        "`remote_services` は管理共有の後に作られたサービス、`local_admin_ntlm` はローカル Administrator が NTLM で"
        "ログオンしたコンピュータ。設定は `windows.lateral_movement`（window、medium_hosts、high_hosts、"
        "local_admin_hosts、service_window）。",
        "One alert per source (an address, else a computer name); per account when no source is known or the "
        "account spreads from several sources (`by`). `reason` says what opened the alert (`fan-out`, "
        "`remote-service`, `local-admin`); `targets` the computers reached (the first 64); `methods` counts per "
        "means; `remote_services` the services created after an admin share was opened; `local_admin_ntlm` the "
        "computers a local Administrator logged on to over NTLM. Settings: `windows.lateral_movement` (window, "
        "medium_hosts, high_hosts, local_admin_hosts, service_window).",
    ),
    details=LateralMovementWindowsDetails,
    labels={"window": Text("数えた時間幅（秒）", "Counting window (seconds)")},
    summaries=(
        Summary(
            ja="遠隔でのサービス作成（PsExec 型）: {who} から {account_text} が管理共有を開き、{services_text} を作成"
            "{tail}。{count:,} 件",
            en="Remote service creation (PsExec-style): {who} opened an admin share as {account_text} and created "
            "{services_text}{tail}; {count:,} events",
            when=lambda a: a.details.reason == "remote-service",
            system=False,
        ),
        Summary(
            ja="ローカル Administrator の NTLM ログオンが {n_hosts:,} 台に: {who} から {hosts}（pass-the-hash の疑い）"
            "{tail}。{count:,} 件",
            en="Local Administrator logged on over NTLM to {n_hosts:,} computers from {who}: {hosts} (pass-the-hash "
            "suspected){tail}; {count:,} events",
            when=lambda a: a.details.reason == "local-admin",
            system=False,
        ),
        Summary(
            ja="水平展開の疑い: アカウント {account_text} が {n_sources:,} か所から {minutes}以内に {peak_hosts:,} 台の"
            "コンピュータにログオン（{method_text}。計 {n_hosts:,} 台: {hosts}）{tail}。{count:,} 件",
            en="Lateral movement suspected: account {account_text} logged on from {n_sources:,} places to "
            "{peak_hosts:,} computers within {minutes} ({method_text}; {n_hosts:,} in all: {hosts}){tail}; "
            "{count:,} events",
            when=lambda a: a.details.by == "account",
            system=False,
        ),
        Summary(
            ja="水平展開の疑い: {who} から {account_text} で {minutes}以内に {peak_hosts:,} 台のコンピュータにログオン"
            "（{method_text}。計 {n_hosts:,} 台: {hosts}）{tail}。{count:,} 件",
            en="Lateral movement suspected: {who} logged on as {account_text} to {peak_hosts:,} computers within "
            "{minutes} ({method_text}; {n_hosts:,} in all: {hosts}){tail}; {count:,} events",
            system=False,
        ),
    ),
)

RULES = (LATERAL_MOVEMENT, LATERAL_MOVEMENT_WINDOWS)
