"""Benchmark: ``mamori analyze`` over a capture of several million packets, with tcpdump as the reference.

What it measures
    One classic pcap file of N packets (default 5,000,000) that looks like an hour of a hospital LAN seen on a
    mirror port: about 97 % established TCP (data and pure ACKs) between registered terminals and their
    department servers, about 3 % connection openings (SYN, SYN-ACK), some ARP, one nmap-style SYN scan of
    ports 1-1000 from an unregistered laptop and a short hping3-style SYN flood. The same traffic is written twice:
    with whole frames (about 540 bytes a record on average, where reading the file dominates) and as a capture
    with a 74-byte snapshot length (``tcpdump -s 74``: headers only, where the per-packet work dominates).
    For each file both tools read it with the same BPF filter (``mamori.capture.bpf.build_filter()``, the one
    mamori hands libpcap), in the same run:

    - tcpdump: ``tcpdump -nn -r FILE FILTER``, printing every match to a text file;
    - mamori: ``mamori analyze --config SITE --no-store --json FILE`` as a real command, Python start-up
      included; the two take turns, five rounds, and the best of each counts; then mamori once more with the
      alerts stored in SQLite (without ``--no-store``);
    - mamori in-process: :func:`mamori.runtime.analyze_captures` in this process (no start-up), which also
      gives mamori's count of packets that passed the filter and the alerts it found.

    The file is read once before timing, so both tools read it from the page cache, not from disk. Besides the
    wall-clock time, the table gives the CPU time (user + system) of all the processes of the best run: mamori
    walks the file and filters it (the compiled pcap walker, on a thread without the GIL; where it is not built,
    libpcap in a forked child) while the main thread decodes and detects, so it can use two cores where tcpdump
    uses one. The line "reader" says which read the file.

    With ``--zones`` the site also has segments (each department system's /24 a segment: 電子カルテ and PACS in the
    High Secure Zone, the others and the office network of the scanner and the flooder in the Secure Zone) and the
    HEASNET large-institution policy, so that every SYN is also placed in its segments and judged (zone-policy,
    new-path): the scan and the flood cross from the Secure Zone into the High Secure Zone. It then also measures
    the hourly counting of flows between segments (the zone map's figures, detection/flows.py): in-process
    detection engine fed the capture's observations (decoded once) with and without a flow sink
    (``mamori.testing.MemoryFlows``, so the database is not timed), taking turns, best of five each; the
    difference is divided by the observations.

    The lateral-movement detector's own cost is timed apart on the same capture: the connection attempts the capture
    decodes to are handed to a fresh detector's ``on_attempt`` (best of five), as they are (most SYNs go to the
    department systems' ports and leave at the first look-up), and again with every one turned into an SMB
    attempt (the worst case: each SYN is counted in a source's window); printed in µs per observation next to
    tcpdump's µs per packet on that capture.

    The remote-maintenance detector's own cost is timed the same way: the capture's connection attempts handed to a
    fresh detector whose site has vendors none of the capture's addresses belongs to (the usual case: a VPN pool, a
    bastion), and again with one vendor whose sources are the whole LAN and whose window is open all day (the worst
    case: every attempt is judged against the plan and counted into a session).

How to run
    . .venv/bin/activate
    python benchmarks/bench_analyze.py                      # 5 million packets in /tmp/mamori-bench
    python benchmarks/bench_analyze.py --packets 500000 --workdir /tmp/b
    python benchmarks/bench_analyze.py --packets 2000000 --zones

    python benchmarks/bench_analyze.py --frames 74         # only the 74-byte capture
    python benchmarks/bench_analyze.py --packets 2000000 --lan

    With ``--lan`` the LAN-threat detectors run too (docs/design.md §10, "LAN threats"): cleartext-credentials with
    its default protocols (the 給食システム's port 8080 is an HTTP port, so its requests are read), rogue-dhcp and
    rogue-ra (every segment lists its DHCP servers and IPv6 routers), and tcp-reset-injection following every
    department port (one established packet in eight passes the filter, by IP identification). Both tools read
    the capture with the wider filter these need (``capture_filter(settings, capture_plan(settings))``); the
    generator's count of matching packets no longer applies, tcpdump's and mamori's are compared.

Before timing, mamori's bytecode is written (``compileall``, as installing the wheel does), so the command's start-up
is the installed one even where PYTHONDONTWRITEBYTECODE is set.

The captures are generated once (about 2.7 GB and 0.45 GB for 5 million packets) and reused by later runs with the
same ``--packets``; delete them, or pass ``--regenerate``, to build them again. The settings file is written every
run. The summary at the end puts both frame sizes side by side: speed relative to tcpdump is tcpdump's time divided
by mamori's (above 1: mamori is faster).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.capture.bpf import build_filter
from mamori.capture.sources import FileSource, _Walker
from mamori.config import Settings, load_settings
from mamori.detection import Engine
from mamori.detection.book import AlertBook
from mamori.detection.lateral import LateralMovementDetector
from mamori.detection.maintenance import RemoteMaintenanceDetector
from mamori.detection.site_index import SiteIndex
from mamori.model import ACK, PSH, RST, SYN, ConnectionAttempt
from mamori.rules.render import summary
from mamori.runtime import analyze_captures, capture_filter
from mamori.runtime.lan import capture_plan
from mamori.testing import MemoryFlows, MemorySessions
from mamori.testing.pcapbuilder import PcapWriter, arp, eth, ipv4, tcp

DEFAULT_WORKDIR = Path("/tmp/mamori-bench")
GENERATOR_VERSION = 1  # bump when the traffic changes, so cached captures are rebuilt
REPEATS = 5
SNAP = 74  # the small-frame capture: every frame cut to 74 bytes (Ethernet + IPv4 + TCP with 20 bytes of options)

START = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))  # 09:00 JST
DURATION_S = 3600

# The department systems: (name, server ports). Each has one or two servers and a few registered terminals.
SYSTEMS = (
    ("電子カルテ", (443, 8443)),
    ("PACS", (104, 11112)),
    ("検査システム", (443,)),
    ("透析システム", (6000,)),
    ("薬剤システム", (1433,)),
    ("医事会計", (5432,)),
    ("給食システム", (8080,)),
    ("リハビリ", (3389,)),
)
TERMINALS_PER_SYSTEM = 6
SCAN_TARGET = 1  # PACS: nmap -sS of ports 1-1000 (104 is open)
FLOOD_TARGET = 0  # 電子カルテ: hping3 --flood -S -p 443
SCANNER = ("02:66:00:00:be:ef", "10.10.99.200")  # a vendor laptop nobody registered
FLOODER = ("02:66:00:00:f1:00", "10.10.99.201")

_MSS_ONLY = bytes.fromhex("020405b4")  # a raw scanner's SYN options


# -- the LAN --------------------------------------------------------------------------------------------------------


@dataclass
class Host:
    name: str
    mac: str
    ip: str


@dataclass
class System:
    name: str
    ports: tuple[int, ...]
    servers: list[Host]
    terminals: list[Host] = field(default_factory=list)


def make_lan() -> list[System]:
    systems = []
    for s, (name, ports) in enumerate(SYSTEMS, start=1):
        servers = [Host(f"srv-{s}-{k}", f"02:20:00:00:{s:02x}:{k:02x}", f"10.10.{s}.{10 + k}") for k in (1, 2)]
        system = System(name, ports, servers[: 1 + s % 2])
        for t in range(1, TERMINALS_PER_SYSTEM + 1):
            system.terminals.append(Host(f"{name}-端末{t}", f"02:30:00:00:{s:02x}:{t:02x}", f"10.10.{s}.{100 + t}"))
        systems.append(system)
    return systems


def site_yaml(systems: Sequence[System], database: Path, *, zones: bool = False, lan: bool = False) -> str:
    lines = [
        "# Written by benchmarks/bench_analyze.py: the site of the generated capture.",
        "site: {name: ベンチマーク病院}",
        f"storage: {{path: {json.dumps(str(database))}}}",
        "systems:",
    ]
    for system in systems:
        lines.append(f"  - name: {system.name}")
        servers = ", ".join(f'{{ip: {h.ip}, mac: "{h.mac}", name: {h.name}}}' for h in system.servers)
        lines.append(f"    servers: [{servers}]")
        lines.append(f"    ports: [{', '.join(str(p) for p in system.ports)}]")
        lines.append("    terminals:")
        lines += [f'      - {{name: {t.name}, mac: "{t.mac}", ip: {t.ip}}}' for t in system.terminals]
    servers = ", dhcp_servers: [10.10.99.1], routers_v6: []" if lan else ""
    if zones:
        lines += ["segments:", f"  - {{name: 事務系, cidrs: [10.10.99.0/24], zone: sz{servers}}}"]
        for s, system in enumerate(systems, start=1):
            zone = "hsz" if s <= 2 else "sz"
            lines.append(f"  - {{name: {system.name}, cidrs: [10.10.{s}.0/24], zone: {zone}{servers}}}")
        lines.append("zone_policy: heasnet-large")
    elif lan:
        lines += ["segments:", f"  - {{name: 病院 LAN, cidrs: [10.10.0.0/16], zone: sz{servers}}}"]
    if lan:
        lines += ["detection:", "  cleartext: {enabled: true}", "  tcp_reset_injection: {enabled: true}"]
    return "\n".join(lines) + "\n"


# -- frame templates ------------------------------------------------------------------------------------------------


class Frames:
    """Builds Ethernet/IPv4/TCP frames between hosts (correct checksums, random IP identification)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def tcp(self, src: Host, dst: Host, sport: int, dport: int, flags: int, **kw: Any) -> bytes:
        segment = tcp(src.ip, dst.ip, sport, dport, flags, **kw)
        return eth(dst.mac, src.mac, 0x0800, ipv4(src.ip, dst.ip, 6, segment, ident=self.rng.randrange(65536)))

    def ts_option(self) -> bytes:
        """NOP NOP timestamp: what Linux puts on every established segment."""
        return b"\x01\x01\x08\x0a" + struct.pack("!II", self.rng.randrange(1 << 32), self.rng.randrange(1 << 32))


