"""`mamori check / analyze / alerts / demo` end to end on real captures (../shared/data/pcap)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import LAB_SITE
from tests.integration.conftest import json_lines, run_mamori

REQUIRED = {
    "rule",
    "severity",
    "first_seen",
    "last_seen",
    "count",
    "src_mac",
    "src_ip",
    "dst_ip",
    "system",
    "summary_ja",
    "summary_en",
}
STRANGER = ("02:00:00:00:0a:01", "10.231.0.1")
PROBES = {  # what each scan type sends, as tcpdump expressions
    "syn": "tcp[13] & 0x12 == 2",
    "connect": "tcp[13] & 0x12 == 2",
    "fin": "tcp[13] & 0x16 == 0",
    "null": "tcp[13] & 0x16 == 0",
    "xmas": "tcp[13] & 0x16 == 0",
    "ack": "tcp[13] == 0x10 and tcp[14:2] == 1024",
    "udp": "udp",
}


def tcpdump_count(path: Path, expression: str) -> int:
    out = subprocess.run(["tcpdump", "-nn", "-r", str(path), expression], capture_output=True, text=True).stdout
    return out.count("\n")


def analyze(site: Path, *captures: Path) -> list[dict]:
    result = run_mamori("analyze", "--config", str(site), "--json", "--no-store", *map(str, captures))
    alerts = json_lines(result.stdout)
    for alert in alerts:
        assert alert.keys() >= REQUIRED
        assert alert["first_seen"] <= alert["last_seen"]
        assert alert["first_seen"].endswith("+00:00")
    return alerts


@pytest.mark.parametrize(
    ("capture", "scan_type", "unregistered"),
    [
        ("nmap_sS_1-1000.pcap", "syn", True),  # SYN "stealth" scan, as in the Toyama experiment (JAMI 2017)
        ("scan_nmap_sT_1-1000.pcap", "connect", True),
        ("scan_nmap_sF_1-1000.pcap", "fin", False),
        ("scan_nmap_sN_1-1000.pcap", "null", False),
        ("scan_nmap_sX_1-1000.pcap", "xmas", False),
        ("scan_nmap_sA_1-1000.pcap", "ack", False),
        ("scan_nmap_sU_1-50.pcap", "udp", False),
    ],
)
def test_each_nmap_scan_gives_exactly_its_alerts(
    lab_pcaps: Path, site_file, capture: str, scan_type: str, unregistered: bool
) -> None:
    alerts = analyze(site_file(LAB_SITE), lab_pcaps / capture)
    rules = sorted(a["rule"] for a in alerts)
    assert rules == sorted(["port-scan", *(["unregistered-terminal"] if unregistered else [])])
    scan = next(a for a in alerts if a["rule"] == "port-scan")
    assert scan["scan_type"] == scan_type
    assert scan["direction"] == "vertical"
    assert (scan["src_mac"], scan["src_ip"], scan["dst_ip"]) == (*STRANGER, "10.231.0.2")
    assert scan["system"] == "透析システム"
    probes = tcpdump_count(lab_pcaps / capture, f"src host {STRANGER[1]} and ({PROBES[scan_type]})")
    if scan_type == "udp":
        # Empty probes pass the filter; probes with a payload (nmap sends some to ports 7, 53...) are known from
        # the ICMP port-unreachable answer when the port is closed.
        empty = tcpdump_count(lab_pcaps / capture, f"src host {STRANGER[1]} and udp[4:2] == 8")
        assert empty <= scan["count"] <= probes
    else:
        assert scan["count"] == probes  # every probe nmap sent, retransmissions included
    assert len(scan["ports"]) >= (45 if scan_type == "udp" else 800)  # the captures hold 49 to 1,001 ports
    if unregistered:
        stranger = next(a for a in alerts if a["rule"] == "unregistered-terminal")
        assert (stranger["src_mac"], stranger["src_ip"], stranger["dst_port"]) == (*STRANGER, 6000)
        assert stranger["count"] == 1  # nmap touched the protected port 6000 once


def test_one_scanner_with_five_techniques_in_sequence_is_one_alert_naming_them_all(lab_pcaps: Path, site_file) -> None:
    """The lab's nmap -sS, -sF, -sN, -sX and -sA of the same ports, analysed in that order (one stranger)."""
    sequence = [("nmap_sS_1-1000.pcap", "syn")] + [
        (f"scan_nmap_s{flag}_1-1000.pcap", kind)
        for flag, kind in (("F", "fin"), ("N", "null"), ("X", "xmas"), ("A", "ack"))
    ]
    alerts = analyze(site_file(LAB_SITE), *(lab_pcaps / name for name, _ in sequence))
    assert sorted(a["rule"] for a in alerts) == ["port-scan", "unregistered-terminal"]
    (scan,) = [a for a in alerts if a["rule"] == "port-scan"]
    kinds = [kind for _, kind in sequence]
    assert list(scan["scan_types"]) == kinds
    for name, kind in sequence:
        # Each technique is counted on every port its capture probed (distinct ports, not retransmissions).
        ports = subprocess.run(
            ["tcpdump", "-nn", "-r", str(lab_pcaps / name), f"src host {STRANGER[1]} and ({PROBES[kind]})"],
            capture_output=True,
            text=True,
        ).stdout
        distinct = {line.split(" > ")[1].split(":")[0].rsplit(".", 1)[1] for line in ports.splitlines()}
        assert scan["scan_types"][kind] == len(distinct), kind
    probes = sum(
        tcpdump_count(lab_pcaps / name, f"src host {STRANGER[1]} and ({PROBES[kind]})") for name, kind in sequence
    )
    assert scan["count"] == probes
    assert scan["severity"] == "critical"  # the dialysis server, scanned with stealth techniques
    assert (
        "Port scan (SYN scan, FIN scan, NULL scan, Xmas scan, ACK scan): 10.231.0.1 probed 1001 ports on 10.231.0.2"
        in scan["summary_en"]
    )
    assert "（SYN スキャン、FIN スキャン、NULL スキャン、Xmas スキャン、ACK スキャン）" in scan["summary_ja"]


