"""``mamori evtx analyze`` on the real sample logs (../shared/data/evtx, see the SOURCE.md files) and on the attack
chain of the Ministry's 2023 training on the Osaka incident as forwarded JSON, through the installed command."""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from mamori.testing.winevents import (
    CATERING_SERVER,
    NEXT_SERVER_IP,
    VENDOR_IP,
    ecs_line,
    evtx_json_line,
    nxlog_line,
    osaka_chain,
)
from tests.integration.conftest import json_lines, run_mamori

HIGH = ("high", "critical")


@pytest.fixture
def evtx_dir(shared_data: Path) -> Path:
    return shared_data / "evtx"


def analyze(*args: str | Path) -> list[dict]:
    return json_lines(run_mamori("evtx", "analyze", "--json", *map(str, args)).stdout)


def files_of(alert: dict) -> set[str]:
    return {s.get("source") for s in alert["samples"]}


def test_smb_password_guessing_is_one_brute_force_alert_with_its_count_and_window(evtx_dir: Path) -> None:
    alerts = analyze(evtx_dir / "deepbluecli/evtx/smb-password-guessing-security.evtx")
    [brute] = [a for a in alerts if a["rule"] == "brute-force"]
    assert brute["src_ip"] == "192.168.198.149"
    assert brute["count"] == 3561  # every 4625 of the file comes from that address
    assert brute["first_seen"] == "2016-09-19T16:50:06.477878+00:00"
    assert brute["last_seen"] == "2016-09-19T16:52:49.399674+00:00"
    assert brute["computer"] == "DESKTOP-M5SN04R"
    assert brute["target_user"] == "Administrator"
    assert brute["logon_type"] == 3
    assert brute["severity"] == "high"
    assert not [a for a in alerts if a["rule"] in ("logon-after-failures", "password-spray")]


def test_attack_samples_give_their_alerts(evtx_dir: Path) -> None:
    samples = evtx_dir / "evtx-attack-samples"
    named = {
        "DE_1102_security_log_cleared.evtx": samples / "Defense Evasion",
        "DE_104_system_log_cleared.evtx": samples / "Defense Evasion",
        "LM_Remote_Service02_7045.evtx": samples / "Lateral Movement",
        "sysmon_10_lsass_mimikatz_sekurlsa_logonpasswords.evtx": samples / "Credential Access",
        "DE_RDP_Tunneling_4624.evtx": samples / "Command and Control",
        "DE_RDP_Tunneling_TerminalServices-RemoteConnectionManagerOperational_1149.evtx": samples
        / "Command and Control",
        "mimikatz-privesc-hashdump.evtx": evtx_dir / "deepbluecli" / "evtx",
        "password-spray.evtx": evtx_dir / "deepbluecli" / "evtx",
    }
    alerts = analyze(*(folder / name for name, folder in named.items()))

    def rule_files(rule: str) -> set[str]:
        return set().union(*(files_of(a) for a in alerts if a["rule"] == rule))

    assert {"DE_1102_security_log_cleared.evtx", "DE_104_system_log_cleared.evtx"} <= rule_files("log-cleared")
    assert rule_files("service-installed") == {"LM_Remote_Service02_7045.evtx"}
    assert {
        "sysmon_10_lsass_mimikatz_sekurlsa_logonpasswords.evtx",
        "mimikatz-privesc-hashdump.evtx",
    } <= {s for a in alerts if a["rule"] == "attack-tool" and a["tool"] == "Mimikatz" for s in files_of(a)}
    rdp = [a for a in alerts if a["rule"] == "rdp-logon"]
    assert "127.0.0.1" in {a["src_ip"] for a in rdp if "DE_RDP_Tunneling_4624.evtx" in files_of(a)}
    assert {"10.0.2.16", "10.0.2.15"} <= {a["src_ip"] for a in rdp}
    [spray] = [a for a in alerts if a["rule"] == "password-spray"]
    assert spray["accounts"] >= 10
    for alert in alerts:
        assert alert["summary_ja"] and alert["summary_en"] and alert["samples"]


def test_all_sample_logs_no_false_brute_force_and_the_benign_log_raises_nothing_high(evtx_dir: Path) -> None:
    result = run_mamori("evtx", "analyze", "--json", str(evtx_dir))
    alerts = json_lines(result.stdout)
    by_rule: dict[str, set[str]] = {}
    for alert in alerts:
        by_rule.setdefault(alert["rule"], set()).update(files_of(alert))
    assert by_rule["brute-force"] == {"smb-password-guessing-security.evtx"}
    assert by_rule["password-spray"] == {"password-spray.evtx"}
    assert "logon-after-failures" not in by_rule
    benign = "many-events-application.evtx"  # an ordinary Application log: 8 product installs, crashes, updates
    assert not [a for a in alerts if benign in files_of(a) and a["severity"] in HIGH]
    assert f"{len(list(evtx_dir.rglob('*.evtx')))} files" in result.stderr