@dataclass
class Templates:
    """Units of traffic: each a tuple of frames sent one right after the other, with their kinds for the tally."""

    units: list[tuple[bytes, ...]] = field(default_factory=list)
    kinds: list[tuple[str, ...]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(len(u) for u in self.units)

    def add(self, units: list[tuple[bytes, ...]], kinds: tuple[str, ...], weight: float) -> None:
        for unit in units:
            self.units.append(unit)
            self.kinds.append(kinds)
            self.weights.append(weight / len(units))


def make_templates(systems: Sequence[System], rng: random.Random) -> Templates:
    """About 600 distinct frames: per terminal one established flow (5 frames), two handshakes, one ARP exchange."""
    f = Frames(rng)
    data: list[tuple[bytes, ...]] = []
    handshakes: list[tuple[bytes, ...]] = []
    arps: list[tuple[bytes, ...]] = []
    for system in systems:
        for i, term in enumerate(system.terminals):
            srv = system.servers[i % len(system.servers)]
            port = system.ports[i % len(system.ports)]
            sport = rng.randrange(49152, 65536)
            cs, ss = rng.randrange(1 << 32), rng.randrange(1 << 32)
            win = rng.choice((501, 8192, 16384, 64240))  # never nmap's ACK-probe windows 1024-4096
            opt = f.ts_option()
            request = rng.randbytes(rng.randrange(80, 500))
            answer = rng.randbytes(rng.randrange(200, 1200))
            flow = {"window": win, "options": opt}
            data += [
                (f.tcp(term, srv, sport, port, ACK, seq=cs, ack=ss, **flow),),
                (f.tcp(srv, term, port, sport, ACK | PSH, seq=ss, ack=cs, payload=rng.randbytes(1448), **flow),),
                (f.tcp(srv, term, port, sport, ACK | PSH, seq=ss + 1448, ack=cs, payload=answer, **flow),),
                (f.tcp(term, srv, sport, port, ACK | PSH, seq=cs, ack=ss, payload=request, **flow),),
                (f.tcp(srv, term, port, sport, ACK, seq=ss, ack=cs + len(request), **flow),),
            ]
            for _ in range(2):
                sport = rng.randrange(49152, 65536)
                cs, ss = rng.randrange(1 << 32), rng.randrange(1 << 32)
                synack_options = bytes.fromhex("020405b40402080a0000000100000001")
                handshakes.append(
                    (
                        f.tcp(term, srv, sport, port, SYN, seq=cs),  # Linux connect(): 40-byte header
                        f.tcp(srv, term, port, sport, SYN | ACK, seq=ss, ack=cs + 1, options=synack_options),
                        f.tcp(term, srv, sport, port, ACK, seq=cs + 1, ack=ss + 1, window=502, options=f.ts_option()),
                    )
                )
            arps.append(
                (
                    eth("ff:ff:ff:ff:ff:ff", term.mac, 0x0806, arp(1, term.mac, term.ip, "00:00:00:00:00:00", srv.ip)),
                    eth(term.mac, srv.mac, 0x0806, arp(2, srv.mac, srv.ip, term.mac, term.ip)),
                )
            )
    # Shares of packets: SYNs 1.5 % (and as many SYN-ACKs), ARP 0.1 %, the rest established data and ACKs.
    # A handshake unit is 3 frames, an ARP unit 2, a data unit 1; solve for the units' probabilities.
    syn_share, arp_share = 0.015, 0.001
    frames_per_unit = 1 / (1 - 2 * syn_share - arp_share / 2)
    w_handshake, w_arp = syn_share * frames_per_unit, arp_share / 2 * frames_per_unit
    t = Templates()
    t.add(data, ("data",), 1 - w_handshake - w_arp)
    t.add(handshakes, ("syn", "synack", "data"), w_handshake)
    t.add(arps, ("arp", "arp"), w_arp)
    return t


# -- the writer -----------------------------------------------------------------------------------------------------


class Stream:
    """Appends records to a pcap with a running microsecond clock; tallies frames by kind."""

    def __init__(self, writer: PcapWriter, start_us: int, snap: int | None = None) -> None:
        self.write_raw = writer.write_raw
        self.pack = struct.Struct("<IIII").pack
        self.t = start_us
        self.snap = snap or 1 << 30
        self.tally: Counter[str] = Counter()

    def record(self, frame: bytes) -> bytes:
        """A record's header and captured bytes (cut to the snapshot length, as tcpdump -s cuts them)."""
        sec, usec = divmod(self.t, 1_000_000)
        return self.pack(sec, usec, min(len(frame), self.snap), len(frame)) + frame[: self.snap]

    def emit(self, frame: bytes, gap_us: int, kind: str) -> None:
        self.t += gap_us
        self.write_raw(self.record(frame))
        self.tally[kind] += 1


def normal_traffic(out: Stream, t: Templates, count: int, mean_gap_us: float, rng: random.Random) -> None:
    """``count`` frames of ordinary traffic: units picked at random by weight, exponential gaps between units."""
    gaps = [max(1, round(rng.expovariate(1 / mean_gap_us))) for _ in range(4096)]
    inner_gaps = (0, 180, 60)  # SYN -> SYN-ACK -> ACK within a unit, in microseconds
    cum: list[float] = []
    total = 0.0
    for w in t.weights:
        total += w
        cum.append(total)
    indices = range(len(t.units))
    write_raw, record = out.write_raw, out.record
    left = count
    g = 0
    data_frames = 0
    while left > 0:
        for i in rng.choices(indices, cum_weights=cum, k=min(65536, left)):
            unit = t.units[i]
            g += 1
            if len(unit) == 1:  # the common case, inlined
                out.t += gaps[g & 4095]
                write_raw(record(unit[0]))
                data_frames += 1
                left -= 1
            else:
                kinds = t.kinds[i]
                for j, frame in enumerate(unit[:left]):  # the last unit may be cut, as a capture is
                    out.emit(frame, gaps[g & 4095] if j == 0 else inner_gaps[j], kinds[j])
                left -= min(len(unit), left)
            if left <= 0:
                break
    out.tally["data"] += data_frames


def scan_frames() -> int:
    open_ports = [p for p in SYSTEMS[SCAN_TARGET][1] if p <= 1000]
    return 2 * 1000 + len(open_ports)


def nmap_scan(out: Stream, target: Host, rng: random.Random) -> None:
    """nmap -sS -T4 of ports 1-1000 in random order: raw SYNs (window 1024, MSS only) every 120 µs; closed ports
    answer RST-ACK, open ones SYN-ACK, which the scanner resets."""
    f = Frames(rng)
    scanner = Host("scanner", *SCANNER)
    sport = rng.randrange(40000, 60000)
    ports = list(range(1, 1001))
    rng.shuffle(ports)
    for port in ports:
        probe = f.tcp(scanner, target, sport, port, SYN, seq=rng.randrange(1 << 32), window=1024, options=_MSS_ONLY)
        out.emit(probe, 120, "scan")
        if port in SYSTEMS[SCAN_TARGET][1]:
            out.emit(f.tcp(target, scanner, port, sport, SYN | ACK, seq=7, ack=1, options=_MSS_ONLY), 70, "scan")
            out.emit(f.tcp(scanner, target, sport, port, RST, seq=1, options=b""), 30, "scan")
        else:
            out.emit(f.tcp(target, scanner, port, sport, RST | ACK, ack=1, window=0, options=b""), 70, "scan")


def syn_flood(out: Stream, target: Host, port: int, syns: int, rng: random.Random) -> None:
    """hping3 --flood -S: SYNs (window 512, no options, incrementing source port) at 50,000/s; the server answers
    each with a SYN-ACK and the flooder's kernel, which never opened the connection, resets it."""
    f = Frames(rng)
    flooder = Host("flooder", *FLOODER)
    base = rng.randrange(1024, 30000)
    for i in range(syns):
        sport = base + i % 30000
        seq = rng.randrange(1 << 32)
        out.emit(f.tcp(flooder, target, sport, port, SYN, seq=seq, window=512, options=b""), 12, "flood")
        synack = f.tcp(target, flooder, port, sport, SYN | ACK, seq=seq ^ 0x5A5A5A, ack=seq + 1, options=_MSS_ONLY)
        out.emit(synack, 4, "flood")
        out.emit(f.tcp(flooder, target, sport, port, RST, seq=seq + 1, window=0, options=b""), 4, "flood")


def generate(
    path: Path, packets: int, systems: Sequence[System], seed: int = 2026, snap: int | None = None
) -> dict[str, int]:
    """Write the capture to ``path`` (via a temporary name, so an interrupted run leaves no half file); with
    ``snap``, every frame is cut to that many bytes (the same traffic, as a capture with that snapshot length)."""
    rng = random.Random(seed)
    templates = make_templates(systems, rng)
    flood_syns = max(600, min(30_000, packets // 150))
    special = scan_frames() + 3 * flood_syns
    if packets < special * 4:
        raise SystemExit(f"--packets must be at least {special * 4:,} (the scan and the flood alone are {special:,})")
    normal = packets - special
    frames_per_unit = sum(len(u) * w for u, w in zip(templates.units, templates.weights, strict=True))
    mean_gap = DURATION_S * 1e6 / (normal / frames_per_unit)
    part = path.with_suffix(".part")
    started = time.perf_counter()
    with PcapWriter(part, snaplen=snap or 65535) as writer:
        out = Stream(writer, int(START.timestamp()) * 1_000_000, snap)
        a, b = int(normal * 0.35), int(normal * 0.70)
        normal_traffic(out, templates, a, mean_gap, rng)
        nmap_scan(out, systems[SCAN_TARGET].servers[0], rng)
        normal_traffic(out, templates, b - a, mean_gap, rng)
        syn_flood(out, systems[FLOOD_TARGET].servers[0], SYSTEMS[FLOOD_TARGET][1][0], flood_syns, rng)
        normal_traffic(out, templates, normal - b, mean_gap, rng)
        if writer.count != packets:
            raise RuntimeError(f"wrote {writer.count} packets, not {packets}")
    part.rename(path)
    tally = dict(out.tally)
    tally["templates"] = templates.frames
    tally["seconds_to_write"] = round(time.perf_counter() - started)
    tally["last_timestamp"] = out.t // 1_000_000
    return tally


# -- measuring ------------------------------------------------------------------------------------------------------


def warm_cache(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb", buffering=0) as f:
        while f.read(16 << 20):
            pass
    return time.perf_counter() - started


@dataclass
class Timing:
    name: str
    runs: list[float]  # wall-clock seconds of each run
    cpu: list[float]  # user + system CPU seconds of each run, all processes together

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def best_cpu(self) -> float:
        return self.cpu[self.runs.index(self.best)]


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _run(timing: Timing, argv: list[str], stdout_path: Path) -> None:
    """Run ``argv`` once with stdout to a file; add its wall-clock and CPU time to ``timing``."""
    with stdout_path.open("wb") as out:
        cpu = _cpu(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, check=False)
        timing.runs.append(time.perf_counter() - started)
        timing.cpu.append(_cpu(resource.RUSAGE_CHILDREN) - cpu)  # the command and any process it forked
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}")


def best_of(name: str, argv: list[str], stdout_path: Path, repeats: int = REPEATS) -> Timing:
    """Run ``argv`` ``repeats`` times with stdout to a file, timing each run (wall clock and CPU)."""
    timing = Timing(name, [], [])
    for _ in range(repeats):
        _run(timing, argv, stdout_path)
    return timing


def alternating(commands: list[tuple[str, list[str], Path]], repeats: int = REPEATS) -> list[Timing]:
    """Run the commands in turn, ``repeats`` rounds: on a machine whose load changes, each command meets the
    same conditions, where running one's repeats and then the other's would not."""
    timings = [Timing(name, [], []) for name, _, _ in commands]
    for _ in range(repeats):
        for timing, (_name, argv, out) in zip(timings, commands, strict=True):
            _run(timing, argv, out)
    return timings


def count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(16 << 20):
            n += chunk.count(b"\n")
    return n


@dataclass
class Measured:
    """One capture's figures: the timings, the matches each tool counted and what mamori found."""

    label: str
    pcap: Path
    size: int
    tcpdump: Timing
    cli: Timing
    stored: Timing
    inproc: Timing
    tcpdump_lines: int
    matched: int
    decoded: int
    alerts: list[str]
    lateral: tuple[int, float, float] = (0, 0.0, 0.0)  # attempts, best s as they are, best s all on SMB
    maintenance: tuple[float, float, int] = (0.0, 0.0, 0)  # best s others' SYNs, best s all a vendor's, sessions
    flows: tuple[float, float, int, int, int] | None = None  # --zones: see measure_flows


def prepare(
    args: argparse.Namespace, work: Path, systems: Sequence[System], snap: int | None
) -> tuple[Path, dict[str, int]]:
    """The cached capture for this frame size (generated if missing) and its tally."""
    suffix = f"-s{snap}" if snap else ""
    pcap = work / f"lan-{args.packets}{suffix}-v{GENERATOR_VERSION}.pcap"
    tally_file = pcap.with_suffix(".json")
    if args.regenerate or not pcap.exists() or not tally_file.exists():
        what = f"frames cut to {snap} bytes" if snap else "whole frames"
        print(f"generating {pcap} ({args.packets:,} packets, {what}) ...", flush=True)
        tally = generate(pcap, args.packets, systems, snap=snap)
        tally_file.write_text(json.dumps(tally, indent=1), encoding="utf-8")
    return pcap, json.loads(tally_file.read_text(encoding="utf-8"))


def describe(pcap: Path, packets: int, tally: dict[str, int]) -> int:
    """Print what the capture holds; returns how many packets the filter should pass."""
    size = pcap.stat().st_size
    print(
        f"capture: {pcap} ({size / 1e9:.2f} GB, {packets:,} packets, {size / packets:.0f} bytes a record; "
        f"generated in {tally['seconds_to_write']} s)"
    )
    kinds = ("data", "syn", "synack", "arp", "scan", "flood")
    print(
        "  frames: {data:,} established data/ACK, {syn:,} SYN, {synack:,} SYN-ACK, {arp:,} ARP, {scan:,} nmap scan, "
        "{flood:,} SYN flood (with SYN-ACKs and RSTs)".format(**{k: tally.get(k, 0) for k in kinds})
    )
    span = tally["last_timestamp"] - int(START.timestamp())
    print(f"  {tally['templates']} distinct frame templates; timestamps over {span / 60:.0f} minutes from {START}")
    expected = packets - int(tally["data"])
    print(f"  frames the filter should pass (everything but established data/ACK): {expected:,}")
    return expected


def measure(label: str, pcap: Path, site: Path, database: Path, tools: tuple[str, str], work: Path) -> Measured:
    """tcpdump and mamori on one capture, in this run, with the same filter."""
    tcpdump, mamori = tools
    settings = load_settings(site)
    plan = capture_plan(settings)
    bpf = capture_filter(settings, plan)
    if not plan.clauses:
        assert bpf == build_filter(), "mamori's filter for these settings is not build_filter()"
    else:
        print(f"the wider filter of the LAN-threat detectors: {len(plan.clauses)} more parts, {len(bpf)} characters")
    size = pcap.stat().st_size
    warm = warm_cache(pcap)
    print(f"page cache warmed: read {size / 1e9:.2f} GB in {warm:.2f} s ({size / warm / 1e9:.1f} GB/s)", flush=True)
    walker = _Walker.open(pcap, build_filter())
    reader = "the compiled pcap walker (mamori.capture._pcapwalk)" if walker else "libpcap (no walker built here)"
    print(f"reader: {reader}", flush=True)
    if walker is not None:
        walker.close()

    tcpdump_out = work / "tcpdump-matches.txt"
    json_out = work / "mamori-alerts.jsonl"
    analyze = [mamori, "analyze", "--config", str(site)]
    t_tcpdump, t_mamori = alternating(
        [
            ("tcpdump -nn -r (printing matches)", [tcpdump, "-nn", "-r", str(pcap), bpf], tcpdump_out),
            ("mamori analyze --no-store --json", [*analyze, "--no-store", "--json", str(pcap)], json_out),
        ]
    )
    tcpdump_lines = count_lines(tcpdump_out)

    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    stored_out = work / "mamori-alerts-stored.jsonl"
    t_store = best_of("mamori analyze --json (storing)", [*analyze, "--json", str(pcap)], stored_out, repeats=1)

    cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)  # the walker's thread, or a forked reader
    started = time.perf_counter()
    result = analyze_captures(settings, [pcap])
    wall = time.perf_counter() - started
    cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - cpu
    stats = result.files[0]
    flows = measure_flows(settings, pcap) if settings.site.segments else None
    if result.warnings or result.failed:
        print("warnings: " + "; ".join([*result.warnings, *result.failed]))
    lateral, attempts = lateral_cost(settings, pcap, bpf)
    maintenance = maintenance_cost(settings, attempts)
    return Measured(
        label,
        pcap,
        size,
        t_tcpdump,
        t_mamori,
        t_store,
        Timing("mamori in-process analyze_captures", [wall], [cpu]),
        tcpdump_lines,
        stats.matched,
        stats.decoded,
        [f"{a.rule:22} count {a.count:>7,}  {summary(a, 'en')}" for a in result.alerts],
        lateral,
        maintenance,
        flows,
    )


def lateral_cost(settings: Settings, pcap: Path, bpf: str) -> tuple[tuple[int, float, float], list[ConnectionAttempt]]:
    """The lateral-movement detector alone over the capture's connection attempts: ((attempts, best seconds as they
    are, best seconds with every attempt on SMB), the attempts)."""
    source = FileSource(pcap, bpf, parallel_min_bytes=1 << 62)
    source.start()
    try:
        attempts = [o for batch in source.batches() for o in batch if type(o) is ConnectionAttempt]
    finally:
        source.close()
    on_smb = [a._replace(dst_port=445) for a in attempts]
    index = SiteIndex(settings.site)
    figures = []
    for stream in (attempts, on_smb):
        runs = []
        for _ in range(REPEATS):
            book = AlertBook(settings.detection.max_open_alerts)
            on_attempt = LateralMovementDetector(index, settings.detection.lateral_movement, book).on_attempt
            started = time.perf_counter()
            for attempt in stream:
                on_attempt(attempt)
            runs.append(time.perf_counter() - started)
        figures.append(min(runs))
    return (len(attempts), figures[0], figures[1]), attempts


# Vendors for the remote-maintenance cost: the usual case (a VPN pool and a bastion that none of the capture's
# addresses is in) and the worst (one vendor whose sources are the whole LAN, with a window open all day, so that
# every connection attempt is a vendor's contact, judged against its plan and counted into a session).
_VENDORS_ELSEWHERE = [
    {"name": "透析装置メーカー", "sources": ["10.9.0.0/24", "203.0.113.7"], "devices": ["10.10.1.11"],
     "work_plans": [{"every": "day", "time": "09:00", "duration": "2h", "ports": [3389]}]},
    {"name": "画像装置メーカー", "sources": ["192.168.100.192/26"], "accounts": ["vendor-img"]},
]  # fmt: skip
_VENDOR_EVERYWHERE = [
    {"name": "全域の保守業者", "sources": ["10.10.0.0/16"],
     "work_plans": [{"every": "day", "time": "00:00", "duration": "24h"}]},
]  # fmt: skip


def maintenance_cost(settings: Settings, attempts: Sequence[ConnectionAttempt]) -> tuple[float, float, int]:
    """The remote-maintenance detector alone over the capture's connection attempts, best of five: (s with vendors
    none of the addresses belongs to, s with every address a vendor's, sessions recorded in that worst case)."""
    from mamori.config.vendors import VendorIn, vendors_of

    figures = []
    sessions = 0
    for raw in (_VENDORS_ELSEWHERE, _VENDOR_EVERYWHERE):
        vendors = vendors_of(tuple(VendorIn.model_validate(v) for v in raw), settings.site.time_zone)
        index = SiteIndex(dataclasses.replace(settings.site, vendors=vendors))
        runs = []
        for _ in range(REPEATS):
            sink = MemorySessions()
            detector = RemoteMaintenanceDetector(
                index, settings.detection.remote_maintenance, AlertBook(settings.detection.max_open_alerts), sink
            )
            on_attempt = detector.on_attempt
            started = time.perf_counter()
            for attempt in attempts:
                on_attempt(attempt)
            detector.finish()
            runs.append(time.perf_counter() - started)
            sessions = len(sink.all())
        figures.append(min(runs))
    return figures[0], figures[1], sessions


def measure_flows(settings: Any, pcap: Path, repeats: int = 5) -> tuple[float, float, int, int, int]:
    """The detection engine fed the capture's observations (decoded once) without and with the hourly flow counts,
    taking turns: (best s without, best s with, rows, observations, connections between segments counted)."""
    source = FileSource(pcap, capture_filter(settings))
    batches = list(source.batches())
    observations = sum(len(b) for b in batches)
    without: list[float] = []
    with_flows: list[float] = []
    rows = counted = 0
    for _ in range(repeats):
        for sink in (None, MemoryFlows()):
            engine = Engine(settings.site, settings.detection, flow_counts=sink)
            started = time.perf_counter()
            for batch in batches:
                engine.feed(batch)
            engine.finish()
            (without if sink is None else with_flows).append(time.perf_counter() - started)
            if sink is not None:
                rows = len(sink.flows)
                counted = sum(f.connections for f in sink.flows.values())
    return min(without), min(with_flows), rows, observations, counted


def report(m: Measured, packets: int, expected: int) -> None:
    print(f"\n== {m.label}: {m.pcap.name}, {packets:,} packets, {m.size / 1e9:.2f} GB")
    print(
        f"{'':36} {'matched':>9} {'best s':>7} {'packets/s':>11} {'speed vs tcpdump':>16} {'CPU s':>6}   "
        "runs (s); CPU s = user+system of the best run, all processes"
    )
    for timing, matched in ((m.tcpdump, m.tcpdump_lines), (m.cli, m.matched), (m.stored, m.matched)):
        print(
            f"{timing.name:36} {matched:>9,} {timing.best:>7.2f} {packets / timing.best:>11,.0f} "
            f"{m.tcpdump.best / timing.best:>15.2f}x {timing.best_cpu:>6.2f}   "
            + " ".join(f"{r:.2f}" for r in timing.runs)
        )
    t = m.inproc
    print(
        f"{t.name:36} {m.matched:>9,} {t.best:>7.2f} {packets / t.best:>11,.0f} "
        f"{m.tcpdump.best / t.best:>15.2f}x {t.best_cpu:>6.2f}   (no start-up; {m.decoded:,} observations)"
    )
    if expected < 0:  # --lan: the generator does not know the wider filter
        agree = "agree" if m.tcpdump_lines == m.matched else "DISAGREE"
        print(f"matched packets (the wider filter): tcpdump {m.tcpdump_lines:,}, mamori {m.matched:,}: {agree}")
    else:
        agree = "agree" if m.tcpdump_lines == m.matched == expected else "DISAGREE"
        print(f"matched packets: tcpdump {m.tcpdump_lines:,}, mamori {m.matched:,}, generator {expected:,}: {agree}")
    attempts, as_is, on_smb = m.lateral
    if attempts:
        print(
            f"lateral-movement detector alone: {attempts:,} connection attempts; {as_is / m.decoded * 1e6:.3f} µs per "
            f"observation ({as_is / attempts * 1e6:.3f} µs per attempt); every attempt on SMB (worst case): "
            f"{on_smb / attempts * 1e6:.3f} µs per attempt; tcpdump: {m.tcpdump.best / packets * 1e6:.3f} µs per packet"
        )
    elsewhere, everywhere, sessions = m.maintenance
    if attempts:
        print(
            f"remote-maintenance detector alone (vendors in the site): {elsewhere / m.decoded * 1e6:.3f} µs per "
            f"observation ({elsewhere / attempts * 1e6:.3f} µs per attempt) when no address is a vendor's; every "
            f"attempt a vendor's contact (worst case, {sessions:,} sessions): {everywhere / attempts * 1e6:.3f} µs "
            f"per attempt; tcpdump: {m.tcpdump.best / packets * 1e6:.3f} µs per packet"
        )
    if m.flows is not None:
        plain, timed, rows, observations, between = m.flows
        extra = timed - plain
        print(
            f"flow counts (zone map): detection alone {plain:.3f} s without, {timed:.3f} s with ({rows:,} hourly "
            f"rows) over {observations:,} observations: {extra / max(1, observations) * 1e6:+.3f} µs each, "
            f"{extra / max(1, between) * 1e6:+.3f} µs per connection between segments ({between:,})"
        )
    print(f"alerts ({len(m.alerts)}):")
    for line in m.alerts:
        print(f"  {line}")


def compile_bytecode() -> str:
    """Write mamori's bytecode (.pyc) as installing the wheel does (pip compiles it), so the command's start-up is
    measured as installed. An editable checkout with PYTHONDONTWRITEBYTECODE set (CI images, some containers) would
    otherwise compile every module from source at every run, about 0.14 s of each start-up."""
    package = Path(str(__import__("mamori").__file__)).parent
    done = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(package)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return f"could not write the bytecode of {package} ({done.stderr.strip()[:200]}); start-up includes compiling"
    return f"{package} compiled (as a wheel install leaves it)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--packets", type=int, default=5_000_000, help="packets in the capture (default 5,000,000)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"default {DEFAULT_WORKDIR}")
    parser.add_argument("--regenerate", action="store_true", help="build the captures again even if cached")
    parser.add_argument("--zones", action="store_true", help="segments and the zone policy in the site (see above)")
    parser.add_argument("--lan", action="store_true", help="the LAN-threat detectors and their wider filter (above)")
    parser.add_argument(
        "--frames",
        choices=("both", "whole", str(SNAP)),
        default="both",
        help=f"which captures: whole frames, frames cut to {SNAP} bytes, or both (default)",
    )
    args = parser.parse_args(argv)

    tcpdump = shutil.which("tcpdump")
    mamori = shutil.which("mamori") or str(Path(sys.executable).with_name("mamori"))
    if tcpdump is None or not Path(mamori).exists():
        raise SystemExit("needs tcpdump and the mamori command on PATH (activate the virtualenv)")
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    compiled = compile_bytecode()
    print(f"bytecode: {compiled}")
    systems = make_lan()
    site = work / "bench-analyze.yaml"
    database = work / "bench-analyze.db"
    site.write_text(site_yaml(systems, database, zones=args.zones, lan=args.lan), encoding="utf-8")
    print(f"settings: {site}")
    variants = [("whole frames", None), (f"{SNAP}-byte frames", SNAP)]
    if args.frames != "both":
        variants = [v for v in variants if (v[1] is None) == (args.frames == "whole")]

    results: list[tuple[Measured, int]] = []
    for label, snap in variants:
        pcap, tally = prepare(args, work, systems, snap)
        expected = describe(pcap, args.packets, tally) if not args.lan else -1
        results.append((measure(label, pcap, site, database, (tcpdump, mamori), work), expected))
    t_check = best_of("mamori check", [mamori, "check", "--config", str(site)], work / "check.txt", repeats=1)

    for m, expected in results:
        report(m, args.packets, expected)
    print(f"\nsummary (best of {REPEATS}; speed = tcpdump's time / mamori's time, above 1: mamori is faster;")
    print("CPU = user + system seconds of all the processes of the best run, the same ratio on CPU time):")
    head = ("bytes/record", "tcpdump s", "mamori s", "speed", "tcpdump CPU", "mamori CPU", "ratio", "in-process s")
    print(f"{'':16} " + " ".join(f"{h:>{max(len(h), 7)}}" for h in head))
    for m, _ in results:
        print(
            f"{m.label:16} {m.size / args.packets:>12.0f} {m.tcpdump.best:>9.2f} {m.cli.best:>8.2f} "
            f"{m.tcpdump.best / m.cli.best:>6.2f}x {m.tcpdump.best_cpu:>11.2f} {m.cli.best_cpu:>10.2f} "
            f"{m.tcpdump.best_cpu / m.cli.best_cpu:>6.2f}x {m.inproc.best:>12.2f}"
        )
    print(f"(start-up alone, `mamori check`: {t_check.best:.2f} s)")
    print(f"(load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
