"""Engine.feed's compiled loop (mamori.detection._dispatch) against the Python loop it replaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mamori.capture import FileSource
from mamori.detection import engine as engine_module
from mamori.detection.engine import Engine
from mamori.model import ArpObservation, ConnectionAttempt, PortResponse, VpnEvent
from mamori.runtime.analyze import capture_filter
from mamori.runtime.lan import capture_plan
from tests.conftest import LAB_SITE, make_settings

_dispatch = pytest.importorskip("mamori.detection._dispatch")  # built where a C compiler is (a skip fails under CI)


def _alerts(engine: Engine) -> list[tuple[Any, ...]]:
    engine.finish()
    changes = engine.collect_changes()
    return sorted((a.rule, a.key, a.count, a.first_seen, a.last_seen, a.severity, str(a.details)) for a in changes)


LAB_CAPTURES = ["nmap_sS_1-1000.pcap", "scan_hping3_flood_S_p6000.pcap", "scan_nmap_sA_1-1000.pcap"]


@pytest.mark.parametrize("capture", LAB_CAPTURES)
def test_compiled_loop_raises_the_alerts_the_python_loop_raises(
    capture: str, lab_pcaps: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(LAB_SITE, tmp_path)
    plan = capture_plan(settings)
    batches = list(FileSource(lab_pcaps / capture, capture_filter(settings, plan), watch=plan.watch).batches())
    assert sum(map(len, batches)) > 1000

    def run() -> tuple[list[tuple[Any, ...]], int, float | None]:
        engine = Engine(settings.site, settings.detection, new_uid=_uids())
        for batch in batches:
            engine.feed(batch)
        return _alerts(engine), engine.observations, engine.last_ts

    compiled = run()
    monkeypatch.setattr(engine_module, "_compiled", None)
    python = run()
    assert compiled == python
    assert compiled[0]  # the scans raise alerts


def _uids() -> Any:
    counter = iter(range(10**6))
    return lambda: f"uid-{next(counter)}"


def test_every_observation_reaches_its_handlers_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(LAB_SITE, tmp_path)
    batch: list[Any] = [
        ConnectionAttempt(1.0, "02:00:00:00:00:01", None, "10.0.0.1", "10.0.0.2", "tcp", 1, 2),
        PortResponse(2.0, "synack", "tcp", None, "10.0.0.2", 2, "10.0.0.1", 1),
        PortResponse(3.0, "nosuchkind", "tcp", None, "10.0.0.2", 2, "10.0.0.1", 1),
        ArpObservation(4.0, 1, "02:00:00:00:00:01", "02:00:00:00:00:01", "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2"),
        VpnEvent(5.0, "login", "vpn-gw", "ssl-vpn", "vendor", "203.0.113.5", "10.9.0.2"),
    ]

    def record(engine: Engine) -> list[tuple[str, float]]:
        seen: list[tuple[str, float]] = []
        engine._on_attempt[:] = [lambda o: seen.append(("attempt", o.ts)), lambda o: seen.append(("attempt2", o.ts))]
        engine._on_response.clear()
        engine._on_response["synack"] = [lambda o: seen.append(("synack", o.ts))]
        engine._on_arp[:] = [lambda o: seen.append(("arp", o.ts))]
        engine._on_vpn[:] = [lambda o: seen.append(("other", o.ts))]
        engine.feed(batch)
        assert engine.observations == 5 and engine.last_ts == 5.0
        return seen

    compiled = record(Engine(settings.site, settings.detection))
    monkeypatch.setattr(engine_module, "_compiled", None)
    python = record(Engine(settings.site, settings.detection))
    assert (
        compiled
        == python
        == [
            ("attempt", 1.0),
            ("attempt2", 1.0),
            ("synack", 2.0),
            ("arp", 4.0),
            ("other", 5.0),
        ]
    )


def test_a_handlers_exception_stops_the_loop_and_propagates(tmp_path: Path) -> None:
    settings = make_settings(LAB_SITE, tmp_path)
    engine = Engine(settings.site, settings.detection)
    seen: list[float] = []

    def handler(obs: ConnectionAttempt) -> None:
        seen.append(obs.ts)
        if obs.ts == 2.0:
            raise RuntimeError("a detector failed")

    engine._on_attempt[:] = [handler]
    batch = [ConnectionAttempt(float(t), None, None, "10.0.0.1", "10.0.0.2", "tcp", 1, 2) for t in (1, 2, 3)]
    with pytest.raises(RuntimeError, match="a detector failed"):
        engine.feed(batch)
    assert seen == [1.0, 2.0]
    assert engine.observations == 0  # as the Python loop: counted only once the batch went through
    with pytest.raises(TypeError):
        _dispatch.dispatch(batch, {}, {}, "not a list", PortResponse, 1)
