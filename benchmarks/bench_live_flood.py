"""Benchmark: live capture completeness under an hping3 SYN flood, with tcpdump as the reference, and memory.

What it measures
    Two network namespaces joined by a veth pair: an attacker (10.231.x.1) and a department server (10.231.x.2)
    listening on TCP 6000. On the server's side of the veth, at the same time:

    - ``mamori watch --config SITE --json`` (the live sensor, capturing with its own BPF filter), and
    - ``tcpdump -i IF -nn -w FILE 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and dst host SERVER'``.

    Then ``hping3 --flood -S -p 6000 SERVER`` runs for ``--duration`` seconds from the attacker, once from its
    own address ("plain") and once with ``--rand-source`` (spoofed random sources). Reported per variant:

    - SYNs tcpdump counted (``tcpdump -r FILE --count``) and the drops tcpdump's kernel socket reported;
    - SYNs the sensor counted: the ``count`` of the stored ``syn-flood`` alert (``mamori alerts --json``), which
      counts every SYN to the server during the flood, and the ratio to tcpdump's figure;
    - what the sensor logged when it stopped (packets that passed its filter, kernel received and dropped);
    - the sensor's memory: peak VmRSS sampled every 0.2 s from /proc, and VmHWM (the kernel's high-water mark).
      VmRSS includes libpcap's kernel ring (``capture.buffer_mb``, 64 MB by default), which is mapped into the
      process; the peak RssAnon (the Python heap) is printed too;
    - the CPU time each capturer used from the start of the flood to the stop signal, and how long after the
      flood the sensor still kept half a core busy: a sensor that keeps pace goes idle at once; one that lags
      works through the backlog in its kernel ring, and drops packets once the ring is full (try --duration 20).

    The goal: the sensor counts 100 % of the SYNs tcpdump counts, in less than 300 MB.

How to run (as root; needs iproute2, tcpdump and hping3)
    . .venv/bin/activate
    python benchmarks/bench_live_flood.py                        # 5 s per variant, both variants
    python benchmarks/bench_live_flood.py --duration 10 --variant rand-source

Namespaces, veth names and addresses are unique per run (they carry the process id) and are removed at the end,
also after Ctrl-C. Captures, settings, databases and logs stay in ``--workdir`` for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

DEFAULT_WORKDIR = Path("/tmp/mamori-bench")
MAMORI = Path(sys.executable).with_name("mamori")  # the console script beside this interpreter (the virtualenv's)
PORT = 6000
RSS_INTERVAL = 0.2
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0
RSS_GOAL_MB = 300

ATTACKER_MAC = "02:00:00:00:0a:01"
SERVER_MAC = "02:00:00:00:0b:01"
TERMINAL_MAC = "02:00:00:00:0c:01"  # the registered terminal; the attacker is not it

# A listener that accepts nothing: the kernel answers SYNs (SYN cookies once the backlog is full).
LISTENER = "import socket, sys, time\ns = socket.socket()\ns.bind((sys.argv[1], int(sys.argv[2])))\ns.listen(128)\n"
LISTENER += "while True:\n    time.sleep(3600)\n"

MAMORI_FINAL = re.compile(
    r"(?P<iface>\S+): (?P<matched>\d+) packets matched the filter, (?P<decoded>\d+) decoded, (?P<malformed>\d+) "
    r"malformed; kernel: (?P<received>\d+) received, (?P<dropped>\d+) dropped"
)
MAMORI_OBSERVATIONS = re.compile(r"(\d+) observations analysed, (\d+) alert updates written")
_TROUBLE = re.compile(r" (ERROR|WARNING|CRITICAL) |Traceback")


# -- the network ----------------------------------------------------------------------------------------------------


@dataclass
class Net:
    attacker_ns: str
    server_ns: str
    attacker_if: str
    server_if: str
    attacker_ip: str
    server_ip: str
    terminal_ip: str
    created: list[str] = field(default_factory=list)  # namespaces to delete


def run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


def make_net(net: Net) -> None:
    for ns in (net.attacker_ns, net.server_ns):
        run("ip", "netns", "add", ns)
        net.created.append(ns)
    run("ip", "link", "add", net.attacker_if, "type", "veth", "peer", "name", net.server_if)
    for ns, ifname, mac, ip in (
        (net.attacker_ns, net.attacker_if, ATTACKER_MAC, net.attacker_ip),
        (net.server_ns, net.server_if, SERVER_MAC, net.server_ip),
    ):
        run("ip", "link", "set", ifname, "netns", ns)
        run("ip", "-n", ns, "link", "set", "dev", ifname, "address", mac)
        run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", ifname)
        run("ip", "-n", ns, "link", "set", ifname, "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
    # The server answers spoofed sources too (towards the attacker's side, which drops what is not its own).
    run("ip", "-n", net.server_ns, "route", "add", "default", "via", net.attacker_ip)


def remove_net(net: Net) -> None:
    for ns in reversed(net.created):  # deleting a namespace deletes its end of the veth pair, and so both ends
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    net.created.clear()


# -- processes ------------------------------------------------------------------------------------------------------


class Processes:
    """Everything this benchmark started, to stop by pid (``ip netns exec`` execs its command: same pid)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        ns: str,
        argv: Sequence[str],
        *,
        stdout: Path | None = None,
        stderr: Path | None = None,
        merge_stderr: bool = False,
    ) -> subprocess.Popen[bytes]:
        out = stdout.open("wb") if stdout else subprocess.DEVNULL
        err = subprocess.STDOUT if merge_stderr else stderr.open("wb") if stderr else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out, stderr=err)
        finally:
            for f in (out, err):
                if not isinstance(f, int):
                    f.close()
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = STOP_TIMEOUT) -> bool:
        """Signal and wait; SIGKILL if it does not exit in time. Returns whether it exited by itself."""
        if proc.poll() is not None:
            return True
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return False
        return True

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc, signal.SIGTERM, timeout=5)
        self.procs.clear()


