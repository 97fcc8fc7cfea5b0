"""One incident, one alert: a burst of events that belong together (every log cleared at once, two services of one
psexec run, a spray's lockouts, an RDP sweep) is one alert that keeps every item and the count.

Real logs where they exist (EVTX-ATTACK-SAMPLES and DeepBlueCLI, see their SOURCE.md); the issue's server clearing
all its 91 logs with wevtutil is built with mamori.testing.winevents (no public sample has it)."""

from __future__ import annotations

from pathlib import Path

from mamori.config.windows import WindowsSettings
from mamori.detection.windows import WindowsEngine
from mamori.model import Alert, Severity
from mamori.rules.render import summary
from mamori.runtime.windows_logs import analyze_windows_logs
from mamori.testing.winevents import SERVER_CHANNELS, clear_every_log, event, failed_logon

T0 = 1_800_000_000.0
CLIENT = "Microsoft-Windows-TerminalServices-RDPClient/Operational"
# The channels the summary names: Security, System, and the RDP, PowerShell and Sysmon logs.
IMPORTANT = [
    "Security",
    "System",
    "Microsoft-Windows-PowerShell/Admin",
    "Microsoft-Windows-PowerShell/Operational",
    "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Admin",
    "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational",
    "Microsoft-Windows-Sysmon/Operational",
    "Microsoft-Windows-TerminalServices-LocalSessionManager/Admin",
    "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
    "Microsoft-Windows-TerminalServices-PnPDevices/Admin",
    "Microsoft-Windows-TerminalServices-Printers/Admin",
    "Microsoft-Windows-TerminalServices-RDPClient/Operational",
]


def alerts_of(engine: WindowsEngine, rule: str) -> list[Alert]:
    return [a for a in engine.collect_changes() if a.rule == rule]


def test_clearing_every_log_of_a_server_in_seconds_is_one_alert_with_every_channel() -> None:
    """The issue: wevtutil over all 91 channels raised 91 log-cleared alerts."""
    engine = WindowsEngine(WindowsSettings())
    engine.feed(clear_every_log(T0, user="adm-tanaka", domain="HOSP"))
    [alert] = alerts_of(engine, "log-cleared")
    assert alert.count == 91 and alert.severity == Severity.HIGH
    assert alert.details["logs"] == list(SERVER_CHANNELS) and alert.details["logs_count"] == 91
    assert alert.details["actor"] == "HOSP\\adm-tanaka"
    assert alert.last_seen - alert.first_seen < 4
    others = 91 - 12
    assert summary(alert, "en") == (
        f"Event logs cleared: HOSP\\adm-tanaka cleared 91 logs on KYUSHOKU-SV01: {', '.join(IMPORTANT)} and "
        f"{others} others (91×)"
    )
    assert summary(alert, "ja") == (
        f"イベントログの消去: KYUSHOKU-SV01 で HOSP\\adm-tanaka が 91 個のログを消去しました"
        f"（{'、'.join(IMPORTANT)} ほか {others} 個。91 回）"
    )


def test_another_account_or_a_later_burst_is_another_alert() -> None:
    engine = WindowsEngine(WindowsSettings())  # quiet period: 1 hour
    engine.feed(clear_every_log(T0, user="adm-tanaka", channels=("Security", "System")))
    engine.feed(clear_every_log(T0 + 1, user="svc-backup", channels=("Application",)))
    engine.feed(clear_every_log(T0 + 2 * 3600, user="adm-tanaka", channels=("Windows PowerShell",)))
    alerts = sorted(alerts_of(engine, "log-cleared"), key=lambda a: a.first_seen)
    assert [(a.details["actor"], a.details["logs"]) for a in alerts] == [
        ("KYUSHOKU-SV01\\adm-tanaka", ["Security", "System"]),
        ("KYUSHOKU-SV01\\svc-backup", ["Application"]),
        ("KYUSHOKU-SV01\\adm-tanaka", ["Windows PowerShell"]),
    ]
    assert summary(alerts[1], "en") == (
        "Event log cleared: the Application log on KYUSHOKU-SV01 was cleared by KYUSHOKU-SV01\\svc-backup (1×)"
    )


def test_a_burst_of_logs_none_of_them_named_important_names_the_first_three() -> None:
    engine = WindowsEngine(WindowsSettings())
    engine.feed(clear_every_log(T0, channels=SERVER_CHANNELS[:5]))
    [alert] = alerts_of(engine, "log-cleared")
    assert summary(alert, "en").endswith(": Application, HardwareEvents, Internet Explorer and 2 others (5×)")


