"""The registry of network detectors: rule ids to factories, the built-in ones listed explicitly (docs/design.md
§8), plugins through the ``mamori.detectors`` entry-point group.

A detector watches observations for one rule of the catalogue (``mamori.rules``). It has ``rule``,
``quiet_period`` and ``use_index``, and any of these hooks, which the engine finds by name:

- ``on_attempt(ConnectionAttempt)``: SYNs and scan probes, from the wire or from firewall logs;
- ``on_response(PortResponse)`` with ``response_kinds`` (the answers it reads: ``synack``, ``rst``...);
- ``on_arp(ArpObservation)``;
- ``on_vpn(VpnEvent)``: VPN logins, logouts and tunnels from the VPN gateways' logs;
- ``on_packet(PacketData)``: packets whose contents the decoder was asked for (``mamori.capture.PayloadWatch``);
- ``tick(now)``, ``refresh()``, ``finish()``: about once a second, before alerts are collected, at the end of input;
- ``quiet_periods()``: the quiet period of each rule, for a detector that raises more than one rule's alerts.

A plugin entry point names a factory ``(DetectorContext) -> detector or None`` (None: switched off)::

    [project.entry-points."mamori.detectors"]
    my-rule = "my_package.detector:build"

Its rule must be declared in the catalogue too (``mamori.rules`` entry point); an unknown rule id fails with the
list of known ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol

from mamori.config import DetectionSettings
from mamori.detection.arp import IpMacConflictDetector
from mamori.detection.backups import OfflineExposureDetector
from mamori.detection.book import AlertBook
from mamori.detection.cleartext import CleartextDetector, LoginSink
from mamori.detection.exposure import ExposureDetector, ServiceMemory
from mamori.detection.flows import FlowSink
from mamori.detection.lateral import LateralMovementDetector
from mamori.detection.maintenance import RemoteMaintenanceDetector, SessionSink
from mamori.detection.paths import PathMemory
from mamori.detection.portscan import PortScanDetector
from mamori.detection.resets import ResetInjectionDetector
from mamori.detection.rogue import RogueDhcpDetector, RogueRaDetector
from mamori.detection.site_index import SiteIndex
from mamori.detection.synflood import SynFloodDetector
from mamori.detection.unregistered import UnregisteredTerminalDetector
from mamori.detection.zones import ZoneDetector
from mamori.rules import Catalogue, UnknownRuleError

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "Detector",
    "DetectorContext",
    "DetectorFactory",
    "EntryPoints",
    "available_detectors",
    "build_detectors",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mamori.detectors"


class Detector(Protocol):
    rule: str
    quiet_period: float

    def use_index(self, index: SiteIndex) -> None: ...


@dataclass
class DetectorContext:
    """What a detector is built with: the site index, the detection settings, the alert book, and the state the
    built-in detectors share (the ports under a SYN flood, which the scan detector leaves to the flood)."""

    index: SiteIndex
    settings: DetectionSettings
    book: AlertBook
    hammered: set[tuple[str, int]] = field(default_factory=set)
    known_paths: PathMemory | None = None  # the paths seen before, kept by the runtime (new-path)
    known_services: ServiceMemory | None = None  # the services seen answering, kept by the runtime (exposure)
    sessions: SessionSink | None = None  # where remote-maintenance sessions are recorded (the runtime's store)
    flow_counts: FlowSink | None = None  # where the hourly counts between segments go (the zone map)
    options: Mapping[str, Any] = field(default_factory=dict)  # a plugin's own settings, if it has any
    salt: bytes | None = None  # the installation's salt for password tags (cleartext-credentials); None: per run
    logins: LoginSink | None = None  # where logins seen in clear text are recorded (the runtime's store)


DetectorFactory = Callable[[DetectorContext], Detector | None]


def _unregistered(ctx: DetectorContext) -> Detector | None:
    s = ctx.settings.unregistered_terminal
    return UnregisteredTerminalDetector(ctx.index, s, ctx.book) if s.enabled else None


def _flood(ctx: DetectorContext) -> Detector | None:
    s = ctx.settings.syn_flood
    return SynFloodDetector(ctx.index, s, ctx.book, ctx.hammered) if s.enabled else None


def _scan(ctx: DetectorContext) -> Detector | None:
    s = ctx.settings.port_scan
    return PortScanDetector(ctx.index, s, ctx.book, ctx.hammered) if s.enabled else None


def _zones(ctx: DetectorContext) -> Detector | None:
    """zone-policy and new-path: one detector places each connection in its segments for both (built only when
    the site has segments)."""
    s = ctx.settings
    if not ctx.index.site.segments or not (s.zone_policy.enabled or s.new_path.enabled):
        return None
    return ZoneDetector(
        ctx.index, s.zone_policy, s.new_path, ctx.book, ctx.known_paths, ctx.hammered, flows=ctx.flow_counts
    )


def _lateral(ctx: DetectorContext) -> Detector | None:
    s = ctx.settings.lateral_movement
    return LateralMovementDetector(ctx.index, s, ctx.book, ctx.hammered) if s.enabled else None


def _exposure(ctx: DetectorContext) -> Detector | None:
    s = ctx.settings.exposure
    return ExposureDetector(ctx.index, s, ctx.book, ctx.known_services) if s.enabled and s.passive else None


def _arp(ctx: DetectorContext) -> Detector | None:
    s = ctx.settings.ip_mac_conflict
    return IpMacConflictDetector(ctx.index, s, ctx.book) if s.enabled else None


def _maintenance(ctx: DetectorContext) -> Detector | None:
    """remote-maintenance: built only when the site names vendors."""
    s = ctx.settings.remote_maintenance
    if not ctx.index.site.vendors or not s.enabled:
        return None
    return RemoteMaintenanceDetector(ctx.index, s, ctx.book, ctx.sessions)


def _offline(ctx: DetectorContext) -> Detector | None:
    """backup-offline-exposed: built only when a backup job declares an offline copy."""
    if not any(job.offline is not None for job in ctx.index.site.backups):
        return None
    return OfflineExposureDetector(ctx.index, ctx.book)


def _cleartext(ctx: DetectorContext) -> Detector | None:
    s = ctx.settings.cleartext
    return CleartextDetector(ctx.index, s, ctx.book, salt=ctx.salt, sink=ctx.logins) if s.enabled else None


def _rogue_dhcp(ctx: DetectorContext) -> Detector | None:
    """rogue-dhcp: built only when a segment lists its DHCP servers."""
    s = ctx.settings.rogue_dhcp
    if not s.enabled or all(seg.dhcp_servers is None for seg in ctx.index.site.segments):
        return None
    return RogueDhcpDetector(ctx.index, s, ctx.book)


def _rogue_ra(ctx: DetectorContext) -> Detector | None:
    """rogue-ra: built only when a segment lists its IPv6 routers."""
    s = ctx.settings.rogue_ra
    if not s.enabled or all(seg.routers_v6 is None for seg in ctx.index.site.segments):
        return None
    return RogueRaDetector(ctx.index, s, ctx.book)


def _resets(ctx: DetectorContext) -> Detector | None:
    s = ctx.settings.tcp_reset_injection
    return ResetInjectionDetector(ctx.index, s, ctx.book) if s.enabled else None


# In the order they see each attempt: the flood before the scan, so that a flooded port is known before its SYN
# reaches the scan detector.
BUILTIN: dict[str, DetectorFactory] = {
    "unregistered-terminal": _unregistered,
    "syn-flood": _flood,
    "port-scan": _scan,
    "zone-policy": _zones,  # raises new-path alerts too
    "lateral-movement": _lateral,
    "ip-mac-conflict": _arp,
    "exposure": _exposure,  # services seen answering (SYN-ACKs)
    "remote-maintenance": _maintenance,
    "backup-offline-exposed": _offline,
    "cleartext-credentials": _cleartext,  # these four read packets' contents (on_packet)
    "rogue-dhcp": _rogue_dhcp,
    "rogue-ra": _rogue_ra,
    "tcp-reset-injection": _resets,
}

EntryPoints = Callable[[], Iterable[metadata.EntryPoint]]


def _installed_entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def available_detectors(entry_points: EntryPoints = _installed_entry_points) -> dict[str, DetectorFactory]:
    """Built-in detectors, then plugins (a plugin never replaces a built-in of the same rule)."""
    found: dict[str, DetectorFactory] = dict(BUILTIN)
    for ep in entry_points():
        if ep.name in found:
            log.warning("detector plugin %s (%s) ignored: the rule has a detector", ep.name, ep.value)
            continue
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # a broken plugin names itself and does not take the sensor down
            log.error("detector plugin %s (%s) could not be loaded: %s", ep.name, ep.value, exc)
    return found


def build_detectors(
    ctx: DetectorContext,
    catalogue: Catalogue,
    entry_points: EntryPoints = _installed_entry_points,
) -> list[Detector]:
    """Every available detector that its settings leave switched on, in registry order. A detector whose rule the
    catalogue does not declare is refused (its alerts could not be stored or shown)."""
    detectors: list[Detector] = []
    for name, factory in available_detectors(entry_points).items():
        if name not in catalogue:
            raise UnknownRuleError(name, catalogue, "rule of a detector")
        detector = factory(ctx)
        if detector is not None:
            detectors.append(detector)
    return detectors
