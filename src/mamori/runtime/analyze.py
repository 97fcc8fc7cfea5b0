"""Run the detectors over capture files, in the order given, as if the traffic were live."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mamori.capture.bpf import build_filter
from mamori.capture.decode import PayloadWatch
from mamori.capture.packetpolice import PacketPoliceSource, looks_like_packet_police
from mamori.capture.sources import CaptureStats, FileSource
from mamori.config import Settings
from mamori.detection import Engine
from mamori.detection.cleartext import LoginSink
from mamori.detection.devices import DeviceMemory
from mamori.detection.exposure import ServiceMemory
from mamori.detection.flows import FlowSink
from mamori.errors import CaptureError
from mamori.model import Alert, Site
from mamori.runtime.lan import CapturePlan, capture_plan

__all__ = ["AnalysisResult", "analyze_captures", "capture_filter"]

# progress(file index, file path, bytes read, file size)
Progress = Callable[[int, Path, int, int], None]


def open_source(
    path: Path, settings: Settings, bpf: str, watch: PayloadWatch | None = None
) -> FileSource | PacketPoliceSource:
    """A capture file (pcap, pcapng) or a Packet Police CSV log, told apart by their first bytes."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        head = b""  # FileSource reports the problem
    if looks_like_packet_police(head):
        zone = settings.capture.log_timezone
        return PacketPoliceSource(path, timezone=zoneinfo.ZoneInfo(zone) if zone else None)
    return FileSource(path, bpf, watch=watch)


def capture_filter(settings: Settings, plan: CapturePlan | None = None) -> str:
    """The kernel filter; with ``plan`` (:func:`mamori.runtime.lan.capture_plan`), also the packets whose contents
    the LAN-threat detectors read."""
    c = settings.capture
    return build_filter(udp=c.udp, ipv6=c.ipv6, vlan=c.vlan, extra=plan.clauses if plan is not None else ())


@dataclass
class AnalysisResult:
    alerts: list[Alert] = field(default_factory=list)
    files: list[CaptureStats] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # files that could not be read at all

    @property
    def warnings(self) -> list[str]:
        out = [e for f in self.files for e in f.errors]
        for f in self.files:
            if f.malformed:
                reasons = ", ".join(f"{reason} ×{n}" for reason, n in sorted(f.problems.items()))
                out.append(f"{f.name}: {f.malformed} malformed packets skipped ({reasons})")
        return out


def analyze_captures(
    settings: Settings,
    paths: Sequence[Path],
    *,
    engine: Engine | None = None,
    site: Callable[[], Site] | None = None,
    progress: Progress | None = None,
    on_changes: Callable[[list[Alert]], None] | None = None,
    known_services: ServiceMemory | None = None,
    flow_counts: FlowSink | None = None,
    devices: DeviceMemory | None = None,
    salt: bytes | None = None,
    logins: LoginSink | None = None,
) -> AnalysisResult:
    """Analyse ``paths`` one after another with one engine (so an attack spanning files is one alert).

    A file that cannot be opened is reported in ``failed`` and the others are still analysed; a truncated or
    damaged file contributes every packet before the damage and a warning. ``site`` gives the site model to
    judge by (default: the settings'); it is asked for once the first file is being read, so that getting it
    (reading the terminal ledger from the database) overlaps with libpcap reading a large capture.
    ``known_services`` keeps the services seen answering (the exposure rule's table).
    ``flow_counts``: where the hourly counts of flows between segments go (the zone map), if anywhere.
    ``devices``: where the devices seen go (the asset ledger). ``salt`` and ``logins`` are the installation's salt
    for password tags and where cleartext logins are recorded.
    """
    plan = capture_plan(settings)
    bpf = capture_filter(settings, plan)
    first = open_source(paths[0], settings, bpf, plan.watch) if paths else None
    if isinstance(first, FileSource):
        first.start()
    try:
        engine = engine or Engine(
            site() if site is not None else settings.site,
            settings.detection,
            known_services=known_services,
            flow_counts=flow_counts,
            devices=devices,
            salt=salt,
            logins=logins,
        )
    except BaseException:
        if isinstance(first, FileSource):
            first.close()
        raise
    result = AnalysisResult()
    latest: dict[str, Alert] = {}
    for index, path in enumerate(paths):
        source = first if index == 0 and first is not None else open_source(path, settings, bpf, plan.watch)
        try:
            for batch in source.batches():
                engine.feed(batch)
                if progress is not None:
                    progress(index, path, source.position(), source.size)
                if on_changes is not None and engine.observations % 65536 < len(batch):
                    changes = engine.collect_changes()
                    on_changes(changes)
                    latest.update((a.uid, a) for a in changes)
        except CaptureError as exc:
            result.failed.append(str(exc))
        result.files.append(source.stats)
        if progress is not None:
            progress(index, path, source.size, source.size)
    engine.finish()
    changes = engine.collect_changes()
    if on_changes is not None:
        on_changes(changes)
    latest.update((a.uid, a) for a in changes)
    result.alerts = sorted(latest.values(), key=lambda a: (a.first_seen, a.rule, a.key))
    return result
