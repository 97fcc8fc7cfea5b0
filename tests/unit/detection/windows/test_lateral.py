"""lateral-movement-windows on built multi-host logon chains: one source to many computers, one account from several
sources, admin share then a new service (PsExec-style, in either file order), the local Administrator over NTLM on
several computers; exemptions; what must not count."""

from __future__ import annotations

import itertools

import pytest

from mamori.config.windows import WindowsSettings
from mamori.detection.exempt import Exemptions
from mamori.detection.windows import WindowsEngine
from mamori.model import ExemptHost, Severity, WindowsEvent
from mamori.rules.render import summary
from mamori.testing.winevents import event, logon

T0 = 1_800_000_000.0
ATTACKER = "10.10.20.66"
ADMIN = "10.10.1.5"
RULE = "lateral-movement-windows"
_RCM = "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"


def engine(exempt: tuple[ExemptHost, ...] = (), **settings: object) -> WindowsEngine:
    counter = itertools.count(1)
    return WindowsEngine(
        WindowsSettings.model_validate(settings), new_uid=lambda: f"uid-{next(counter)}", exempt=Exemptions(exempt)
    )


def lateral(eng: WindowsEngine) -> list:
    return [a for a in eng.collect_changes() if a.rule == RULE]


def server(n: int) -> str:
    return f"SV{n:02d}.hospital.local"


def network_logon(ts: float, n: int, ip: str = ATTACKER, user: str = "tanaka", **kw: object) -> WindowsEvent:
    options = {"logon_type": 3, "domain": "HOSPITAL", "package": "Kerberos", "sid": "S-1-5-21-1-2-3-1107"}
    options.update(kw)
    return logon(ts, user, ip, computer=server(n), **options)  # type: ignore[arg-type]


def share(
    ts: float, n: int, name: str = "\\\\*\\ADMIN$", target: str = "PSEXESVC.exe", ip: str = ATTACKER
) -> WindowsEvent:
    fields = {
        "SubjectUserName": "tanaka",
        "SubjectDomainName": "HOSPITAL",
        "IpAddress": ip,
        "ShareName": name,
        "RelativeTargetName": target,
    }
    return event(ts, 5145, fields, computer=server(n))


def service(ts: float, n: int, name: str = "PSEXESVC") -> WindowsEvent:
    fields = {"ServiceName": name, "ImagePath": f"%SystemRoot%\\{name}.exe", "AccountName": "LocalSystem"}
    return event(ts, 7045, fields, channel="System", provider="Service Control Manager", computer=server(n))


def test_one_source_logging_on_to_five_computers_then_ten_is_one_alert_escalated() -> None:
    eng = engine()
    eng.feed([network_logon(T0 + i * 20, i) for i in range(1, 5)])
    assert lateral(eng) == []
    eng.feed([network_logon(T0 + 100, 5)])
    [alert] = lateral(eng)
    assert alert.severity == Severity.MEDIUM and alert.src_ip == ATTACKER
    d = alert.details
    assert (d.reason, d.by, d.source, d.peak_hosts) == ("fan-out", "source", ATTACKER, 5)
    assert d.targets == ("SV01", "SV02", "SV03", "SV04", "SV05") and d.accounts == ("HOSPITAL\\tanaka",)
    assert alert.count == 5
    rdp = [logon(T0 + 200 + i, "tanaka", ATTACKER, computer=server(i), domain="HOSPITAL") for i in range(6, 11)]
    eng.feed(rdp)  # type 10: RDP
    [same] = lateral(eng)
    assert same.uid == alert.uid and same.severity == Severity.HIGH and same.details.targets_count == 10
    assert dict(same.details.methods) == {"network-logon": 5, "rdp": 5}
    assert summary(same, "en").startswith(
        "Lateral movement suspected: 10.10.20.66 logged on as HOSPITAL\\tanaka to 10 computers within 10 min "
        "(network logon, RDP; 10 in all: SV01, SV02, SV03, SV04 and 6 others)"
    )
    assert "10.10.20.66 から HOSPITAL\\tanaka で 10 分以内に 10 台のコンピュータにログオン" in summary(same, "ja")


def test_one_account_from_several_sources_is_the_accounts_alert() -> None:
    eng = engine()
    hops = [network_logon(T0 + i * 30, i, ip=f"10.10.20.{100 + i % 3}") for i in range(1, 7)]  # 3 sources, 2 each
    eng.feed(hops)
    [alert] = lateral(eng)
    d = alert.details
    assert d.by == "account" and alert.src_ip is None and len(d.sources) == 3
    assert d.targets_count == 6 and d.peak_hosts == 6 and alert.count == 6
    assert "account HOSPITAL\\tanaka logged on from 3 places" in summary(alert, "en")


def test_explicit_credentials_from_one_machine_to_five_servers() -> None:
    eng = engine()
    fields = {"SubjectUserName": "tanaka", "TargetUserName": "administrator", "TargetDomainName": "HOSPITAL"}
    eng.feed(
        [
            event(T0 + i, 4648, {**fields, "TargetServerName": server(i), "IpAddress": f"10.10.30.{i}"}, computer="PC7")
            for i in range(1, 6)
        ]
    )
    [alert] = lateral(eng)
    assert (
        alert.details.source == "PC7"
        and alert.src_ip is None
        and dict(alert.details.methods) == {"explicit-credentials": 5}
    )


