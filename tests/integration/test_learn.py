"""Onboarding end to end with the installed command: `mamori learn` over a capture of a working LAN, the proposal
imported as it is, then `mamori analyze` of the same traffic is quiet and a stranger is the only alert.

The captures are built here with mamori.testing.pcapbuilder: complete TCP sessions (handshake, request, answer,
close) with correct checksums, ARP, and one terminal reached through the segment's router.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from mamori.model import ACK, FIN, PSH, SYN
from mamori.reports.oui import IEEE_DATA_DIR
from mamori.testing.pcapbuilder import PcapWriter, arp, eth, ipv4, tcp
from tests.integration.conftest import MAMORI, json_lines, run_mamori

ROUTER = ("02:60:00:00:00:01", "192.168.60.1")
DIALYSIS = ("192.168.60.11", "02:60:00:00:01:11")  # (IP, MAC)
LAB = ("192.168.60.21", "02:60:00:00:01:21")
T1 = ("00:d0:ef:60:00:01", "192.168.60.101")  # an IEEE-assigned prefix (IGT), for the vendor column
T2 = ("02:60:00:00:00:02", "192.168.60.102")
T3 = ("02:60:00:00:00:03", "192.168.60.103")
T3_OTHER_IP = "192.168.60.113"
KNOWN = ("02:60:00:00:00:09", "192.168.60.109")  # registered in the settings file
ROUTED = "10.50.0.7"  # behind the router
STRANGER = ("02:66:00:00:be:ef", "192.168.60.200")
T0 = 1_800_000_000.0

SITE = f"""\
site: {{name: 学習テスト病院}}
storage: {{path: mamori.db}}
gateways:
  - {{name: core-router, mac: "{ROUTER[0]}", ip: {ROUTER[1]}}}
systems:
  - name: 透析システム
    servers: [{{ip: {DIALYSIS[0]}, mac: "{DIALYSIS[1]}"}}]
    ports: [6000]
    terminals:
      - {{name: 透析端末-既存, mac: "{KNOWN[0]}", ip: {KNOWN[1]}}}
  - name: 検査システム
    servers: [{{ip: {LAB[0]}, mac: "{LAB[1]}"}}]
    ports: [443, 8080]