def test_the_real_system_and_security_clearing_of_one_user_is_one_alert(shared_data: Path) -> None:
    """EVTX-ATTACK-SAMPLES: user01 cleared System, then Security 42 s later, on PC01 (two alerts before)."""
    folder = shared_data / "evtx" / "evtx-attack-samples" / "Defense Evasion"
    paths = [folder / "DE_104_system_log_cleared.evtx", folder / "DE_1102_security_log_cleared.evtx"]
    result = analyze_windows_logs(paths, WindowsSettings(), parallel_min_bytes=1 << 62)
    [alert] = [a for a in result.alerts if a.rule == "log-cleared"]
    assert alert.details["logs"] == ["System", "Security"] and alert.count == 2
    assert alert.details["actor"] == "EXAMPLE\\user01" and alert.details["computer"] == "PC01.example.corp"
    assert summary(alert, "en") == (
        "Event logs cleared: EXAMPLE\\user01 cleared 2 logs on PC01.example.corp: Security, System (2×)"
    )


def test_a_real_metasploit_psexec_run_is_one_log_cleared_and_one_service_alert(shared_data: Path) -> None:
    """DeepBlueCLI: the target cleared both logs, then psexec installed two services with random names 11 s
    apart (four alerts before)."""
    folder = shared_data / "evtx" / "deepbluecli" / "evtx"
    paths = [
        folder / "metasploit-psexec-native-target-security.evtx",
        folder / "metasploit-psexec-native-target-system.evtx",
    ]
    result = analyze_windows_logs(paths, WindowsSettings(), parallel_min_bytes=1 << 62)
    [cleared] = [a for a in result.alerts if a.rule == "log-cleared"]
    assert cleared.details["logs"] == ["Security", "System"]
    [services] = [a for a in result.alerts if a.rule == "service-installed"]
    assert [s["name"] for s in services.details["services"]] == ["KgXItsbKgTJzdzwl", "hgabms"]
    assert services.count == 2 and services.severity == Severity.HIGH
    assert services.details["service"] == "hgabms"  # the suspicious one
    assert services.details["suspicious"] == "hgabms: command line contains 'cmd.exe /c'"
    assert summary(services, "en").startswith("2 new services installed on IE10Win7: hgabms (cmd.exe /c echo hgabms")


def test_a_spray_locking_out_many_accounts_is_one_lockout_alert_per_caller() -> None:
    engine = WindowsEngine(WindowsSettings())
    lockouts = [
        event(
            T0 + i, 4740, {"TargetUserName": f"nurse{i:02}", "TargetDomainName": "WARD3-PC", "SubjectUserName": "DC01$"}
        )
        for i in range(12)
    ]
    engine.feed([*lockouts, event(T0 + 20, 4740, {"TargetUserName": "nurse01", "TargetDomainName": "LAB-PC"})])
    alerts = {a.details["caller_computer"]: a for a in alerts_of(engine, "account-lockout")}
    ward = alerts["WARD3-PC"]
    assert ward.count == 12 and ward.details["accounts"] == [f"nurse{i:02}" for i in range(12)]
    assert summary(ward, "en") == (
        "Accounts locked out: 12 (nurse00, nurse01, nurse02 and 9 others) on KYUSHOKU-SV01 (failures came from "
        "WARD3-PC), 12×"
    )
    assert (
        summary(alerts["LAB-PC"], "en")
        == "Account locked out: nurse01 on KYUSHOKU-SV01 (failures came from LAB-PC), 1×"
    )


def test_an_rdp_sweep_from_one_machine_is_one_outgoing_rdp_alert() -> None:
    engine = WindowsEngine(WindowsSettings())
    targets = [f"10.10.20.{n}" for n in range(11, 16)]
    engine.feed(
        [
            event(T0 + i, event_id, {"Value": target}, channel=CLIENT)
            for i, target in enumerate(targets)
            for event_id in (1024, 1102)
        ]
    )
    [alert] = alerts_of(engine, "rdp-outbound")
    assert alert.count == 10 and alert.details["destinations"] == targets
    assert alert.dst_ip == "10.10.20.11"
    assert summary(alert, "en") == (
        "Outgoing RDP: KYUSHOKU-SV01 connected to 5 machines (10.10.20.11, 10.10.20.12, 10.10.20.13 and 2 others) "
        "over RDP (10 events)"
    )


def test_guessing_at_many_accounts_without_a_source_is_one_brute_force_alert() -> None:
    """No IpAddress (as in the Osaka logs): five accounts guessed at on one server, 12 failures each, were five
    alerts; a nurse's single mistyping meanwhile is not counted in."""
    engine = WindowsEngine(WindowsSettings())
    accounts = ["Administrator", "admin", "backup", "sql", "test"]
    failures = [failed_logon(T0 + n * 12 + i, user=user) for n, user in enumerate(accounts) for i in range(12)]
    engine.feed([*failures, failed_logon(T0 + 30, user="nurse01")])
    [alert] = alerts_of(engine, "brute-force")
    assert alert.count == 60 and sorted(alert.details["users"]) == sorted(accounts)
    assert summary(alert, "en") == "Brute force: 60 failed logons to 5 accounts on KYUSHOKU-SV01 (no source recorded)"
