"""System fields as numbers, as text, or as elements with attributes (``"EventID": 4625``, ``"EventID": "4625"``,
``"EventID": {"#attributes": {...}, "#text": "4625"}``): every event a rule, the timeline or the logon summary reads
arrives, and gives the same alerts, whichever form its producer wrote, in .evtx files (read here and by the worker
processes) and in JSON lines.

The .evtx files are written by mamori.testing.evtx_writer in Windows' binary format and read by the real parser;
the RemoteConnectionManager log is a real one (EVTX-ATTACK-SAMPLES, see its SOURCE.md) written out in each form.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mamori.config.windows import WindowsSettings
from mamori.detection.windows import REGISTRY, TIMELINE_EVENTS, LogonSummary, WindowsEngine
from mamori.ingest import EvtxFile, event_from_json, open_log, read_evtx_files
from mamori.model import Alert, WindowsEvent
from mamori.rules.render import summary
from mamori.runtime.windows_logs import TimelineSink, analyze_windows_logs
from mamori.testing.evtx_writer import FORMS, Form, write_evtx
from mamori.testing.winevents import JST, ecs_line, event, evtx_json_line, failed_logon, logon, nxlog_line

RCM_1149 = Path(
    "evtx-attack-samples/Command and Control/"
    "DE_RDP_Tunneling_TerminalServices-RemoteConnectionManagerOperational_1149.evtx"
)
HERE, WORKERS = 1 << 62, 0  # parallel_min_bytes: read in this process / by the worker processes
PATHS = pytest.mark.parametrize("parallel_min_bytes", [HERE, WORKERS], ids=["one-process", "workers"])
T0 = 1_800_000_000.25

LSM = "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"
RCM = "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"
CLIENT = "Microsoft-Windows-TerminalServices-RDPClient/Operational"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
WSB = "Microsoft-Windows-Backup"
CHANNELS = {c.lower(): c for c in ("Security", "System", "Application", LSM, RCM, CLIENT, SYSMON, WSB)}

# Every (channel, event id) a built-in rule, the timeline or the logon summary reads.
READ_BY_SOMETHING = sorted(
    set(TIMELINE_EVENTS)
    | {
        ("security", 4673),
        ("security", 4688),
        ("security", 5140),
        ("security", 5145),
        ("application", 1040),
        ("application", 11728),
        ("microsoft-windows-sysmon/operational", 1),
        ("microsoft-windows-sysmon/operational", 10),
        ("microsoft-windows-sysmon/operational", 11),
        ("microsoft-windows-backup", 524),
    }
)
FIELDS = {  # what the rules read, with numbers among them (typed as numbers in the "int" form)
    "SubjectUserName": "bob",
    "SubjectDomainName": "HOSP",
    "TargetUserName": "Administrator",
    "TargetDomainName": "HOSP",
    "LogonType": "10",
    "IpAddress": "10.1.2.3",
    "IpPort": "50123",
    "ProcessId": "4242",
    "User": "HOSP\\alice",
    "SessionID": "0",
    "Address": "10.1.2.3",
    "Param1": "alice",
    "Param2": "HOSP",
    "Param3": "10.1.2.3",
    "Value": "10.9.9.9",
    "Image": "C:\\Tools\\mimikatz.exe",
    "ServiceName": "updater",
    "ImagePath": "C:\\Windows\\Temp\\u.exe",
    "Channel": "Microsoft-Windows-PowerShell/Operational",
    "Status": "0xc000006d",
}


def test_the_list_covers_every_event_id_read() -> None:
    read = {i for cls in REGISTRY.values() for i in cls.event_ids} | {i for _, i in TIMELINE_EVENTS}
    read |= LogonSummary.EVENT_IDS
    assert {i for _, i in READ_BY_SOMETHING} == read
    assert {c for c, _ in READ_BY_SOMETHING} <= set(CHANNELS)


def every_read_event() -> list[WindowsEvent]:
    return [
        event(T0 + n * 1.5, event_id, dict(FIELDS), channel=CHANNELS[channel], provider="P", record_id=100 + n)
        for n, (channel, event_id) in enumerate(READ_BY_SOMETHING)
    ]


def wanted() -> frozenset[int] | None:
    return WindowsEngine(WindowsSettings(), timeline=True, logons=LogonSummary()).wanted_event_ids()


def read(path: Path, parallel_min_bytes: int) -> tuple[list[WindowsEvent], EvtxFile]:
    file = EvtxFile(path, wanted())
    batches = read_evtx_files([file], parallel_min_bytes=parallel_min_bytes, workers=2)
    events = [e for _, batch in batches for e in batch]
    return events, file


@pytest.mark.parametrize("form", FORMS)
@PATHS
def test_every_event_id_read_arrives_from_an_evtx_file_in_every_form(
    form: Form, parallel_min_bytes: int, tmp_path: Path
) -> None:
    given = every_read_event()
    path = tmp_path / f"{form}.evtx"
    write_evtx(path, given, form=form)
    events, file = read(path, parallel_min_bytes)
    assert file.stats.records == len(given) and file.stats.problem_count == 0
    assert [e._replace(source="test") for e in events] == given


@pytest.mark.parametrize("form", FORMS)
def test_every_event_id_read_arrives_from_json_lines_in_every_form(form: Form) -> None:
    given = every_read_event()
    events = [event_from_json(json.loads(evtx_json_line(e, form)), "test") for e in given]
    assert events == given


# -- a real log --------------------------------------------------------------------------------------------------


def alert_facts(alerts: list[Alert]) -> list[tuple]:
    """What an alert says, without its uid or the file names in its samples."""
    return sorted(
        (a.rule, a.key, a.count, a.first_seen, a.last_seen, a.severity, summary(a, "en"), json.dumps(dict(a.details)))
        for a in alerts
    )


@pytest.mark.parametrize("form", FORMS)
@PATHS
def test_the_real_rdp_1149_log_gives_its_logons_in_every_form(
    form: Form, parallel_min_bytes: int, shared_data: Path, tmp_path: Path
) -> None:
    """The issue's log: eleven RDP logons (1149) that gave "11 records, 0 events examined, 0 alerts" as text."""
    real = shared_data / "evtx" / RCM_1149
    logons = [e for batch in EvtxFile(real).batches() for e in batch if e.event_id == 1149]
    assert len(logons) == 11
    path = tmp_path / f"1149-{form}.evtx"
    write_evtx(path, logons, form=form)
    events, file = read(path, parallel_min_bytes)
    assert file.stats.records == 11 and file.stats.decoded == 11
    assert [e._replace(source="") for e in events] == [e._replace(source="") for e in logons]
    settings = WindowsSettings()
    result = analyze_windows_logs([path], settings, parallel_min_bytes=parallel_min_bytes)
    original = analyze_windows_logs([real], settings, parallel_min_bytes=HERE)
    assert result.events == 11
    assert alert_facts(result.alerts) == alert_facts([a for a in original.alerts if a.rule == "rdp-logon"])
    assert {a.src_ip for a in result.alerts} >= {"10.0.2.15", "10.0.2.16", "127.0.0.1"}


