"""lateral-movement-windows through ``mamori evtx analyze``: the real lateral-movement samples in ../shared/data (what
they should and should not raise, read from their content), and a multi-host logon chain written as an .evtx file
with an exempt admin host in the settings file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.testing.evtx_writer import write_evtx
from mamori.testing.winevents import logon
from tests.integration.conftest import json_lines, run_mamori

RULE = "lateral-movement-windows"


@pytest.fixture
def samples(shared_data: Path) -> Path:
    return shared_data / "evtx" / "evtx-attack-samples" / "Lateral Movement"


def analyze(*args: str | Path) -> list[dict]:
    return json_lines(run_mamori("evtx", "analyze", "--no-store", "--json", *map(str, args)).stdout)


@pytest.mark.parametrize("reverse", [False, True])
def test_svcctl_then_a_new_service_on_the_same_server_is_one_remote_service_alert(samples: Path, reverse: bool) -> None:
    # LM_Remote_Service01: 5145 on IPC$\svcctl from 10.0.2.17 as EXAMPLE\Administrator on WIN-77LTAPHIQ1R at
    # 00:41:28.96; LM_Remote_Service02: the System log of that server, 7045 "remotesvc" (calc.exe) at 00:41:29.01,
    # and two services of 3 March (spoolfool, spoolsv) with no share access near them.
    files = [samples / "LM_Remote_Service01_5145_svcctl.evtx", samples / "LM_Remote_Service02_7045.evtx"]
    alerts = analyze(*(reversed(files) if reverse else files))
    [alert] = [a for a in alerts if a["rule"] == RULE]
    assert (alert["severity"], alert["reason"], alert["src_ip"]) == ("high", "remote-service", "10.0.2.17")
    assert alert["accounts"] == ["EXAMPLE\\Administrator"] and alert["targets"] == ["WIN-77LTAPHIQ1R"]
    assert alert["remote_services"] == [
        {
            "computer": "WIN-77LTAPHIQ1R.example.corp",
            "service": "remotesvc",
            "image_path": "calc.exe",
            "share": "\\\\*\\IPC$",
        }
    ]
    assert alert["count"] == 2 and {s["event_id"] for s in alert["samples"]} == {5145, 7045}
    assert alert["summary_en"] == (
        "Remote service creation (PsExec-style): 10.0.2.17 opened an admin share as EXAMPLE\\Administrator and "
        "created WIN-77LTAPHIQ1R.example.corp: remotesvc (calc.exe); 2 events"
    )
    # the services themselves are still service-installed alerts, the old ones not tied to the share
    assert sum(a["rule"] == "service-installed" for a in alerts) == 2


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("LM_5145_Remote_FileCopy.evtx", "C$ of one computer from one source, files copied, no service"),
        ("LM_renamed_psexecsvc_5145.evtx", "ADMIN$ and svcctl on one computer, but no System log with the 7045"),
        ("LM_REMCOM_5145_TargetHost.evtx", "RemCom's share and svcctl on one computer, no 7045"),
        ("LM_4624_mimikatz_sekurlsa_pth_source_machine.evtx", "logon type 9 on the source itself: no move"),
        ("LM_WMIC_4648_rpcss.evtx", "explicit credentials to one server"),
        ("LM_WMI_4624_4688_TargetHost.evtx", "the domain's Administrator (Kerberos, NTLM) on one computer"),
    ],
)
def test_one_computer_reached_is_not_lateral_movement(samples: Path, name: str, why: str) -> None:
    alerts = analyze(samples / name)
    assert [a["summary_en"] for a in alerts if a["rule"] == RULE] == [], why


def test_metasploit_psexec_without_share_auditing_is_only_the_service(shared_data: Path) -> None:
    # The target's System log has the 7045s, its Security log no 5140/5145 (share auditing off): no source is
    # known, so the services stay service-installed alerts.
    folder = shared_data / "evtx" / "deepbluecli" / "evtx"
    alerts = analyze(
        folder / "metasploit-psexec-native-target-security.evtx", folder / "metasploit-psexec-native-target-system.evtx"
    )
    assert not [a for a in alerts if a["rule"] == RULE]
    assert [a for a in alerts if a["rule"] == "service-installed"]


def test_a_logon_chain_over_twelve_servers_is_one_alert_and_the_admin_host_none(tmp_path: Path) -> None:
    t0 = 1_800_000_000.0
    attacker, admin = "10.10.20.66", "10.10.1.5"
    events = [
        logon(t0 + i * 20, "tanaka", attacker, computer=f"SV{i:02d}", logon_type=3 if i % 2 else 10, domain="HOSP")
        for i in range(1, 13)
    ] + [logon(t0 + 400 + i, "admin1", admin, computer=f"SV{i:02d}", logon_type=3, domain="HOSP") for i in range(1, 13)]
    path = tmp_path / "security.evtx"
    write_evtx(path, events)
    config = tmp_path / "site.yaml"
    config.write_text(
        f"storage: {{path: {tmp_path / 'm.db'}}}\n"
        f"exempt_hosts:\n  - {{name: 情シス管理端末, role: admin, ips: [{admin}]}}\n",
        encoding="utf-8",
    )
    alerts = [a for a in analyze("--config", config, path) if a["rule"] == RULE]
    assert [(a["src_ip"], a["severity"], a["peak_hosts"], a["targets_count"]) for a in alerts] == [
        (attacker, "high", 12, 12)
    ]
    assert alerts[0]["methods"] == {"network-logon": 6, "rdp": 6}
    without = [a for a in analyze(path) if a["rule"] == RULE]  # no settings: the admin host is not known
    assert sorted(a["src_ip"] for a in without) == [admin, attacker]


def test_over_every_sample_log_the_rule_raises_only_the_remote_service_incident(shared_data: Path) -> None:
    alerts = [a for a in analyze(shared_data / "evtx") if a["rule"] == RULE]
    assert [(a["src_ip"], a["reason"], a["targets"]) for a in alerts] == [
        ("10.0.2.17", "remote-service", ["WIN-77LTAPHIQ1R"])
    ]
    # the same attacker's scheduled-task work on that server (ADMIN$, IPC$\atsvc) the same night joins the incident
    files = {s["source"] for s in alerts[0]["samples"]}
    assert {"LM_Remote_Service01_5145_svcctl.evtx", "LM_Remote_Service02_7045.evtx"} <= files