"""


class Lan:
    """Writes complete TCP sessions between clients and servers into one capture."""

    def __init__(self, writer: PcapWriter) -> None:
        self.w = writer
        self.rng = random.Random(7)

    def frame(self, ts: float, src_mac: str, dst_mac: str, src: str, dst: str, segment: bytes) -> None:
        self.w.write(ts, eth(dst_mac, src_mac, 0x0800, ipv4(src, dst, 6, segment)))

    def session(self, ts: float, client: tuple[str, str], server: tuple[str, str], port: int, via: str = "") -> None:
        (c_mac, c_ip), (s_ip, s_mac) = client, server
        wire = via or c_mac
        sport, cs, ss = self.rng.randrange(49152, 65535), self.rng.randrange(1 << 32), self.rng.randrange(1 << 32)
        self.frame(ts, wire, s_mac, c_ip, s_ip, tcp(c_ip, s_ip, sport, port, SYN, seq=cs))
        self.frame(ts + 0.001, s_mac, wire, s_ip, c_ip, tcp(s_ip, c_ip, port, sport, SYN | ACK, seq=ss, ack=cs + 1))
        self.frame(ts + 0.002, wire, s_mac, c_ip, s_ip, tcp(c_ip, s_ip, sport, port, ACK, seq=cs + 1, ack=ss + 1))
        req = b"GET /status HTTP/1.1\r\n\r\n"
        self.frame(
            ts + 0.003,
            wire,
            s_mac,
            c_ip,
            s_ip,
            tcp(c_ip, s_ip, sport, port, ACK | PSH, seq=cs + 1, ack=ss + 1, payload=req),
        )
        c_end, s_end = cs + 1 + len(req), ss + 1
        self.frame(ts + 0.004, wire, s_mac, c_ip, s_ip, tcp(c_ip, s_ip, sport, port, FIN | ACK, seq=c_end, ack=s_end))
        self.frame(
            ts + 0.005, s_mac, wire, s_ip, c_ip, tcp(s_ip, c_ip, port, sport, FIN | ACK, seq=s_end, ack=c_end + 1)
        )
        self.frame(ts + 0.006, wire, s_mac, c_ip, s_ip, tcp(c_ip, s_ip, sport, port, ACK, seq=c_end + 1, ack=s_end + 1))

    def arp_exchange(self, ts: float, asker: tuple[str, str], target: tuple[str, str]) -> None:
        (a_mac, a_ip), (t_ip, t_mac) = asker, target
        self.w.write(ts, eth("ff:ff:ff:ff:ff:ff", a_mac, 0x0806, arp(1, a_mac, a_ip, "00:00:00:00:00:00", t_ip)))
        self.w.write(ts + 0.0002, eth(a_mac, t_mac, 0x0806, arp(2, t_mac, t_ip, a_mac, a_ip)))


def working_day(path: Path) -> Path:
    """Registered-looking traffic: four terminals on the segment and one behind the router."""
    with PcapWriter(path) as writer:
        lan = Lan(writer)
        for client in (T1, T2, T3, KNOWN):
            lan.arp_exchange(T0, client, DIALYSIS if client != T3 else LAB)
        plan = [
            *[(T1, DIALYSIS, 6000)] * 3,
            (T1, LAB, 22),  # not a service port of the lab system: not learned
            *[(T2, DIALYSIS, 6000)] * 2,
            (T2, LAB, 443),
            *[(T3, LAB, 443)] * 3,
            ((T3[0], T3_OTHER_IP), LAB, 8080),
            *[(KNOWN, DIALYSIS, 6000)] * 2,
        ]
        for i, (client, server, port) in enumerate(plan):
            lan.session(T0 + 60 * (i + 1), client, server, port)
        for i in range(2):
            lan.session(T0 + 1000 + 60 * i, (ROUTER[0], ROUTED), LAB, 8080, via=ROUTER[0])
    return path


def next_day(path: Path) -> Path:
    with PcapWriter(path) as writer:
        lan = Lan(writer)
        lan.session(T0 + 86400, T1, DIALYSIS, 6000)
        lan.session(T0 + 86460, (ROUTER[0], ROUTED), LAB, 8080, via=ROUTER[0])
        lan.session(T0 + 86500, (T3[0], T3_OTHER_IP), LAB, 443)
        lan.session(T0 + 86600, STRANGER, DIALYSIS, 6000)
    return path


def proposal_rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith(("#", '"#'))]
    return list(csv.DictReader(io.StringIO("".join(lines))))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    return path


def test_learn_import_then_analyze_is_quiet_and_catches_the_stranger(site: Path, tmp_path: Path) -> None:
    capture = working_day(tmp_path / "day1.pcap")
    proposal = tmp_path / "proposal.csv"
    learned = run_mamori("learn", "--config", str(site), str(capture), "--output", str(proposal))
    assert "mamori terminals import" in learned.stdout
    rows = proposal_rows(proposal)
    got = {
        (r["システム"], r["MAC アドレス"], r["IP アドレス"], r["接続回数"], r["ポート"], r["使用 IP"], r["判定"])
        for r in rows
    }
    assert got == {
        ("透析システム", T1[0], T1[1], "3", "6000", f"{T1[1]}×3", ""),
        ("透析システム", T2[0], T2[1], "2", "6000", f"{T2[1]}×2", ""),
        ("検査システム", T2[0], T2[1], "1", "443", f"{T2[1]}×1", ""),
        ("検査システム", T3[0], "", "4", "443 8080", f"{T3[1]}×3 {T3_OTHER_IP}×1", ""),
        ("検査システム", "", ROUTED, "2", "8080", f"{ROUTED}×2", ""),
    }
    routed = next(r for r in rows if not r["MAC アドレス"])
    assert routed["端末名"] == "via-router"
    assert "core-router" in routed["備考"]
    if (IEEE_DATA_DIR / "oui.csv").is_file():
        assert next(r for r in rows if r["MAC アドレス"] == T1[0])["ベンダー"] == "IGT"
    assert {r["ベンダー"] for r in rows if r["MAC アドレス"] == T2[0]} == {
        "ローカル管理アドレス (locally administered)"
    }

    imported = run_mamori("terminals", "import", "--config", str(site), str(proposal))
    assert "added: 5," in imported.stdout
    again = run_mamori("learn", "--config", str(site), str(capture), "--output", str(tmp_path / "again.csv"), "--all")
    assert {r["判定"] for r in proposal_rows(tmp_path / "again.csv")} == {"登録済み"}
    assert len(proposal_rows(tmp_path / "again.csv")) == 6  # the five accepted and the settings file's one
    assert "登録済み / known" in again.stdout

    quiet = run_mamori("analyze", "--config", str(site), "--json", str(capture))
    # Every terminal is registered now: no unregistered-terminal alert. The lab server answering SSH, which its
    # system does not list as a service, is the exposure rule's finding (passive, from its SYN-ACK), and stays.
    found = json_lines(quiet.stdout)
    assert [(a["rule"], a["details"]["unneeded_ports"]) for a in found] == [("exposure", ["tcp/22"])], found
    alerts = json_lines(
        run_mamori("analyze", "--config", str(site), "--json", str(next_day(tmp_path / "d2.pcap"))).stdout
    )
    assert [(a["rule"], a["src_mac"], a["src_ip"], a["system"]) for a in alerts] == [
        ("unregistered-terminal", STRANGER[0], STRANGER[1], "透析システム")
    ]


def test_declined_rows_are_not_registered_and_yaml_is_a_pasteable_fragment(site: Path, tmp_path: Path) -> None:
    capture = working_day(tmp_path / "day1.pcap")
    proposal = tmp_path / "proposal.csv"
    run_mamori("learn", "--config", str(site), str(capture), "--output", str(proposal), "--encoding", "shift_jis")
    text = proposal.read_bytes().decode("cp932")
    header = next(line for line in text.splitlines() if line.startswith("システム"))
    # The operator declines T2 on the lab system in Excel (判定 = いいえ), saving in Shift_JIS again.
    edited = "\r\n".join(
        line + "いいえ" if line.startswith(f"検査システム,learn-{T2[1]}") else line for line in text.splitlines()
    )
    assert edited.count(",いいえ") == 1
    proposal.write_bytes(edited.encode("cp932"))
    result = run_mamori("terminals", "import", "--config", str(site), str(proposal))
    assert "added: 4," in result.stdout
    assert "(いいえ/no/×): 1" in result.stdout
    assert header.endswith(",判定")
    listed = json_lines(run_mamori("terminals", "list", "--config", str(site), "--json").stdout)
    assert (T2[0], "検査システム") not in {(t["mac"], t["system"]) for t in listed}
    assert (T2[0], "透析システム") in {(t["mac"], t["system"]) for t in listed}

    fragment = tmp_path / "proposal.yaml"
    run_mamori("learn", "--config", str(site), str(capture), "--output", str(fragment), "--format", "yaml", "--all")
    data = yaml.safe_load(fragment.read_text(encoding="utf-8"))
    assert set(data) == {"透析システム", "検査システム"}
    assert data["透析システム"]["terminals"] == []  # every terminal there is registered by now
    assert [t["mac"] for t in data["検査システム"]["terminals"]] == [T2[0]]  # the declined one, still unregistered
    # The entries paste into the settings file as they are.
    pasted = SITE.replace(
        "    ports: [443, 8080]\n",
        "    ports: [443, 8080]\n    terminals:\n"
        + textwrap.indent(yaml.safe_dump(data["検査システム"]["terminals"], allow_unicode=True), "      "),
    )
    (tmp_path / "pasted.yaml").write_text(pasted, encoding="utf-8")
    assert run_mamori("check", "--config", str(tmp_path / "pasted.yaml")).returncode == 0


def test_learn_without_any_readable_capture_fails(site: Path, tmp_path: Path) -> None:
    result = run_mamori("learn", "--config", str(site), str(tmp_path / "missing.pcap"), check=False)
    assert result.returncode == 2
    assert "missing.pcap" in result.stderr


LIVE_SERVER = ("02:71:00:00:00:02", "10.71.0.2")
LIVE_TERMINAL = ("02:71:00:00:00:12", "10.71.0.12")


@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2")
def test_learn_live_until_sigterm(tmp_path: Path) -> None:
    """Two network namespaces joined by a veth pair; `mamori learn` on the server's side while the terminal's own TCP
    stack connects three times; SIGTERM ends learning early and the proposal is written."""
    tag = str(os.getpid() % 100000)
    server_ns, terminal_ns, server_if = f"mlsrv{tag}", f"mltrm{tag}", f"lsrv{tag}"
    site = tmp_path / "site.yaml"
    site.write_text(
        f"storage: {{path: {tmp_path / 'm.db'}}}\n"
        f"systems:\n  - {{name: 透析システム, servers: [{LIVE_SERVER[1]}], ports: [6000]}}\n",
        encoding="utf-8",
    )
    listener = learner = None
    try:
        for ns in (server_ns, terminal_ns):
            subprocess.run(["ip", "netns", "add", ns], check=True)
        peer = f"ltrm{tag}"
        veth = f"link add {server_if} netns {server_ns} type veth peer name {peer} netns {terminal_ns}"
        subprocess.run(["ip", *veth.split()], check=True)
        for ns, ifname, (mac, ip) in ((server_ns, server_if, LIVE_SERVER), (terminal_ns, peer, LIVE_TERMINAL)):
            for cmd in (
                ["link", "set", ifname, "address", mac],
                ["addr", "add", f"{ip}/24", "dev", ifname],
                ["link", "set", ifname, "up"],
                ["link", "set", "lo", "up"],
            ):
                subprocess.run(["ip", "-n", ns, *cmd], check=True)
        serve = (
            f"import socket\ns = socket.create_server(('{LIVE_SERVER[1]}', 6000))\nwhile True: s.accept()[0].close()"
        )
        listener = subprocess.Popen(["ip", "netns", "exec", server_ns, sys.executable, "-c", serve])
        output = str(tmp_path / "live.csv")
        learn = ["learn", "--config", str(site), "--interface", server_if, "--duration", "2m", "--output", output]
        learner = subprocess.Popen(
            ["ip", "netns", "exec", server_ns, MAMORI, *learn],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert learner.stderr is not None
        started = time.monotonic()
        for line in learner.stderr:
            if f"mamori.runtime.learn: learning on {server_if}" in line:  # the log line: the capture is open
                break
            assert time.monotonic() - started < 30, "learn did not start"
        else:
            raise AssertionError(f"learn ended before capturing (exit {learner.wait()})")
        client = (
            "import socket, time\nfor _ in range(3):\n"
            f"    socket.create_connection(('{LIVE_SERVER[1]}', 6000), timeout=5).close(); time.sleep(0.2)"
        )
        subprocess.run(["ip", "netns", "exec", terminal_ns, sys.executable, "-c", client], check=True, timeout=30)
        time.sleep(0.5)
        learner.send_signal(signal.SIGTERM)
        out, err = learner.communicate(timeout=60)
        assert learner.returncode == 0, err
    finally:
        for proc in (listener, learner):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        for ns in (server_ns, terminal_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    (row,) = proposal_rows(tmp_path / "live.csv")
    assert (row["MAC アドレス"], row["IP アドレス"], row["接続回数"], row["ポート"]) == (*LIVE_TERMINAL, "3", "6000")
    assert "mamori terminals import" in out