def test_hping3_flood_is_a_flood_and_a_stranger(lab_pcaps: Path, site_file) -> None:
    capture = lab_pcaps / "scan_hping3_flood_S_p6000.pcap"
    alerts = analyze(site_file(LAB_SITE), capture)
    assert sorted(a["rule"] for a in alerts) == ["syn-flood", "unregistered-terminal"]
    syns = tcpdump_count(capture, "tcp[13] & 0x12 == 2")
    flood = next(a for a in alerts if a["rule"] == "syn-flood")
    assert flood["count"] == syns
    assert next(a for a in alerts if a["rule"] == "unregistered-terminal")["count"] == syns


def test_masscan_behind_a_vlan_tag(shared_data: Path, site_file) -> None:
    folder = shared_data / "pcap" / "esnet-curated" / "attacks" / "scanners" / "masscan"
    site = site_file("systems: []\n")
    (tcp_scan,) = analyze(site, folder / "tcp_0_1000_20190821.pcap")
    assert (tcp_scan["rule"], tcp_scan["scan_type"], len(tcp_scan["ports"])) == ("port-scan", "syn", 1001)
    assert tcp_scan["src_ip"] == "172.31.15.102"
    assert tcp_scan["samples"][0]["vlan"] == 943
    (udp_scan,) = analyze(site, folder / "udp_0_1000_20190821.pcap")
    assert (udp_scan["rule"], udp_scan["scan_type"]) == ("port-scan", "udp")


def test_nmap_version_and_os_detection_against_a_protected_web_server(shared_data: Path, site_file) -> None:
    folder = shared_data / "pcap" / "esnet-curated" / "attacks" / "scanners" / "nmap"
    site = site_file("systems:\n  - {name: web, servers: [130.211.223.103], ports: [80]}\n")
    for name in ("nmap_80_vanilla.pcap", "nmap_80_w_service_detection.pcap", "nmap_80_all.pcap"):
        alerts = analyze(site, folder / name)
        stranger = [a for a in alerts if a["rule"] == "unregistered-terminal"]
        assert len(stranger) == 1, name
        assert stranger[0]["src_mac"] == "d0:50:99:51:31:3d"
        expected = tcpdump_count(folder / name, "dst host 130.211.223.103 and dst port 80 and tcp[13] & 0x12 == 2")
        assert stranger[0]["count"] == expected, name


def test_all_captures_at_once_and_single_packets(shared_data: Path, site_file) -> None:
    captures = sorted((shared_data / "pcap").rglob("*.pcap"))
    assert len(captures) >= 15
    alerts = analyze(site_file(LAB_SITE), *captures)
    assert {a["rule"] for a in alerts} >= {"port-scan", "unregistered-terminal", "syn-flood"}


def test_damaged_and_foreign_files_are_reported_and_the_rest_analysed(
    lab_pcaps: Path, site_file, tmp_path: Path
) -> None:
    damaged = tmp_path / "cut.pcap"
    damaged.write_bytes((lab_pcaps / "nmap_sS_1-1000.pcap").read_bytes()[:100_000])
    notes = tmp_path / "notes.pcap"
    notes.write_text("not a capture")
    result = run_mamori(
        "analyze", "--config", str(site_file(LAB_SITE)), "--json", "--no-store", str(notes), str(damaged), check=False
    )
    assert result.returncode == 2
    assert "notes.pcap: not a readable pcap or pcapng file" in result.stderr
    assert "cut.pcap: the file is damaged or truncated" in result.stderr
    assert "port-scan" in {a["rule"] for a in json_lines(result.stdout)}


