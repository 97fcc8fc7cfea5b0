"""Mutation fuzzing of every reader of hostile input: captures, Windows event logs, syslog lines, settings files.

Real inputs are mutated (bits flipped, bytes overwritten, inserted, deleted, slices repeated, the tail cut off):
the captures in ../shared/data/pcap (and one of them re-framed as pcapng), the event logs in ../shared/data/evtx,
syslog lines of every supported device family (written from the vendors' documentation, as in
tests/unit/ingest/test_vendors.py: ../shared/data holds no syslog) and the settings examples of the README and the
demo. Nothing may end in an uncaught exception: the commands (`mamori analyze`, `mamori evtx analyze`,
`mamori check`) end with exit code 0 or 2 and their own messages, never a traceback; the parsers return, or raise
their own documented error.

Each test runs twice: with a fixed seed, and with a seed that changes every day (today's date, or
MAMORI_FUZZ_SEED to replay one). The seed is in the test id and in every failure message, and is printed.
Bounded: a few hundred mutations per input kind and a handful of commands, about ten seconds a seed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import subprocess
from pathlib import Path

import pytest

from mamori.capture import FileSource, build_filter
from mamori.config import load_settings
from mamori.demo.scenario import DEMO_SITE
from mamori.errors import CaptureError, ConfigError
from mamori.ingest.syslog_parse import SyslogParser
from mamori.ingest.vendors import BUILTIN, load_parsers
from mamori.runtime import analyze_captures
from mamori.testing.pcapbuilder import PcapngWriter
from tests.conftest import LAB_SITE, REPO, make_settings, shared_data_dir
from tests.integration.conftest import MAMORI

FIXED_SEED = 17
DAILY_SEED = int(os.environ.get("MAMORI_FUZZ_SEED") or dt.date.today().strftime("%Y%m%d"))
SEEDS = [pytest.param(FIXED_SEED, id=f"seed={FIXED_SEED}"), pytest.param(DAILY_SEED, id=f"seed={DAILY_SEED}")]
REPLAY = "replay with MAMORI_FUZZ_SEED={seed} pytest tests/integration/test_fuzz_inputs.py"

CAPTURES_IN_PROCESS = 150  # analyze_captures per mutated file (about 5 ms each)
CAPTURES_FORKED = 12  # the forked reader's path (a process per file)
CAPTURES_CLI = 24  # in one `mamori analyze` run
EVTX_SMALL = 24  # in one `mamori evtx analyze` run, parsed in the command's own process
EVTX_LARGE_BYTES = 5 * 1024 * 1024  # a second run above the worker threshold (4 MiB): parsed by worker processes
SYSLOG_LINES = 10_000
SETTINGS_IN_PROCESS = 300
SETTINGS_CLI = 4

# One or two lines per device family the vendor parsers know, plus an RFC 5424 line with structured data.
SYSLOG_SEEDS = (
    b"Rejected at IN(2000) filter: TCP 10.1.2.3:51000 > 10.1.9.9:3389",
    b"<134>LAN2 Rejected at IN(200030) filter: UDP 203.0.113.5:48123 > 192.168.100.2:137",
    b"<13> [INSPECT] LAN2[out][101098] TCP 192.168.100.2:49282 > 203.0.113.1:80 (2026/11/23 10:00:00)",
    b'<189>date=2026-11-23 time=10:00:00 devname="FGT60F" devid="FGT60FTK0000000" eventtime=1795395600000000000 '
    b'tz="+0900" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=10.1.2.3 '
    b'srcport=51000 srcintf="port1" srcintfrole="lan" dstip=10.1.9.9 dstport=3389 dstintf="port2" '
    b'dstintfrole="lan" sessionid=12345 proto=6 action="deny" policyid=0 policytype="policy" service="RDP"',
    b"<164>Nov 23 2026 10:00:00: %ASA-4-106023: Deny tcp src outside:10.1.2.3/51000 dst inside:10.1.9.9/3389 "
    b'by access-group "OUT" [0x0, 0x0]',
    b"<162>%ASA-2-106001: Inbound TCP connection denied from 10.1.2.3/51000 to 10.1.9.9/445 flags SYN ACK "
    b"on interface outside",
    b"<166>%ASA-6-302013: Built inbound TCP connection 123 for outside:10.1.2.3/51000 (10.1.2.3/51000) to "
    b"inside:10.1.9.9/3389 (10.1.9.9/3389)",
    b"<189>123: *Nov 23 10:00:00.123: %SEC-6-IPACCESSLOGP: list 101 denied tcp 10.1.2.3(51000) -> "
    b"10.1.9.9(3389), 1 packet",
    b"<190>%IPV6_ACL-6-ACCESSLOGP: list V6-IN/20 denied tcp 2001:DB8::1(51000) (Ethernet0/0) -> "
    b"2001:DB8::9(22), 1 packet",
    b"<14>Nov 23 10:00:00 PA-220 1,2026/11/23 10:00:00,012801012345,TRAFFIC,drop,2561,2026/11/23 10:00:00,"
    b'10.1.2.3,10.1.9.9,0.0.0.0,0.0.0.0,"rule, x",,,not-applicable,vsys1,trust,servers,ethernet1/2,ethernet1/3,'
    b"Forward,2026/11/23 10:00:00,0,1,51000,3389,0,0,0x0,tcp,deny,60,60,0,1,2026/11/23 10:00:00,0,any,0,1234,0x0,"
    b"10.0.0.0-10.255.255.255,10.0.0.0-10.255.255.255,0,1,0,policy-deny",
    b"<190>Nov 23 10:00:00 ax3650 denied:(10)6 10.1.2.3(51000)(1/0/5) -> 10.1.9.9(3389), 1 packets",
    b"<4>Nov 23 10:00:00 fw kernel: [12345.678901] DROP-IN: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:ab:cd:ef:"
    b"08:00 SRC=10.1.2.3 DST=10.1.9.9 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=54321 DF PROTO=TCP SPT=51000 DPT=3389 "
    b"WINDOW=64240 RES=0x00 SYN URGP=0",
    b'<165>1 2026-11-23T10:00:00.003+09:00 fw1.example.com app 123 ID47 [exampleSDID@32473 iut="3" '
    b'eventSource="App\\"x" eventID="1011"][x@1 a="b"] \xef\xbb\xbfmessage \xe6\x97\xa5\xe6\x9c\xac',
)


def _data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the real inputs are missing at {path} (CI must have ../shared/data)")
        pytest.skip(f"real inputs not available at {path}")
    return path


class Mutator:
    """Random damage of the kinds files and lines really suffer, from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def __call__(self, data: bytes, *, header: int = 0) -> bytes:
        """1-8 mutations; ``header`` > 0 aims a third of them at the first ``header`` bytes (file headers)."""
        rng = self.rng
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            if not out:
                break
            at = rng.randrange(min(len(out), header)) if header and rng.random() < 0.33 else rng.randrange(len(out))
            kind = rng.randrange(6)
            if kind == 0:
                out[at] ^= 1 << rng.randrange(8)
            elif kind == 1:
                out[at] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
            elif kind == 2:
                out[at:at] = rng.randbytes(rng.randint(1, 16))
            elif kind == 3:
                del out[at : at + rng.randint(1, 16)]
            elif kind == 4:
                del out[at:]
            else:
                start = rng.randrange(len(out))
                out[at:at] = out[start : start + rng.randint(1, 64)]
        return bytes(out)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MAMORI, *args], capture_output=True, text=True, timeout=120)


