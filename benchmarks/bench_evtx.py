"""Windows event logs: the evtx parser alone against mamori (parser + event-id filter + decoding + every built-in
rule), over every .evtx file in ../shared/data/evtx, in the same run; best of 3; peak memory. Then memory over
2 million records, twice: the sample logs read over and over (.evtx path, parser in a child process), and a
synthetic forwarded JSON file (Winlogbeat/NXLog lines, gzip) with a brute force from ever new addresses, so
that every bounded map fills up. Memory is sampled as the records go by: it must stay flat.

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
    files = sorted(data.rglob("*.evtx"))
    size = sum(f.stat().st_size for f in files)
    for f in files:  # into the page cache
        f.read_bytes()
    print(f"{len(files)} .evtx files, {size / 1e6:.1f} MB, under {data}")
    runs = (
        ("evtx parser alone (records_json)", parse_only),
        ("mamori: parser + all built-in rules", with_rules),
        ("mamori: the same in one process", lambda fs: with_rules(fs, parallel=False)),
        ("mamori: + timeline + logon summary", lambda fs: with_rules(fs, timeline=True)),
    )
    best = [float("inf")] * len(runs)
    counts = [0] * len(runs)
    for _ in range(repeat):  # interleaved, so that a busy moment on the machine hits every contender alike
        for i, (_label, fn) in enumerate(runs):
            start = time.perf_counter()
            counts[i] = fn(files)
            best[i] = min(best[i], time.perf_counter() - start)
    rows = [(label, counts[i], best[i]) for i, (label, _fn) in enumerate(runs)]
    for label, n, seconds in rows:
        print(f"  {label:40} {n:>8,} records  {seconds:6.3f} s  {n / seconds:>10,.0f} records/s")
    cpu_self, cpu_child = _cpu(lambda: with_rules(files))
    print(
        f"  CPU of one mamori run: {cpu_self:.3f} s in this process (decoding + rules), {cpu_child:.3f} s in the "
        "parser child: on an idle second core the two overlap"
    )
    base = rows[0][1] / rows[0][2]
    rules = rows[1][1] / rows[1][2]
    alone = rows[2][1] / rows[2][2]
    print(
        f"  with rules / parser alone: {rules / base:.2f} (parser child), {alone / base:.2f} (one process); "
        "goal: at least 0.5 and 50,000 records/s"
    )
    child = peak_mb(resource.RUSAGE_CHILDREN)
    print(f"  peak RSS of this process: {peak_mb():.0f} MB; of the parser child: {child:.0f} MB")


# -- memory ----------------------------------------------------------------------------------------------------


def child_evtx(data: Path, records: int) -> None:
    """Analyse the sample logs again and again until ``records`` were read; print RSS as it goes."""
    from mamori.config.windows import WindowsSettings
    from mamori.runtime.windows_logs import analyze_windows_logs

    files = sorted(data.rglob("*.evtx"))
    per_pass = parse_only(files)
    passes = max(1, -(-records // per_pass))
    paths = files * passes
    samples: list[tuple[int, float]] = []
    count = {"batches": 0}

    def progress(index: int, path: Path, done: int, size: int) -> None:
        count["batches"] += 1
        if count["batches"] % 200 == 0:
            samples.append((index, rss_mb()))

    start = time.perf_counter()
    result = analyze_windows_logs(paths, WindowsSettings(), progress=progress)
    seconds = time.perf_counter() - start
    curve = ", ".join(f"{100 * i // len(paths)}%: {mb:.0f} MB" for i, mb in samples[:: max(1, len(samples) // 8)])
    print(
        f"  .evtx x{passes} ({result.records:,} records, {result.alert_count} alerts) in {seconds:.1f} s "
        f"({result.records / seconds:,.0f}/s); RSS along the way: {curve}; peak {peak_mb():.0f} MB, "
        f"parser child peak {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB"
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
    parser.add_argument("--repeat", type=int, default=3)
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
