"""Windows event logs: the evtx parser alone against mamori (parser + event-id filter + decoding + every built-in
rule), over every .evtx file in ../shared/data/evtx, in the same run; best and median of 5, interleaved; peak
memory. Then memory over 2 million records, twice: one big .evtx file made of the samples' chunks (a Security.evtx
of a busy server, shared among the worker processes in blocks of chunks), and a synthetic forwarded JSON file
(Winlogbeat/NXLog lines, gzip) with a brute force from ever new addresses, so that every bounded map fills up.
Memory is sampled as the records go by: it must stay flat.

    .venv/bin/python benchmarks/bench_evtx.py [--data DIR] [--records 2000000] [--skip-memory]

Reference figure (Zircolite, from the issue): 18.5 s for the 24,661 records of the public sample sets, about
1,300 records/s, and about 32 GB of memory for a 4.4 GB log.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "evtx"


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def parse_only(files: list[Path]) -> int:
    from evtx import PyEvtxParser

    n = 0
    for path in files:
        for _ in PyEvtxParser(str(path), skip_errors=True, indent=False).records_json():
            n += 1
    return n


def with_rules(files: list[Path], timeline: bool = False, parallel: bool = True) -> int:
    from mamori.config.windows import WindowsSettings
    from mamori.runtime.windows_logs import TimelineSink, analyze_windows_logs

    sink = None
    tmp = None
    if timeline:
        tmp = tempfile.TemporaryDirectory()
        sink = TimelineSink(Path(tmp.name) / "timeline.csv")
    result = analyze_windows_logs(
        files, WindowsSettings(), timeline=sink, logons=timeline, parallel_min_bytes=0 if parallel else 1 << 62
    )
    if tmp is not None:
        tmp.cleanup()
    return result.records


def _cpu(fn) -> tuple[float, float]:
    """CPU seconds of ``fn`` in this process and in the child processes it ran."""
    before_self = resource.getrusage(resource.RUSAGE_SELF)
    before_child = resource.getrusage(resource.RUSAGE_CHILDREN)
    fn()
    after_self = resource.getrusage(resource.RUSAGE_SELF)
    after_child = resource.getrusage(resource.RUSAGE_CHILDREN)

    def used(a: resource.struct_rusage, b: resource.struct_rusage) -> float:
        return (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)

    return used(before_self, after_self), used(before_child, after_child)


def speed(data: Path, repeat: int) -> None:
    from mamori.ingest.evtx_reader import cpu_count

    files = sorted(data.rglob("*.evtx"))
    size = sum(f.stat().st_size for f in files)
    for f in files:  # into the page cache
        f.read_bytes()
    print(f"{len(files)} .evtx files, {size / 1e6:.1f} MB, under {data}; {cpu_count()} CPUs")
    runs = (
        ("evtx parser alone (records_json)", parse_only),
        ("mamori: parser + all built-in rules", with_rules),
        ("mamori: the same in one process", lambda fs: with_rules(fs, parallel=False)),
        ("mamori: + timeline + logon summary", lambda fs: with_rules(fs, timeline=True)),
    )
    times: list[list[float]] = [[] for _ in runs]
    counts = [0] * len(runs)
    for _ in range(repeat):  # interleaved, so that a busy moment on the machine hits every contender alike
        for i, (_label, fn) in enumerate(runs):
            start = time.perf_counter()
            counts[i] = fn(files)
            times[i].append(time.perf_counter() - start)
    rates = []
    for (label, _fn), n, seconds in zip(runs, counts, times, strict=True):
        best, median = min(seconds), statistics.median(seconds)
        rates.append((n / best, n / median))
        print(
            f"  {label:38} {n:>7,} records  best {best:5.3f} s {n / best:>9,.0f}/s   "
            f"median {median:5.3f} s {n / median:>9,.0f}/s"
        )
    cpu_self, cpu_child = _cpu(lambda: with_rules(files))
    print(
        f"  CPU of one mamori run: {cpu_self:.3f} s in this process (the rules), {cpu_child:.3f} s in the worker "
        "processes (parsing, filtering, decoding)"
    )
    (base, base_med), (rules, rules_med), (alone, alone_med) = rates[0], rates[1], rates[2]
    print(
        f"  with rules / parser alone: best {rules / base:.2f}, median {rules_med / base_med:.2f} (workers); "
        f"best {alone / base:.2f}, median {alone_med / base_med:.2f} (one process); "
        "goal: at least 0.5 and 50,000 records/s"
    )
    child = peak_mb(resource.RUSAGE_CHILDREN)
    print(f"  peak RSS of this process: {peak_mb():.0f} MB; of a worker: {child:.0f} MB")


# -- memory ----------------------------------------------------------------------------------------------------


_CHUNK = 65536


def build_big_evtx(data: Path, records: int, path: Path) -> int:
    """One .evtx file of at least ``records`` records: a sample's file header, then the chunks in use of every
    sample (an .evtx chunk is self-contained), over and over. Returns the records written."""
    files = sorted(data.rglob("*.evtx"))
    header = b""
    chunks: list[tuple[bytes, int]] = []
    for f in files:
        raw = f.read_bytes()
        if raw[:8] != b"ElfFile\x00":
            continue
        header = header or raw[:4096]
        for offset in range(4096, len(raw) - _CHUNK + 1, _CHUNK):
            chunk = raw[offset : offset + _CHUNK]
            if chunk[:8] == b"ElfChnk\x00":
                first, last = struct.unpack_from("<QQ", chunk, 24)
                if first <= last < first + _CHUNK:
                    chunks.append((chunk, last - first + 1))
    written = 0
    with path.open("wb") as out:
        out.write(header)
        while written < records:
            for chunk, n in chunks:
                out.write(chunk)
                written += n
                if written >= records:
                    break
    return written


def child_evtx(data: Path, records: int) -> None:
    """Analyse one big .evtx file of ``records`` records; print RSS as it goes."""
    from mamori.config.windows import WindowsSettings
    from mamori.runtime.windows_logs import analyze_windows_logs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Security-big.evtx"
        written = build_big_evtx(data, records, path)
        size = path.stat().st_size
        samples: list[tuple[int, float]] = []

        def progress(index: int, p: Path, done: int, total: int) -> None:
            if not samples or done - samples[-1][0] >= total // 8:
                samples.append((done, rss_mb()))

        with path.open("rb") as f:  # into the page cache (as the samples are), 16 MiB at a time
            while f.read(16 << 20):
                pass
        start = time.perf_counter()
        parsed = parse_only([path])
        parse_seconds = time.perf_counter() - start
        start = time.perf_counter()
        result = analyze_windows_logs([path], WindowsSettings(), progress=progress)
        seconds = time.perf_counter() - start
    curve = ", ".join(f"{100 * d // size}%: {mb:.0f} MB" for d, mb in samples)
    print(
        f"  one .evtx file of {size / 1e9:.2f} GB ({written:,} records written): evtx parser alone "
        f"{parse_seconds:.1f} s ({parsed / parse_seconds:,.0f}/s); mamori with all built-in rules "
        f"({result.records:,} read, {result.alert_count} alerts) {seconds:.1f} s ({result.records / seconds:,.0f}/s, "
        f"{parse_seconds / seconds:.2f} of the parser's rate)"
    )
    print(
        f"  RSS along the way: {curve}; peak {peak_mb():.0f} MB (the file was in the page cache, not in this "
        f"process), worker peak {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB"
    )


def write_synthetic(path: Path, records: int) -> None:
    """Winlogbeat (ECS) and NXLog lines: a brute force from ever new addresses against many accounts, RDP logons,
    process creations, noise. Made with a fixed seed."""
    from mamori.testing.winevents import ecs_line, event, failed_logon, logon, nxlog_line

    rnd = random.Random(3)
    t0 = 1_667_156_832.0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for i in range(records):
            ts = t0 + i * 0.01
            kind = i % 10
            if kind < 6:
                e = failed_logon(
                    ts, user=f"user{rnd.randrange(100_000)}", ip=f"10.{i % 200}.{(i // 200) % 250}.{i % 250}"
                )
            elif kind == 6:
                e = logon(ts, ip=f"172.16.{rnd.randrange(250)}.{rnd.randrange(250)}")
            elif kind < 9:
                e = event(ts, 4688, {"NewProcessName": f"C:\\Windows\\System32\\svc{rnd.randrange(500)}.exe"})
            else:
                e = event(ts, 5156, {"Application": "\\device\\harddiskvolume2\\app.exe", "DestAddress": "10.0.0.1"})
            line = nxlog_line(e) if i % 2 else ecs_line(e)
            out.write(line + "\n")


def child_json(path: Path) -> None:
    from mamori.config.windows import WindowsSettings
    from mamori.runtime.windows_logs import analyze_windows_logs

    samples: list[tuple[int, float]] = []

    def progress(index: int, p: Path, done: int, size: int) -> None:
        if not samples or done - samples[-1][0] >= size // 10:
            samples.append((done, rss_mb()))

    start = time.perf_counter()
    result = analyze_windows_logs([path], WindowsSettings(log_timezone="Asia/Tokyo"), progress=progress)
    seconds = time.perf_counter() - start
    size = path.stat().st_size
    curve = ", ".join(f"{100 * d // size}%: {mb:.0f} MB" for d, mb in samples)
    print(
        f"  forwarded JSON ({result.records:,} lines, {result.alert_count} alerts) in {seconds:.1f} s "
        f"({result.records / seconds:,.0f}/s); RSS along the way: {curve}; peak {peak_mb():.0f} MB"
    )


def memory(data: Path, records: int) -> None:
    print(f"memory over {records:,} records (each run in its own process):")
    me = [sys.executable, __file__]
    subprocess.run([*me, "--child-evtx", str(records), "--data", str(data)], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forwarded.json.gz"
        start = time.perf_counter()
        write_synthetic(path, records)
        print(
            f"  (wrote {records:,} synthetic lines, {path.stat().st_size / 1e6:.0f} MB gzip, in "
            f"{time.perf_counter() - start:.0f} s)"
        )
        subprocess.run([*me, "--child-json", str(path)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MAMORI_EVTX_DATA", DEFAULT_DATA)))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--child-evtx", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_evtx:
        child_evtx(args.data, args.child_evtx)
        return
    if args.child_json:
        child_json(args.child_json)
        return
    speed(args.data, args.repeat)
    if not args.skip_memory:
        memory(args.data, args.records)


if __name__ == "__main__":
    main()