def _assert_clean_exit(result: subprocess.CompletedProcess[str], seed: int, what: str) -> None:
    """Exit 0 (all read) or 2 (something could not be read, and said so); never a traceback or a Python error."""
    where = f"{what} ({REPLAY.format(seed=seed)})"
    assert "Traceback" not in result.stderr, f"{where}\n{result.stderr[-3000:]}"
    assert result.returncode in (0, 2), f"{where}: exit {result.returncode}\n{result.stderr[-3000:]}"
    for line in result.stdout.splitlines():
        json.loads(line)  # --json: nothing but alerts on stdout


def _message_names_its_file(message: str, paths: list[Path]) -> bool:
    return any(str(p) in message or p.name in message for p in paths)


# -- captures ---------------------------------------------------------------------------------------------------


def _real_captures(tmp_path: Path) -> list[Path]:
    captures = sorted((_data() / "pcap").rglob("*.pcap"))
    assert len(captures) >= 10, captures
    # pcapng too: the lab's SYN scan re-framed, packet for packet, as a pcapng file.
    import pcapy

    reader = pcapy.open_offline(str(captures[0]))
    pcapng = tmp_path / "reframed.pcapng"
    with PcapngWriter(pcapng) as writer:
        header, data = reader.next()
        while header is not None:
            sec, usec = header.getts()
            writer.write(sec + usec / 1e6, data)
            header, data = reader.next()
    return [*captures, pcapng]


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_captures_never_crash_analyze(seed: int, tmp_path: Path) -> None:
    print(f"capture fuzz seed {seed}")
    mutate = Mutator(seed)
    originals = _real_captures(tmp_path)
    settings = make_settings(LAB_SITE, tmp_path)
    mutated: list[Path] = []
    for n in range(CAPTURES_IN_PROCESS):
        source = mutate.rng.choice(originals)
        path = tmp_path / f"m{n:03d}-{source.name}"
        path.write_bytes(mutate(source.read_bytes(), header=64))
        mutated.append(path)
        try:
            result = analyze_captures(settings, [path])
        except Exception as exc:  # the point of the test: name the input and the seed
            pytest.fail(f"{path.name} (from {source}): {type(exc).__name__}: {exc}; {REPLAY.format(seed=seed)}")
        for message in result.failed + result.warnings:
            assert _message_names_its_file(message, [path]), message
    for path in mutate.rng.sample(mutated, CAPTURES_FORKED):
        source_in_child = FileSource(path, build_filter(), parallel_min_bytes=1)
        try:
            for _batch in source_in_child.batches():
                pass
        except CaptureError as exc:  # a file libpcap cannot open at all: a clear error, as the command prints it
            assert path.name in str(exc), exc
        assert all(path.name in e for e in source_in_child.stats.errors), source_in_child.stats.errors
    chosen = mutate.rng.sample(mutated, CAPTURES_CLI)
    site = tmp_path / "site.yaml"
    site.write_text(LAB_SITE, encoding="utf-8")
    result = _run("analyze", "--config", str(site), "--no-store", "--json", *map(str, chosen))
    _assert_clean_exit(result, seed, "mamori analyze on mutated captures")
    for line in result.stderr.splitlines():
        if line.startswith(("error:", "warning:")):
            assert _message_names_its_file(line, chosen), line


