"""The new-path rule's memory on a real SQLite file: merged saves from two writers, the earliest learning start, the
bound, and an engine that keeps a path known across a restart through the runtime's wiring."""

from __future__ import annotations

from pathlib import Path

from mamori.detection import Engine
from mamori.model import SYN, ConnectionAttempt, KnownPath
from mamori.runtime.known_paths import stored_paths
from mamori.storage import AlertWriter, KnownPathTable, Store
from tests.conftest import make_settings

T0 = 1_800_000_000.0


def test_saves_merge_first_and_last_seen_and_keep_the_first_connection(tmp_path: Path) -> None:
    table = KnownPathTable(Store(tmp_path / "m.db"))
    assert table.load() == (None, [])
    table.save(T0 + 50, [KnownPath("電子カルテ", "", "tcp", 443, T0 + 50, T0 + 50, "10.1.0.5", "8.8.8.8")])
    # Another process saw the same path earlier, and one more; then only a last-seen moved.
    table.save(T0, [KnownPath("電子カルテ", "", "tcp", 443, T0, T0, "10.1.0.6", "8.8.4.4")])
    table.save(T0 + 99, [KnownPath("事務系", "電子カルテ", "udp", 161, T0 + 9, T0 + 9, "10.2.0.1", "10.1.0.1")])
    table.save(None, [KnownPath("電子カルテ", "", "tcp", 443, T0 + 7200, T0 + 7200)])
    started, paths = table.load()
    assert started == T0
    assert sorted(paths) == [
        KnownPath("事務系", "電子カルテ", "udp", 161, T0 + 9, T0 + 9, "10.2.0.1", "10.1.0.1"),
        KnownPath("電子カルテ", "", "tcp", 443, T0, T0 + 7200, "10.1.0.5", "8.8.8.8"),
    ]


def test_the_table_keeps_the_paths_seen_most_recently(tmp_path: Path) -> None:
    table = KnownPathTable(Store(tmp_path / "m.db"))
    table.save(T0, [KnownPath("a", "b", "tcp", port, T0, T0 + port) for port in range(1, 301)], max_paths=250)
    _, paths = table.load()
    assert len(paths) == 250 and min(p.port for p in paths) == 51


def test_a_path_known_before_a_restart_stays_known(tmp_path: Path) -> None:
    settings = make_settings(
        f"""\
storage: {{path: {tmp_path / "m.db"}}}
segments:
  - {{name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}}
  - {{name: バックアップ, cidrs: [10.4.0.0/24], zone: hsz}}
detection: {{new_path: {{learning_period: 60}}}}
""",
        tmp_path,
    )

    def run(ts: float, src: str, dst: str) -> list[str]:
        store = Store(settings.database_path)
        writer = AlertWriter(store, interval=0.05)
        engine = Engine(settings.site, settings.detection, known_paths=stored_paths(settings, store, writer))
        engine.feed([ConnectionAttempt(ts, None, None, src, dst, "tcp", 40000, 445, SYN, 40)])
        engine.tick(ts)
        rules = [a.rule for a in engine.collect_changes()]
        writer.flush()
        writer.close()
        return rules

    assert run(T0, "10.1.0.5", "10.4.0.5") == []  # learning
    assert run(T0 + 3600, "10.1.0.6", "10.4.0.6") == []  # restarted: known
    assert run(T0 + 3700, "10.4.0.6", "10.1.0.6") == ["new-path"]  # restarted: new
    assert run(T0 + 3800, "10.4.0.7", "10.1.0.7") == []  # restarted again: known now