# -- every rule, the timeline and the logon summary ---------------------------------------------------------------


def every_rule() -> list[WindowsEvent]:
    """Events that raise an alert of each built-in rule."""
    eventlog = "Microsoft-Windows-Eventlog"
    scm = "Service Control Manager"
    out = [failed_logon(T0 + i, ip="203.0.113.9") for i in range(12)]  # brute-force, admin-ntlm-logon
    out += [failed_logon(T0 + 20 + i, user=f"user{i}", ip="203.0.113.7") for i in range(11)]  # password-spray
    out += [
        logon(T0 + 40, ip="203.0.113.9", package="NTLM", domain="-", logon_type=3),  # logon-after-failures
        logon(T0 + 41),  # rdp-logon (4624 type 10)
        event(T0 + 42, 21, {"User": "HOSP\\alice", "SessionID": "2", "Address": "198.51.100.4"}, channel=LSM),
        event(T0 + 43, 25, {"User": "HOSP\\alice", "SessionID": "2", "Address": "198.51.100.4"}, channel=LSM),
        event(T0 + 44, 1149, {"Param1": "alice", "Param2": "HOSP", "Param3": "198.51.100.5"}, channel=RCM),
        event(T0 + 45, 1024, {"Value": "10.10.20.15"}, channel=CLIENT),  # rdp-outbound
        event(T0 + 46, 1102, {"Value": "10.10.20.15"}, channel=CLIENT),
        event(T0 + 47, 4740, {"TargetUserName": "user1", "TargetDomainName": "WS07"}),  # account-lockout
        event(T0 + 48, 4720, {"TargetUserName": "support", "SubjectUserName": "Administrator"}),  # account-change
        event(T0 + 49, 4732, {"MemberSid": "S-1-5-21-1-2-3-1010", "TargetSid": "S-1-5-32-544", "TargetUserName": "x"}),
        event(T0 + 50, 1102, {"SubjectUserName": "bob", "SubjectDomainName": "HOSP"}, provider=eventlog),
        event(T0 + 51, 104, {"SubjectUserName": "bob", "Channel": "System"}, channel="System", provider=eventlog),
        event(  # lateral-movement-windows: the service control manager's pipe, then the 7045 below
            T0 + 51.5,
            5145,
            {
                "SubjectUserName": "bob",
                "IpAddress": "198.51.100.9",
                "ShareName": "\\\\*\\IPC$",
                "RelativeTargetName": "svcctl",
            },
        ),
        event(T0 + 52, 7045, {"ServiceName": "x", "ImagePath": "cmd.exe /c x"}, channel="System", provider=scm),
        event(T0 + 53, 4697, {"ServiceName": "y", "ServiceFileName": "C:\\y.exe", "SubjectUserName": "bob"}),
        event(T0 + 54, 1, {"Image": "C:\\T\\mimikatz.exe", "ProcessId": "4242"}, channel=SYSMON),  # attack-tool
        event(T0 + 55, 11707, {"Data": "Product: Advanced IP Scanner 2.5.1"}, channel="Application"),
        event(T0 + 56, 4688, {"NewProcessName": "C:\\T\\nmap.exe"}),
        event(
            T0 + 57,
            4624,
            {"LogonType": "9", "LogonProcessName": "seclogo", "AuthenticationPackageName": "Negotiate"},
        ),
        event(T0 + 58, 4688, {"CommandLine": "vssadmin.exe delete shadows /all /quiet"}),  # backup-deleted
        event(T0 + 59, 524, {}, channel=WSB, provider=WSB),
    ]
    return [e._replace(record_id=n) for n, e in enumerate(out, start=1)]