# -- Windows event logs -----------------------------------------------------------------------------------------


def _evtx_run(paths: list[Path], seed: int, what: str) -> None:
    result = _run("evtx", "analyze", "--no-store", "--json", *map(str, paths))
    if "Traceback" in result.stderr or result.returncode not in (0, 2):
        culprits = [p.name for p in paths if "Traceback" in _run("evtx", "analyze", "--no-store", str(p)).stderr]
        pytest.fail(f"{what}: {culprits or 'together'} ({REPLAY.format(seed=seed)})\n{result.stderr[-3000:]}")
    _assert_clean_exit(result, seed, what)
    assert re.search(rf"^{len(paths)} files( \(\d+ ending early\))?, [\d,]+ records", result.stderr, re.M), (
        result.stderr[-2000:]
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_event_logs_never_crash_evtx_analyze(seed: int, tmp_path: Path) -> None:
    print(f"event log fuzz seed {seed}")
    mutate = Mutator(seed)
    logs = sorted((_data() / "evtx").rglob("*.evtx"))
    assert len(logs) >= 100, len(logs)
    small = [p for p in logs if p.stat().st_size <= 256 * 1024]
    picked = mutate.rng.sample(small, EVTX_SMALL)
    mutated = []
    for n, source in enumerate(picked):
        path = tmp_path / f"m{n:02d}-{source.name}"
        path.write_bytes(mutate(source.read_bytes(), header=4096))  # file header and first chunk header
        mutated.append(path)
    _evtx_run(mutated, seed, "mamori evtx analyze on small mutated event logs")

    large = [p for p in logs if p.stat().st_size > 256 * 1024]
    mutate.rng.shuffle(large)
    big: list[Path] = []
    total = 0
    for n, source in enumerate(large):
        if total >= EVTX_LARGE_BYTES:
            break
        path = tmp_path / f"big{n:02d}-{source.name}"
        path.write_bytes(mutate(source.read_bytes(), header=4096))
        big.append(path)
        total += path.stat().st_size
    assert total >= EVTX_LARGE_BYTES, "not enough large event logs to reach the worker processes"
    _evtx_run(big, seed, "mamori evtx analyze (worker processes) on large mutated event logs")


# -- syslog lines -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_syslog_lines_never_crash_the_parsers(seed: int) -> None:
    print(f"syslog fuzz seed {seed}")
    mutate = Mutator(seed)
    parser = SyslogParser(timezone="Asia/Tokyo")
    vendors = load_parsers()
    assert sorted(vendors.names) == sorted(BUILTIN)
    formats: set[str] = set()
    for _ in range(SYSLOG_LINES):
        raw = mutate(mutate.rng.choice(SYSLOG_SEEDS))
        try:
            record = parser.parse(raw, 1_795_395_605.0, "192.0.2.1", 514, "udp")
            for vendor in vendors.parsers:  # each one directly: the ParserSet would count an exception and go on
                vendor.parse(record)
        except Exception as exc:
            pytest.fail(f"{raw!r}: {type(exc).__name__}: {exc}; {REPLAY.format(seed=seed)}")
        assert record.raw == raw
        formats.add(record.format)
    assert formats == {"rfc5424", "rfc3164", "bare"}  # the mutations reached every branch of the header parser


# -- settings files ---------------------------------------------------------------------------------------------


def _settings_examples() -> list[str]:
    """The README's settings examples (the blocks that are settings), all of them together, and the demo site."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)
        if re.search(r"^(site|systems|actions|windows|syslog|detection|capture|storage|web|backups):", b, re.M)
    ]
    assert len(blocks) >= 3, "the README's settings examples were not found"
    return [*blocks, "\n".join(blocks), DEMO_SITE, LAB_SITE]


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_settings_files_never_crash_the_loader_or_check(seed: int, tmp_path: Path) -> None:
    print(f"settings fuzz seed {seed}")
    mutate = Mutator(seed)
    examples = [e.encode() for e in _settings_examples()]
    outcomes = {"accepted": 0, "refused": 0}
    refused: list[Path] = []
    for n in range(SETTINGS_IN_PROCESS):
        path = tmp_path / f"site{n:03d}.yaml"
        path.write_bytes(mutate(mutate.rng.choice(examples)))
        try:
            load_settings(path, data_dir=tmp_path)
            outcomes["accepted"] += 1
        except ConfigError as exc:
            outcomes["refused"] += 1
            refused.append(path)
            assert exc.problems and all(p.file == str(path) for p in exc.problems), exc.problems
        except Exception as exc:
            text = path.read_bytes()
            pytest.fail(f"{text!r}: {type(exc).__name__}: {exc}; {REPLAY.format(seed=seed)}")
    assert outcomes["accepted"] and outcomes["refused"], outcomes  # the mutations did both
    for path in mutate.rng.sample(refused, SETTINGS_CLI):
        result = _run("check", "--config", str(path))
        assert "Traceback" not in result.stderr, f"{path.name}: {result.stderr}; {REPLAY.format(seed=seed)}"
        assert result.returncode == 2, result
        assert f"{path}" in result.stderr
