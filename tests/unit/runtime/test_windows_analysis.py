"""``analyze_windows_logs``: the worker processes (started before the files are opened) give what reading in this
process gives, and none is left behind, whether they had work or not."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from mamori.config.windows import WindowsSettings
from mamori.runtime.windows_logs import analyze_windows_logs
from mamori.testing.winevents import ecs_line, failed_logon


def _summary(result) -> list[tuple]:
    return sorted((a.rule, a.key, a.count, a.first_seen, a.last_seen, a.severity) for a in result.alerts)


def test_workers_and_one_process_give_the_same_alerts_and_counts(shared_data: Path) -> None:
    folder = shared_data / "evtx"
    here = analyze_windows_logs([folder], WindowsSettings(), parallel_min_bytes=1 << 62)
    workers = analyze_windows_logs([folder], WindowsSettings(), parallel_min_bytes=0)
    assert here.records == workers.records > 16_000
    assert _summary(here) == _summary(workers)
    assert [(f.name, f.records, f.decoded, f.problem_count) for f in here.files] == [
        (f.name, f.records, f.decoded, f.problem_count) for f in workers.files
    ]
    assert {"brute-force", "log-cleared", "service-installed", "attack-tool"} <= {a.rule for a in workers.alerts}
    assert multiprocessing.active_children() == []


def test_workers_started_for_a_large_input_without_evtx_files_are_stopped(tmp_path: Path) -> None:
    lines = [ecs_line(failed_logon(1_667_156_832.0 + i, user="Administrator", ip="10.0.0.9")) for i in range(40)]
    path = tmp_path / "forwarded.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = analyze_windows_logs([path], WindowsSettings(), parallel_min_bytes=0)  # the pool starts, unused
    assert result.records == 40
    assert [a.count for a in result.alerts if a.rule == "brute-force"] == [40]
    assert multiprocessing.active_children() == []


def test_the_events_the_workers_drop_change_no_alert(shared_data: Path, monkeypatch) -> None:
    from mamori.detection.windows import WindowsEngine

    folder = shared_data / "evtx"
    filtered = analyze_windows_logs([folder], WindowsSettings(), parallel_min_bytes=0)
    monkeypatch.setattr(WindowsEngine, "handover_filter", lambda self: None)
    everything = analyze_windows_logs([folder], WindowsSettings(), parallel_min_bytes=0)
    assert _summary(filtered) == _summary(everything)
    dropped = sum(f.decoded for f in everything.files) - sum(f.decoded for f in filtered.files)
    assert dropped > 2000  # Sysmon process creations and the like that name no tool