@pytest.mark.parametrize(
    ("events", "paired_share", "count"),
    [
        ([share(T0, 1), share(T0 + 1, 1, "\\\\*\\IPC$", "svcctl"), service(T0 + 2, 1)], "\\\\*\\IPC$", 2),
        # the System log read before the Security log: the service waits for its share; the next share joins
        ([service(T0 + 2, 1), share(T0, 1), share(T0 + 1, 1, "\\\\*\\IPC$", "svcctl")], "\\\\*\\ADMIN$", 3),
    ],
)
def test_admin_share_then_a_new_service_is_psexec_in_either_order(
    events: list[WindowsEvent], paired_share: str, count: int
) -> None:
    eng = engine()
    eng.feed(events)
    [alert] = lateral(eng)
    d = alert.details
    assert alert.severity == Severity.HIGH and d.reason == "remote-service" and alert.src_ip == ATTACKER
    assert [dict(s) for s in d.remote_services] == [
        {
            "computer": server(1),
            "service": "PSEXESVC",
            "image_path": "%SystemRoot%\\PSEXESVC.exe",
            "share": paired_share,
        }
    ]
    assert alert.count == count and d.targets == ("SV01",)
    assert summary(alert, "en").startswith(
        "Remote service creation (PsExec-style): 10.10.20.66 opened an admin share as HOSPITAL\\tanaka and "
        "created SV01.hospital.local: PSEXESVC"
    )


def test_a_service_long_after_the_share_or_on_another_computer_is_not_paired() -> None:
    eng = engine()
    eng.feed([share(T0, 1), service(T0 + 3600, 1), share(T0 + 4000, 2), service(T0 + 4001, 3)])
    assert lateral(eng) == []


def test_ordinary_shares_machine_accounts_and_console_logons_do_not_count() -> None:
    eng = engine()
    eng.feed([share(T0 + i, i, "\\\\*\\Shared", "report.xlsx") for i in range(1, 8)])  # a file share
    eng.feed([share(T0 + i, i, "\\\\*\\IPC$", "srvsvc") for i in range(1, 8)])  # IPC$ without svcctl
    eng.feed([network_logon(T0 + i, i, user="PC7$") for i in range(1, 8)])  # a computer account
    eng.feed([network_logon(T0 + i, i, ip="::1") for i in range(1, 8)])  # loopback
    eng.feed([network_logon(T0 + i, i, logon_type=2) for i in range(1, 8)])  # interactive at the console
    assert lateral(eng) == []


def test_local_administrator_over_ntlm_on_two_computers_is_high_at_once() -> None:
    eng = engine()
    eng.feed([network_logon(T0, 1, user="Administrator", domain="SV01", package="NTLM", sid="S-1-5-21-9-500")])
    assert lateral(eng) == []  # one computer: admin-ntlm-logon's business
    eng.feed([network_logon(T0 + 5, 2, user="Administrator", domain="SV02", package="NTLM", sid="S-1-5-21-8-500")])
    [alert] = lateral(eng)
    assert alert.severity == Severity.HIGH and alert.details.reason == "local-admin"
    assert alert.details.local_admin_ntlm == ("SV01", "SV02")
    assert summary(alert, "en").startswith(
        "Local Administrator logged on over NTLM to 2 computers from 10.10.20.66: SV01, SV02 (pass-the-hash"
    )


def test_a_domain_administrator_over_kerberos_is_not_the_local_one() -> None:
    eng = engine()
    eng.feed([network_logon(T0 + i, i, user="Administrator", sid="S-1-5-21-1-2-3-500") for i in (1, 2, 3)])
    assert lateral(eng) == []


def test_rdp_1149_counts_and_exempt_hosts_accounts_and_computers_are_left_alone() -> None:
    exempt = (
        ExemptHost(role="admin", name="情シス", networks=(f"{ADMIN}/32",)),
        ExemptHost(role="backup", name="backup", accounts=("svc_backup",)),
        ExemptHost(role="asset-management", name="asset", computers=("ASSET01",)),
    )
    eng = engine(exempt)
    eng.feed([network_logon(T0 + i, i, ip=ADMIN) for i in range(1, 12)])
    eng.feed([network_logon(T0 + i, i, user="svc_backup") for i in range(1, 12)])
    explicit = {"SubjectUserName": "tanaka", "TargetUserName": "tanaka"}
    eng.feed([event(T0 + i, 4648, {**explicit, "TargetServerName": server(i)}, computer="ASSET01") for i in range(9)])
    assert lateral(eng) == []
    rcm = [
        event(T0 + i, 1149, {"Param1": "tanaka", "Param2": "HOSPITAL", "Param3": ATTACKER}, channel=_RCM,
              provider="Microsoft-Windows-TerminalServices-RemoteConnectionManager", computer=server(i))
        for i in range(1, 6)
    ]  # fmt: skip
    eng.feed(rcm)
    [alert] = lateral(eng)
    assert dict(alert.details.methods) == {"rdp": 5}


def test_memory_is_bounded_under_a_flood_of_sources() -> None:
    eng = engine(max_tracked=1000)
    eng.feed(
        [network_logon(T0 + i / 100, i % 50, ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}") for i in range(20_000)]
    )
    rule = next(r for r in eng.rules if r.rule == RULE)
    assert len(rule._by_source) == 1000 and rule._by_source.evicted == 19_000  # type: ignore[attr-defined]
