"""RDP in and out, account changes, log clearing, services, attack tools; the registry and the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.config.windows import WindowsSettings
from mamori.detection.book import AlertBook
from mamori.detection.windows import REGISTRY, RuleContext, UnknownRuleError, WindowsEngine, build_rules, load_sigma
from mamori.model import Severity
from mamori.rules import catalogue
from mamori.rules.render import summary
from mamori.testing.winevents import CATERING_SERVER, VENDOR_IP, event, logon

T0 = 1_800_000_000.0
LSM = "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"
RCM = "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"
CLIENT = "Microsoft-Windows-TerminalServices-RDPClient/Operational"


def engine(**settings: object) -> WindowsEngine:
    return WindowsEngine(WindowsSettings.model_validate(settings))


def only(eng: WindowsEngine, rule: str) -> list:
    return [a for a in eng.collect_changes() if a.rule == rule]


def lsm(ts: float, event_id: int, address: str) -> object:
    return event(ts, event_id, {"User": "HOSP\\admin", "SessionID": "3", "Address": address}, channel=LSM)


def test_rdp_logon_from_a_host_not_allowed_is_high() -> None:
    eng = engine(rdp_admin_hosts=["192.168.10.5", "10.20.0.0/24"])
    eng.feed([logon(T0), lsm(T0 + 1, 21, VENDOR_IP), lsm(T0 + 60, 25, VENDOR_IP)])
    [alert] = only(eng, "rdp-logon")
    assert alert.severity == Severity.HIGH
    assert alert.src_ip == VENDOR_IP
    assert alert.count == 3
    assert set(alert.details["event_ids"]) == {4624, 21, 25}
    assert "許可されていない RDP ログオン" in summary(alert, "ja")


def test_rdp_logon_from_an_allowed_admin_host_or_the_console_raises_nothing() -> None:
    eng = engine(rdp_admin_hosts=["10.20.0.0/24"])
    eng.feed(
        [logon(T0, ip="10.20.0.7"), lsm(T0 + 1, 21, "10.20.0.7"), lsm(T0 + 2, 21, "LOCAL"), lsm(T0 + 3, 21, "ローカル")]
    )
    assert only(eng, "rdp-logon") == []


def test_rdp_logon_without_an_allow_list_is_medium_and_says_so() -> None:
    eng = engine()
    eng.feed([event(T0, 1149, {"Param1": "administrator", "Param2": "ie11win7", "Param3": "10.0.2.16"}, channel=RCM)])
    [alert] = only(eng, "rdp-logon")
    assert alert.severity == Severity.MEDIUM
    assert "rdp_admin_hosts" in summary(alert, "en")


def test_rdp_from_loopback_is_called_a_tunnel() -> None:
    eng = engine()
    eng.feed([logon(T0, ip="127.0.0.1")])
    [alert] = only(eng, "rdp-logon")
    assert "tunnel" in summary(alert, "en")


def test_outgoing_rdp_is_high_after_an_unauthorised_rdp_logon_on_the_same_machine() -> None:
    eng = engine(rdp_admin_hosts=["10.20.0.0/24"])
    outgoing = event(T0 + 100, 1102, {"Value": "10.10.20.15"}, channel=CLIENT)
    eng.feed([outgoing])
    [alert] = only(eng, "rdp-outbound")
    assert alert.severity == Severity.MEDIUM
    eng.feed([logon(T0 + 200), outgoing._replace(ts=T0 + 300)])
    [alert] = only(eng, "rdp-outbound")
    assert alert.severity == Severity.HIGH
    assert alert.dst_ip == "10.10.20.15"


def test_outgoing_rdp_from_an_admin_terminal_is_fine() -> None:
    eng = engine(rdp_admin_computers=[CATERING_SERVER])
    eng.feed([event(T0, 1024, {"Value": "srv02"}, channel=CLIENT)])
    assert only(eng, "rdp-outbound") == []


def test_security_1102_is_log_cleared_but_rdpclient_1102_is_not() -> None:
    eng = engine()
    cleared = event(
        T0, 1102, {"SubjectUserName": "bob", "SubjectDomainName": "HOSP"}, provider="Microsoft-Windows-Eventlog"
    )
    eng.feed(
        [
            cleared,
            event(
                T0 + 1,
                104,
                {"SubjectUserName": "bob", "Channel": "System"},
                channel="System",
                provider="Microsoft-Windows-Eventlog",
            ),
        ]
    )
    [alert] = only(eng, "log-cleared")  # one account clearing two logs within a second: one incident
    assert alert.details["logs"] == ["Security", "System"] and alert.details["logs_count"] == 2
    assert alert.severity == Severity.HIGH and alert.count == 2
    eng.feed([event(T0 + 2, 1102, {"Value": "10.10.20.15"}, channel=CLIENT)])  # RDPClient's 1102: a connection
    assert only(eng, "log-cleared") == []


def test_member_added_to_administrators_is_a_high_account_change() -> None:
    eng = engine()
    eng.feed(
        [
            event(T0, 4720, {"TargetUserName": "support$x", "SubjectUserName": "Administrator"}),
            event(
                T0 + 1,
                4732,
                {
                    "MemberName": "-",
                    "MemberSid": "S-1-5-21-1-2-3-1010",
                    "TargetUserName": "Administrators",
                    "TargetSid": "S-1-5-32-544",
                    "SubjectUserName": "Administrator",
                },
            ),
        ]
    )
    [alert] = only(eng, "account-change")
    assert alert.severity == Severity.HIGH
    assert alert.count == 2
    assert len(alert.details["changes"]) == 2


def test_service_with_a_shell_command_line_is_suspicious() -> None:
    eng = engine()
    eng.feed(
        [
            event(
                T0,
                7045,
                {"ServiceName": "hgabms", "ImagePath": "cmd.exe /c echo hgabms > \\\\.\\pipe\\hgabms"},
                channel="System",
                provider="Service Control Manager",
            ),
            event(
                T0,
                7045,
                {"ServiceName": "BackupAgent", "ImagePath": "C:\\Program Files\\Backup\\agent.exe"},
                channel="System",
                provider="Service Control Manager",
            ),
        ]
    )
    [alert] = only(eng, "service-installed")  # two services on one computer at once: one alert, the shell first
    assert alert.severity == Severity.HIGH
    assert alert.details["service"] == "hgabms" and "cmd" in alert.details["suspicious"]
    assert [s["name"] for s in alert.details["services"]] == ["hgabms", "BackupAgent"]
    assert [bool(s["suspicious"]) for s in alert.details["services"]] == [True, False]
    assert summary(alert, "en").startswith("2 new services installed on KYUSHOKU-SV01: hgabms (cmd.exe /c echo")
    eng.feed(
        [
            event(
                T0,
                7045,
                {"ServiceName": "BackupAgent", "ImagePath": "C:\\Program Files\\Backup\\agent.exe"},
                channel="System",
                provider="Service Control Manager",
                computer="FILE-SV02",
            )
        ]
    )
    [alert] = only(eng, "service-installed")
    assert alert.severity == Severity.MEDIUM and alert.details["service"] == "BackupAgent"
    assert (
        summary(alert, "en") == "New service installed on FILE-SV02: BackupAgent (C:\\Program Files\\Backup\\agent.exe)"
    )


@pytest.mark.parametrize(
    ("channel", "event_id", "fields", "tool"),
    [
        (
            "Application",
            11707,
            {"Data": "Product: Advanced IP Scanner 2.5.1 -- Installation completed successfully."},
            "Advanced IP Scanner",
        ),
        ("Microsoft-Windows-Sysmon/Operational", 1, {"Image": "C:\\Tools\\PsExec64.exe"}, "PsExec"),
        (
            "Microsoft-Windows-Sysmon/Operational",
            10,
            {"SourceImage": "C:\\x\\mimikatz.exe", "TargetImage": "C:\\Windows\\system32\\lsass.exe"},
            "Mimikatz",
        ),
        ("Security", 4688, {"NewProcessName": "C:\\Users\\a\\nmap.exe"}, "Nmap / Masscan"),
    ],
)
def test_attack_tools_are_named(channel: str, event_id: int, fields: dict[str, str], tool: str) -> None:
    eng = engine()
    eng.feed([event(T0, event_id, fields, channel=channel)])
    [alert] = only(eng, "attack-tool")
    assert alert.details["tool"] == tool


def test_tool_names_need_word_boundaries_and_extra_names_come_from_settings() -> None:
    eng = engine(attack_tools=["anydesk"])
    eng.feed(
        [
            event(T0, 1, {"Image": "C:\\Windows\\nmapper.exe"}, channel="Microsoft-Windows-Sysmon/Operational"),
            event(T0, 1, {"Image": "C:\\Users\\a\\AnyDesk.exe"}, channel="Microsoft-Windows-Sysmon/Operational"),
        ]
    )
    [alert] = only(eng, "attack-tool")
    assert alert.details["tool"] == "anydesk"
    assert alert.details["category"] == "configured"


def test_registry_lists_the_windows_rules_and_unknown_names_fail_with_the_list() -> None:
    assert set(REGISTRY) == {r for r in catalogue().ids("windows") if r != "sigma"}
    assert "lateral-movement-windows" in REGISTRY and "backup-deleted" in REGISTRY
    with pytest.raises(UnknownRuleError, match="known: brute-force, password-spray"):
        build_rules(["brute-force", "no-such-rule"], RuleContext(WindowsSettings(), AlertBook()))


def test_disabled_rules_are_not_built_and_their_events_are_not_decoded() -> None:
    eng = engine(disabled_rules=["account-lockout"])
    assert "account-lockout" not in [r.rule for r in eng.rules]
    wanted = eng.wanted_event_ids()
    assert wanted is not None and 4740 not in wanted and 4625 in wanted


def test_engine_expires_quiet_alerts_with_its_clock() -> None:
    eng = engine()
    eng.feed([event(T0, 7045, {"ServiceName": "x", "ImagePath": "c:\\x.exe"}, channel="System")])
    eng.collect_changes()
    eng.tick(T0 + 10)
    assert len(eng.book) == 1
    eng.tick(T0 + 4000)
    assert len(eng.book) == 0


SYSMON = "Microsoft-Windows-Sysmon/Operational"


def test_events_no_rule_could_alert_on_may_be_dropped_by_the_readers() -> None:
    keep = engine().handover_filter()
    assert keep is not None
    plain = event(
        T0, 1, {"Image": "C:\\Windows\\System32\\svchost.exe", "CommandLine": "svchost -k netsvcs"}, channel=SYSMON
    )
    tool = event(T0, 1, {"Image": "C:\\Users\\a\\mimikatz.exe"}, channel=SYSMON)
    assert not keep(plain)
    assert keep(tool)
    # Events other rules want (with state: the logon rules) are always handed over, whatever they hold.
    assert keep(event(T0, 4625, {"TargetUserName": "nobody"}))
    assert keep(event(T0, 4648, {"ProcessName": "C:\\Windows\\System32\\svchost.exe"}))
    assert keep(logon(T0, ip=VENDOR_IP, logon_type=10))
    # What the filter drops, the rule would not have alerted on.
    eng = engine()
    eng.feed([plain])
    assert only(eng, "attack-tool") == []


def test_the_timeline_and_sigma_rules_keep_the_events_they_want(tmp_path: Path) -> None:
    product = event(
        T0, 11707, {"Data": "Product: Notepad++ -- Installation completed successfully."}, channel="Application"
    )
    plain = event(T0, 1, {"Image": "C:\\Windows\\System32\\svchost.exe"}, channel=SYSMON)
    default = engine().handover_filter()
    assert default is not None and not default(product) and not default(plain)
    with_timeline = WindowsEngine(WindowsSettings(), timeline=True).handover_filter()
    assert with_timeline is not None
    assert with_timeline(product)  # 11707 is on the timeline
    assert not with_timeline(plain)  # Sysmon process creations are not
    (tmp_path / "sysmon.yml").write_text(
        "title: Any process\nlogsource: {product: windows, service: sysmon}\n"
        "detection:\n  sel: {EventID: 1}\n  condition: sel\nlevel: low\n",
        encoding="utf-8",
    )
    with_sigma = WindowsEngine(WindowsSettings(), sigma=load_sigma([tmp_path])).handover_filter()
    assert with_sigma is not None and with_sigma(plain) and not with_sigma(product)