def test_check_reports_problems_and_accepts_good_files(site_file) -> None:
    good = run_mamori("check", "--config", str(site_file(LAB_SITE)))
    assert "OK" in good.stdout and "透析システム" in good.stdout
    bad = run_mamori(
        "check", "--config", str(site_file("systems:\n  - {name: x, servers: [1.2.3], ports: [0]}\n")), check=False
    )
    assert bad.returncode == 2
    assert "site.yaml:2:" in bad.stderr
    assert "systems[0].servers[0].ip" in bad.stderr and "systems[0].ports[0]" in bad.stderr


def test_check_lists_the_hosts_exempt_from_lateral_movement(site_file) -> None:
    exempt = (
        "exempt_hosts:\n"
        "  - {name: 情シス管理端末, role: admin, ips: [10.2.0.10]}\n"
        "  - {name: '=AV server', role: antivirus, computers: [AV01], accounts: [svc-av]}\n"
    )
    out = run_mamori("check", "--config", str(site_file(LAB_SITE + exempt))).stdout
    assert "exempt from lateral-movement: 2" in out
    assert "- 情シス管理端末 (admin): 10.2.0.10/32" in out
    assert "- =AV server (antivirus): computer AV01, account svc-av" in out


def test_analyze_stores_and_alerts_lists(lab_pcaps: Path, site_file, tmp_path: Path) -> None:
    site = site_file(LAB_SITE + f"storage: {{path: {tmp_path / 'm.db'}}}\n")
    printed = json_lines(
        run_mamori("analyze", "--config", str(site), "--json", str(lab_pcaps / "nmap_sS_1-1000.pcap")).stdout
    )
    stored = json_lines(run_mamori("alerts", "--config", str(site), "--json").stdout)
    assert sorted(a["uid"] for a in stored) == sorted(a["uid"] for a in printed)
    assert {a["rule"] for a in stored} == {"port-scan", "unregistered-terminal"}
    only_scans = json_lines(run_mamori("alerts", "--config", str(site), "--json", "--rule", "port-scan").stdout)
    assert [a["rule"] for a in only_scans] == ["port-scan"]
    text = run_mamori("alerts", "--config", str(site), "--lang", "en").stdout
    assert "Port scan (SYN scan): 10.231.0.1 probed 1001 ports on 10.231.0.2" in text


def test_demo_makes_real_alerts(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = run_mamori("demo", "--dir", str(folder), "--no-web")
    assert "未登録端末" in result.stdout
    site = folder / "mamori-demo.yaml"
    alerts = json_lines(run_mamori("alerts", "--config", str(site), "--json").stdout)
    summary = sorted((a["rule"], a["details"].get("reason") or a.get("scan_type") or "") for a in alerts)
    assert summary == sorted(
        [
            ("unregistered-terminal", "unregistered-mac"),  # the vendor laptop on the dialysis server
            ("unregistered-terminal", "unregistered-mac"),  # ... and on the lab server, during its scan
            ("unregistered-terminal", "ip-mismatch"),  # a registered PC with another IP
            ("unregistered-terminal", "unregistered-ip"),  # the maintenance VPN through the router
            ("port-scan", "syn"),
            ("syn-flood", ""),
            ("ip-mac-conflict", "registered-binding"),
        ]
    )
    capture = next((folder / "captures").glob("*.pcap"))
    assert tcpdump_count(capture, "tcp") > 3000  # a real capture tcpdump can read


def test_demo_opens_the_dashboard_on_the_demo_data(tmp_path: Path) -> None:
    """The README's first command: the demo analyses and then serves the dashboard with a password made now."""
    import re
    import signal
    import socket
    import time
    import urllib.parse
    import urllib.request
    from http.cookiejar import CookieJar

    from tests.integration.conftest import MAMORI

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [MAMORI, "demo", "--dir", str(tmp_path / "demo"), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = ""
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while "password" not in output and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output += line
        found = re.search(r"password: (\S+)", output)
        assert found, output
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"
        for _ in range(50):
            try:
                page = opener.open(f"{base}/login/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = urllib.parse.urlencode({"username": "demo", "password": found.group(1), "csrf_token": token}).encode()
        request = urllib.request.Request(f"{base}/login/", data=form, headers={"Referer": f"{base}/login/"})
        overview = opener.open(request, timeout=10).read().decode()
        assert "優先して対応" in overview  # the Japanese overview, logged in
        alerts = opener.open(f"{base}/alerts/", timeout=10).read().decode()
        assert alerts.count('data-uid="') == 7
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