def test_corrupt_file_is_reported_and_the_rest_is_analysed(evtx_dir: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "Security.evtx"
    data = bytearray((evtx_dir / "deepbluecli/evtx/smb-password-guessing-security.evtx").read_bytes())
    data[4096 + 2 * 65536 : 4096 + 2 * 65536 + 8] = b"XXXXXXXX"
    damaged.write_bytes(bytes(data))
    result = run_mamori("evtx", "analyze", "--json", str(damaged))
    [brute] = [a for a in json_lines(result.stdout) if a["rule"] == "brute-force"]
    assert 3300 < brute["count"] < 3561
    assert "warning:" in result.stderr and "chunk" in result.stderr


def write_chain(folder: Path) -> Path:
    """The Osaka chain (the Ministry's 2023 training) as log shippers would deliver it: Security through
    Winlogbeat (ECS), Application through NXLog (local times in JST), the RDP and Sysmon logs as evtx_dump JSON
    lines."""
    folder.mkdir()
    writers: dict[str, Callable] = {"Security": ecs_line, "Application": nxlog_line}
    with (
        (folder / "winlogbeat.ndjson").open("w", encoding="utf-8") as ecs,
        (folder / "nxlog.json").open("w", encoding="utf-8") as nx,
        (folder / "other.jsonl").open("w", encoding="utf-8") as other,
    ):
        for event in osaka_chain():
            line = writers.get(event.channel, evtx_json_line)(event)
            {"Security": ecs, "Application": nx}.get(event.channel, other).write(line + "\n")
    return folder


def test_the_osaka_attack_chain_from_forwarded_events(tmp_path: Path, site_file: Callable[..., Path]) -> None:
    chain = write_chain(tmp_path / "forwarded")
    config = site_file(
        f"storage: {{path: {tmp_path / 'mamori.db'}}}\n"
        "windows:\n"
        "  rdp_admin_hosts: [192.168.10.5, 10.20.0.0/24]\n"
        "  log_timezone: Asia/Tokyo\n"
    )
    timeline, logons = tmp_path / "timeline.csv", tmp_path / "logons.jsonl"
    alerts = analyze("--config", config, "--timeline", timeline, "--logons", logons, chain)
    rules = {a["rule"]: a for a in alerts}
    brute = rules["brute-force"]
    assert brute["count"] == 1989
    assert brute["first_seen"] == "2022-10-30T19:07:12+00:00"  # 4:07:12 JST
    assert brute["last_seen"] == "2022-10-31T00:31:20+00:00"  # 9:31:20 JST
    worked = rules["logon-after-failures"]
    assert worked["severity"] == "critical" and worked["src_ip"] == VENDOR_IP and worked["logon_type"] == 10
    assert rules["rdp-logon"]["severity"] == "high" and rules["rdp-logon"]["src_ip"] == VENDOR_IP
    tools = {a["tool"]: a for a in alerts if a["rule"] == "attack-tool"}
    assert tools["Advanced IP Scanner"]["action"] == "install"
    assert tools["Mimikatz"]["severity"] == "critical"
    assert rules["rdp-outbound"]["dst_ip"] == NEXT_SERVER_IP and rules["rdp-outbound"]["severity"] == "high"
    assert rules["admin-ntlm-logon"]["computer"] == CATERING_SERVER

    with timeline.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1997
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    success = next(r for r in rows if r["event_id"] == "4624")
    assert "logon-after-failures" in success["rules"] and success["source"] == VENDOR_IP
    summary = [json.loads(line) for line in logons.read_text(encoding="utf-8").splitlines()]
    rdp = [r for r in summary if r["source"] == VENDOR_IP]
    assert {r["logon_type"] for r in rdp} == {"10", "RDP (LocalSessionManager)"}
    assert all(r["successes"] == 1 for r in rdp)

    stored = json_lines(run_mamori("alerts", "--config", str(config), "--json").stdout)
    assert {a["rule"] for a in stored} == {a["rule"] for a in alerts}


def test_a_file_that_ends_early_is_reported_on_stderr_with_json_and_on_the_dashboard_table(
    evtx_dir: Path, tmp_path: Path, site_file: Callable[..., Path]
) -> None:
    """The issue: cut at 70,000 bytes, 104 of 295 records were read and nothing was said."""
    cut = tmp_path / "Security.evtx"
    with (evtx_dir / "deepbluecli/evtx/password-spray.evtx").open("rb") as f:
        cut.write_bytes(f.read(70_000))
    whole = evtx_dir / "deepbluecli/evtx/smb-password-guessing-security.evtx"
    config = site_file(f"storage: {{path: {tmp_path / 'mamori.db'}}}\n")
    result = run_mamori("evtx", "analyze", "--config", str(config), "--json", str(cut), str(whole))
    json_lines(result.stdout)  # stdout holds the alerts only
    [warning] = [line for line in result.stderr.splitlines() if "ends early" in line]
    assert warning.startswith(f"warning: {cut}: ファイルが途中で終わっています: 70,000 バイトで切れています")
    assert "stops at byte 70,000 of 200,704" in warning and "104 records were read" in warning
    assert "2 files (1 ending early)" in result.stderr
    with contextlib.closing(sqlite3.connect(tmp_path / "mamori.db")) as db:  # what the dashboard's table shows
        rows = db.execute("SELECT name, kind, received, matched, error FROM mamori_sensor_status").fetchall()
    sources = {name: (kind, received, matched, error) for name, kind, received, matched, error in rows}
    kind, received, matched, error = sources[str(cut)]
    assert (kind, received, matched) == ("evtx", 104, 104)
    assert "stops at byte 70,000 of 200,704" in error and "104 records were read" in error
    assert sources[str(whole)] == ("evtx", 3561, 3561, "")