def run(paths: list[Path], parallel_min_bytes: int, tmp_path: Path) -> tuple[list[tuple], list[str], list]:
    timeline = tmp_path / "timeline.jsonl"
    result = analyze_windows_logs(
        paths,
        WindowsSettings(),
        timeline=TimelineSink(timeline),
        logons=True,
        parallel_min_bytes=parallel_min_bytes,
    )
    rows = [json.loads(line) for line in timeline.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        row.pop("file")
    return alert_facts(result.alerts), [json.dumps(r) for r in rows], result.logons


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple], list[str], list]:
    """The analysis of the events as Windows types them, written as JSON lines."""
    folder = tmp_path_factory.mktemp("reference")
    path = folder / "events.jsonl"
    path.write_text("".join(evtx_json_line(e) + "\n" for e in every_rule()), encoding="utf-8")
    return run([path], HERE, folder)


def test_the_scenario_raises_every_rule(reference: tuple[list[tuple], list[str], list]) -> None:
    assert {fact[0] for fact in reference[0]} == set(REGISTRY)


@pytest.mark.parametrize("form", FORMS)
@PATHS
def test_every_rule_the_timeline_and_the_logon_summary_read_evtx_in_every_form(
    form: Form, parallel_min_bytes: int, tmp_path: Path, reference: tuple[list[tuple], list[str], list]
) -> None:
    path = tmp_path / f"{form}.evtx"
    write_evtx(path, every_rule(), form=form)
    assert run([path], parallel_min_bytes, tmp_path) == reference


@pytest.mark.parametrize("form", FORMS)
def test_every_rule_the_timeline_and_the_logon_summary_read_json_lines_in_every_form(
    form: Form, tmp_path: Path, reference: tuple[list[tuple], list[str], list]
) -> None:
    path = tmp_path / f"{form}.jsonl"
    path.write_text("".join(evtx_json_line(e, form) + "\n" for e in every_rule()), encoding="utf-8")
    assert run([path], HERE, tmp_path) == reference


def test_ecs_and_nxlog_values_in_every_form() -> None:
    """Winlogbeat and NXLog documents whose ids and names come as text or as elements with attributes."""
    given = every_read_event()[0]._replace(record_id=17)
    ecs = json.loads(ecs_line(given))
    ecs["winlog"].update(
        event_id={"#attributes": {"Qualifiers": "0"}, "#text": str(given.event_id)},
        record_id=" 17 ",
        computer_name={"#attributes": {"Source": "x"}, "#text": given.computer},
    )
    nxlog = json.loads(nxlog_line(given))
    nxlog.update(EventID={"#text": str(given.event_id)}, RecordNumber="17")
    for doc in (ecs, nxlog):
        got = event_from_json(doc, "test", JST)
        assert (got.event_id, got.record_id, got.computer) == (given.event_id, 17, given.computer)


def test_an_event_id_that_is_no_number_is_reported_with_its_value_as_json(tmp_path: Path) -> None:
    good = evtx_json_line(every_read_event()[0], "string")
    bad = good.replace('"EventID": "1033"', '"EventID": {"#text": "1O33"}')  # a letter O
    assert bad != good
    path = tmp_path / "events.jsonl"
    path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
    source = open_log(path)
    events = [e for batch in source.batches() for e in batch]
    assert len(events) == 1 and source.stats.records == 2
    assert source.stats.problems == ['line 2: no event id: {"#text": "1O33"}']
