"""Benchmark: the memory of the new-path rule's known-paths table at one million paths, and its speed.

What it measures
    ``mamori.detection.paths.KnownPaths`` filled with N paths (default 1,000,000: 1,000 source segments × 1,000
    destination segments on one dangerous port, the bound ``detection.new_path.max_paths`` defaults to), measured with
    tracemalloc (every allocation the table makes: the dict, its int keys and values, the segment names). As a
    reference, the same paths kept the obvious way (a dict from a (source, destination, protocol, port) tuple to a
    (first seen, last seen) tuple) in the same run. Then the time per look-up of a known path (the hot path once
    learning is over), the time to make room when the table is full (1 % forgotten), and with ``--store`` the time to
    save the paths into SQLite and load them back (what a sensor does at start).

How to run
    . .venv/bin/activate
    python benchmarks/bench_known_paths.py                 # 1,000,000 paths
    python benchmarks/bench_known_paths.py --paths 200000 --store /tmp/kp.db
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

from mamori.detection.paths import KnownPaths
from mamori.model import KnownPath

T0 = 1_800_000_000


def _measure(build: Callable[[], object]) -> tuple[object, int, float]:
    """What ``build`` returns, the bytes it holds (tracemalloc), and the seconds it takes (timed apart: tracemalloc
    slows every allocation down)."""
    gc.collect()
    started = time.perf_counter()
    build()
    seconds = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    table = build()
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return table, current, seconds


def fill(n: int, side: int) -> KnownPaths:
    paths = KnownPaths(max_paths=n)
    ids = [paths.segment_id(f"セグメント-{i:04d}") for i in range(side)]
    for k in range(n):
        paths.add(KnownPaths.key(ids[k % side], ids[k // side % side], "tcp", 445), T0 + k, T0 + k)
    return paths


def naive(n: int, side: int) -> dict[tuple[str, str, str, int], tuple[int, int]]:
    names = [f"セグメント-{i:04d}" for i in range(side)]
    return {(names[k % side], names[k // side % side], "tcp", 445): (T0 + k, T0 + k) for k in range(n)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="also save to and load from this SQLite file (made anew)")
    args = parser.parse_args(argv)
    n = args.paths
    side = max(2, int(n**0.5 + 0.999))

    table, packed_bytes, packed_s = _measure(lambda: fill(n, side))
    assert isinstance(table, KnownPaths) and len(table) == n
    reference, naive_bytes, naive_s = _measure(lambda: naive(n, side))
    assert isinstance(reference, dict) and len(reference) == n
    del reference

    print(f"known paths: {n:,} ({side:,} × {side:,} segments, one port)")
    print(f"{'':40} {'MB':>8} {'bytes/path':>11} {'fill s':>7}")
    print(
        f"{'mamori KnownPaths (packed ints)':40} {packed_bytes / 1e6:>8.1f} {packed_bytes / n:>11.0f} {packed_s:>7.2f}"
    )
    print(f"{'dict of tuples (reference)':40} {naive_bytes / 1e6:>8.1f} {naive_bytes / n:>11.0f} {naive_s:>7.2f}")

    keys = list(table.table)[:: max(1, n // 200_000)]
    random.Random(1).shuffle(keys)
    get = table.table.get
    started = time.perf_counter()
    for key in keys:
        get(key)
    lookup = (time.perf_counter() - started) / len(keys)
    started = time.perf_counter()
    forgotten = table.add(KnownPaths.key(0, 0, "udp", 161), T0 + n, T0 + n)
    evict = time.perf_counter() - started
    print(
        f"look-up of a known path: {lookup * 1e9:.0f} ns; making room when full: {evict * 1e3:.0f} ms "
        f"({len(forgotten):,} paths forgotten at once)"
    )

    if args.store is not None:
        store_paths(table, args.store)


def store_paths(table: KnownPaths, path: Path) -> None:
    from mamori.storage import KnownPathTable, Store

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    records = [table.record(key, "10.0.0.1", "10.0.0.2") for key in table.table]
    stored = KnownPathTable(Store(path))
    started = time.perf_counter()
    stored.save(float(T0), records)
    saved = time.perf_counter() - started
    started = time.perf_counter()
    _, loaded = stored.load()
    load = time.perf_counter() - started
    fresh = KnownPaths(max_paths=len(loaded))
    started = time.perf_counter()
    for p in loaded:
        fresh.add(
            KnownPaths.key(fresh.segment_id(p.src_segment), fresh.segment_id(p.dst_segment), p.proto, p.port),
            int(p.first_seen),
            int(p.last_seen),
        )
    rebuild = time.perf_counter() - started
    size = sum(Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists())
    print(
        f"SQLite {path}: saved {len(records):,} paths in {saved:.1f} s, loaded in {load:.1f} s, table rebuilt in "
        f"{rebuild:.1f} s; file {size / 1e6:.0f} MB"
    )
    assert len(loaded) == len(records) and isinstance(loaded[0], KnownPath)


if __name__ == "__main__":
    main()