class MemorySampler(threading.Thread):
    """Samples VmRSS (and the kernel's VmHWM) and the CPU time of one process every ``interval`` seconds until it
    exits or is told to stop."""

    def __init__(self, pid: int, interval: float = RSS_INTERVAL) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_anon_kb = 0  # RssAnon: the Python heap; RssFile holds libraries and libpcap's mmap'ed ring
        self.hwm_kb = 0
        self.samples = 0
        self.cpu_trace: list[tuple[float, float]] = []  # (monotonic time, CPU seconds used so far)
        self.done = threading.Event()

    def run(self) -> None:
        path = Path(f"/proc/{self.pid}/status")
        while not self.done.is_set():
            try:
                status = path.read_text()
            except OSError:
                return  # the process is gone
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
                    self.samples += 1
                elif line.startswith("RssAnon:"):
                    self.peak_anon_kb = max(self.peak_anon_kb, int(line.split()[1]))
                elif line.startswith("VmHWM:"):
                    self.hwm_kb = max(self.hwm_kb, int(line.split()[1]))
            self.cpu_trace.append((time.monotonic(), cpu_seconds(self.pid)))
            self.done.wait(self.interval)

    def busy_until(self, share: float = 0.5) -> float | None:
        """The end of the last sampling interval in which the process used at least ``share`` of a core."""
        last = None
        for (t0, c0), (t1, c1) in zip(self.cpu_trace, self.cpu_trace[1:], strict=False):
            if t1 > t0 and (c1 - c0) / (t1 - t0) >= share:
                last = t1
        return last


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (fields 14 and 15 of /proc/PID/stat, in clock ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_text(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited ({proc.returncode}):\n{path.read_text(errors='replace')}")
        time.sleep(0.1)
    raise RuntimeError(f"{proc.args} did not say {text!r} within {timeout:.0f} s:\n{path.read_text(errors='replace')}")


# -- one variant ----------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    variant: str
    flood_seconds: float = 0.0
    hping_sent: int | None = None
    tcpdump_syns: int = 0
    tcpdump_stats: dict[str, int] = field(default_factory=dict)  # captured, received by filter, dropped by kernel
    mamori_count: int = 0
    mamori_alerts: int = 0
    mamori_details: dict[str, object] = field(default_factory=dict)
    watch_count: int | None = None  # the last syn-flood count `mamori watch --json` printed
    mamori_final: dict[str, int] = field(default_factory=dict)
    observations: int | None = None
    rules: Counter[str] = field(default_factory=Counter)
    rss_before_mb: float = 0.0  # the sensor's peak VmRSS before the flood began (start-up, idle capture)
    peak_rss_mb: float = 0.0
    hwm_mb: float = 0.0
    peak_anon_mb: float = 0.0
    busy_seconds: float = 0.0  # from the flood's start to the signal to stop (the flood and 2 s after it)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds each capturer used in that time
    catch_up_seconds: float | None = None  # how long after the flood the sensor still used >= 50 % of a core
    rss_samples: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return 100.0 * self.mamori_count / self.tcpdump_syns if self.tcpdump_syns else float("nan")


def settings_yaml(net: Net, database: Path) -> str:
    return f"""# Written by benchmarks/bench_live_flood.py
site: {{name: flood-bench}}
storage: {{path: {json.dumps(str(database))}}}
capture: {{interfaces: [{net.server_if}]}}
systems:
  - name: 透析システム
    servers: [{{ip: {net.server_ip}, mac: "{SERVER_MAC}", name: dialysis-srv}}]
    ports: [{PORT}]
    terminals:
      - {{name: dialysis-pc-1, mac: "{TERMINAL_MAC}", ip: {net.terminal_ip}}}
"""


def run_variant(net: Net, procs: Processes, folder: Path, variant: str, duration: float) -> Outcome:
    out = Outcome(variant)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    site = folder / "site.yaml"
    site.write_text(settings_yaml(net, folder / "mamori.db"), encoding="utf-8")
    pcap = folder / "tcpdump-syns.pcap"
    syn_filter = f"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and dst host {net.server_ip}"

    mamori = procs.start(
        net.server_ns,
        [str(MAMORI), "watch", "--config", str(site), "--json"],
        stdout=folder / "watch.jsonl",
        stderr=folder / "watch.log",
    )
    sampler = MemorySampler(mamori.pid)
    sampler.start()
    tcpdump = procs.start(
        net.server_ns,
        ["tcpdump", "-i", net.server_if, "-nn", "-w", str(pcap), syn_filter],
        stderr=folder / "tcpdump.log",
    )
    wait_for_text(folder / "tcpdump.log", "listening on", tcpdump)
    wait_for_text(folder / "watch.log", f"capturing on {net.server_if}", mamori)
    time.sleep(2.0)
    for proc in (mamori, tcpdump):
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited early ({proc.returncode})")

    hping = ["timeout", "-s", "INT", f"{duration:g}", "hping3", "--flood", "-S", "-p", str(PORT)]
    if variant == "rand-source":
        hping.append("--rand-source")
    out.rss_before_mb = sampler.peak_rss_kb / 1024
    cpu_before = {"mamori": cpu_seconds(mamori.pid), "tcpdump": cpu_seconds(tcpdump.pid)}
    started = time.monotonic()
    flood = procs.start(net.attacker_ns, [*hping, net.server_ip], stdout=folder / "hping3.log", merge_stderr=True)
    flood.wait()
    out.flood_seconds = time.monotonic() - started
    sent = re.search(r"(\d+) packets transmitted", (folder / "hping3.log").read_text(errors="replace"))
    out.hping_sent = int(sent.group(1)) if sent else None

    time.sleep(2.0)
    out.busy_seconds = time.monotonic() - started
    busy_until = sampler.busy_until()
    if busy_until is not None:
        out.catch_up_seconds = max(0.0, busy_until - (started + out.flood_seconds))
    out.cpu = {
        name: cpu_seconds(proc.pid) - cpu_before[name] for name, proc in (("mamori", mamori), ("tcpdump", tcpdump))
    }
    for proc, name in ((tcpdump, "tcpdump"), (mamori, "mamori watch")):
        if not procs.stop(proc, signal.SIGINT):
            out.notes.append(f"{name} did not stop within {STOP_TIMEOUT:.0f} s of SIGINT and was killed")
    sampler.done.set()
    sampler.join()
    out.peak_rss_mb = sampler.peak_rss_kb / 1024
    out.hwm_mb = sampler.hwm_kb / 1024
    out.peak_anon_mb = sampler.peak_anon_kb / 1024
    out.rss_samples = sampler.samples

    read_tcpdump(folder / "tcpdump.log", pcap, out)
    read_mamori(folder, site, net.server_ip, out)
    return out


def read_tcpdump(log_path: Path, pcap: Path, out: Outcome) -> None:
    """tcpdump's own exit statistics, and the SYNs in its file."""
    log = log_path.read_text(errors="replace")
    for key, pattern in (
        ("captured", r"(\d+) packets captured"),
        ("received", r"(\d+) packets received by filter"),
        ("dropped", r"(\d+) packets dropped by kernel"),
    ):
        match = re.search(pattern, log)
        if match:
            out.tcpdump_stats[key] = int(match.group(1))
    # `tcpdump -r FILE --count` rather than `tcpdump -r FILE | wc -l`: the same count, but printing a spoofed
    # flood is slow in tcpdump (860,000 SYNs from random sources took 27 s to print here; --count takes 0.1 s).
    reader = subprocess.run(["tcpdump", "-r", str(pcap), "--count"], capture_output=True, text=True, check=True)
    counted = re.match(r"(\d+) packets", reader.stdout)
    if counted is None:
        raise RuntimeError(f"tcpdump --count printed {reader.stdout!r}")
    out.tcpdump_syns = int(counted.group(1))


def read_mamori(folder: Path, site: Path, server_ip: str, out: Outcome) -> None:
    """The sensor's final log lines, the alerts it stored, and the last syn-flood update it printed."""
    log = (folder / "watch.log").read_text(errors="replace")
    final = MAMORI_FINAL.search(log)
    if final:
        out.mamori_final = {k: int(v) for k, v in final.groupdict().items() if k != "iface"}
    else:
        out.notes.append("mamori watch logged no final capture statistics")
    observed = MAMORI_OBSERVATIONS.search(log)
    out.observations = int(observed.group(1)) if observed else None
    out.notes += [f"mamori watch: {line.strip()}" for line in log.splitlines() if _TROUBLE.search(line)]
    stored = subprocess.run(
        [str(MAMORI), "alerts", "--config", str(site), "--json"], capture_output=True, text=True, check=True
    )
    for line in stored.stdout.splitlines():
        alert = json.loads(line)
        out.rules[alert["rule"]] += 1
        if alert["rule"] == "syn-flood" and alert["dst_ip"] == server_ip:
            out.mamori_alerts += 1
            out.mamori_count += int(alert["count"])
            out.mamori_details = {
                k: alert.get(k) for k in ("peak_rate", "incomplete_ratio", "distinct_sources", "spoofed_sources")
            }
    for line in (folder / "watch.jsonl").read_text(errors="replace").splitlines():
        alert = json.loads(line)
        if alert["rule"] == "syn-flood":
            out.watch_count = int(alert["count"])


# -- report ---------------------------------------------------------------------------------------------------------


def report(outcomes: Sequence[Outcome], duration: float) -> None:
    print(f"\nhping3 --flood -S -p {PORT} for {duration:g} s per variant; mamori and tcpdump on the server's veth\n")
    head = (
        f"{'variant':12} {'flood s':>7} {'hping3 sent':>11} {'tcpdump SYNs':>12} {'(kernel drop)':>13} "
        f"{'mamori SYNs':>11} {'ratio':>8} {'(kernel drop)':>13} {'peak RSS MB':>11} {'VmHWM MB':>8}"
    )
    print(head)
    print("-" * len(head))
    for o in outcomes:
        sent = f"{o.hping_sent:,}" if o.hping_sent is not None else "?"
        td_drop = o.tcpdump_stats.get("dropped")
        mm_drop = o.mamori_final.get("dropped")
        print(
            f"{o.variant:12} {o.flood_seconds:>7.1f} {sent:>11} {o.tcpdump_syns:>12,} "
            f"{td_drop if td_drop is not None else '?':>13} {o.mamori_count:>11,} {o.ratio:>7.1f}% "
            f"{mm_drop if mm_drop is not None else '?':>13} {o.peak_rss_mb:>11.1f} {o.hwm_mb:>8.1f}"
        )
    for o in outcomes:
        print(f"\n{o.variant}:")
        rate = o.tcpdump_syns / o.flood_seconds if o.flood_seconds else 0.0
        print(f"  SYN rate seen by tcpdump: {rate:,.0f}/s; tcpdump exit statistics: {o.tcpdump_stats}")
        f = o.mamori_final
        if f:
            print(
                f"  mamori watch at exit: {f['matched']:,} packets passed its filter (SYNs, SYN-ACKs, RSTs, ARP), "
                f"{f['decoded']:,} decoded; kernel: {f['received']:,} received, {f['dropped']:,} dropped; "
                f"{o.observations if o.observations is not None else '?'} observations analysed"
            )
            unread = f["received"] - f["dropped"] - f["matched"]
            if unread:
                print(f"  {unread:,} packets the kernel accepted were never read before the sensor closed")
        print(
            f"  syn-flood alerts stored: {o.mamori_alerts} (counts summed: {o.mamori_count:,}); last count printed "
            f"by watch --json: {o.watch_count if o.watch_count is not None else '-'}; details: {o.mamori_details}"
        )
        print(f"  all stored alerts by rule: {dict(o.rules)}")
        if o.cpu:
            print(
                f"  CPU from the flood's start to the stop signal ({o.busy_seconds:.1f} s): "
                + ", ".join(f"{n} {c:.1f} s ({100 * c / o.busy_seconds:.0f} % of a core)" for n, c in o.cpu.items())
            )
        if o.catch_up_seconds is not None:
            print(
                f"  mamori used at least half a core until {o.catch_up_seconds:.1f} s after hping3 stopped "
                "(0: it kept pace with the flood; more: it was still working through its kernel ring's backlog)"
            )
        print(
            f"  memory: peak VmRSS {o.peak_rss_mb:.1f} MB over {o.rss_samples} samples (before the flood "
            f"{o.rss_before_mb:.1f} MB), VmHWM {o.hwm_mb:.1f} MB, peak RssAnon {o.peak_anon_mb:.1f} MB "
            f"(goal < {RSS_GOAL_MB} MB: {'met' if max(o.peak_rss_mb, o.hwm_mb) < RSS_GOAL_MB else 'NOT met'})"
        )
        verdict = "met" if o.mamori_count >= o.tcpdump_syns > 0 else "NOT met"
        print(f"  completeness goal (mamori counts 100 % of tcpdump's SYNs): {verdict} ({o.ratio:.2f} %)")
        for note in o.notes:
            print(f"  note: {note}")


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of flood per variant (default 5)")
    parser.add_argument(
        "--variant",
        choices=("both", "plain", "rand-source"),
        default="both",
        help="plain: hping3 from its own address; rand-source: spoofed random sources; both (default)",
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"default {DEFAULT_WORKDIR}")
    args = parser.parse_args(argv)

    if os.geteuid() != 0:
        raise SystemExit("run as root: it creates network namespaces and captures packets")
    missing = [tool for tool in ("ip", "tcpdump", "hping3", "timeout") if shutil.which(tool) is None]
    if missing or not MAMORI.exists():
        raise SystemExit(f"missing: {', '.join(missing + ([] if MAMORI.exists() else [str(MAMORI)]))}")

    pid = os.getpid()
    subnet = f"10.231.{20 + pid % 200}"
    net = Net(
        attacker_ns=f"mamori-flood-att-{pid}",
        server_ns=f"mamori-flood-srv-{pid}",
        attacker_if=f"mfa{pid}",
        server_if=f"mfs{pid}",
        attacker_ip=f"{subnet}.1",
        server_ip=f"{subnet}.2",
        terminal_ip=f"{subnet}.3",
    )
    variants = ("plain", "rand-source") if args.variant == "both" else (args.variant,)
    work = args.workdir / "live-flood"
    procs = Processes()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (from a script, with `&`)
    outcomes: list[Outcome] = []
    try:
        make_net(net)
        procs.start(net.server_ns, [sys.executable, "-c", LISTENER, net.server_ip, str(PORT)])
        print(f"namespaces {net.attacker_ns} ({net.attacker_ip}) and {net.server_ns} ({net.server_ip}:{PORT})")
        for variant in variants:
            print(f"running {variant} ({args.duration:g} s of flood) ...", flush=True)
            outcomes.append(run_variant(net, procs, work / variant, variant, args.duration))
            time.sleep(2.0)  # let the server's half-open connections expire between variants
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        procs.stop_all()
        remove_net(net)
    report(outcomes, args.duration)
    print(f"\n(files in {work}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
