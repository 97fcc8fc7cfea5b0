"""The detection engine: routes observations to the detectors, keeps the open alerts, hands out changes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

from mamori.config import DetectionSettings
from mamori.detection.arp import IpMacConflictDetector
from mamori.detection.book import AlertBook
from mamori.detection.paths import PathMemory
from mamori.detection.portscan import PortScanDetector
from mamori.detection.site_index import SiteIndex
from mamori.detection.synflood import SynFloodDetector
from mamori.detection.unregistered import UnregisteredTerminalDetector
from mamori.detection.zones import ZoneDetector
from mamori.model import Alert, ArpObservation, ConnectionAttempt, PortResponse, Site

__all__ = ["RULES", "Clock", "Engine", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


RULES = ("unregistered-terminal", "port-scan", "syn-flood", "ip-mac-conflict", "zone-policy", "new-path")


class Engine:
    """Feed it observations (in time order, as they come); collect the alerts that changed.

    The clock is only used to expire alerts when no traffic arrives (``tick``); windows are measured on the
    observations' own timestamps, so a capture file is judged exactly as the live traffic was.
    """

    def __init__(
        self,
        site: Site,
        settings: DetectionSettings,
        *,
        clock: Clock | None = None,
        new_uid: Callable[[], str] | None = None,
        known_paths: PathMemory | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.index = SiteIndex(site)
        self.book = AlertBook(settings.max_open_alerts, new_uid=new_uid)
        self.unregistered = (
            UnregisteredTerminalDetector(self.index, settings.unregistered_terminal, self.book)
            if settings.unregistered_terminal.enabled
            else None
        )
        self.scan = PortScanDetector(self.index, settings.port_scan, self.book) if settings.port_scan.enabled else None
        self.flood = SynFloodDetector(self.index, settings.syn_flood, self.book) if settings.syn_flood.enabled else None
        self.arp = (
            IpMacConflictDetector(self.index, settings.ip_mac_conflict, self.book)
            if settings.ip_mac_conflict.enabled
            else None
        )
        zones_on = bool(site.segments) and (settings.zone_policy.enabled or settings.new_path.enabled)
        self.zones = (
            ZoneDetector(self.index, settings.zone_policy, settings.new_path, self.book, known_paths)
            if zones_on
            else None
        )
        self._on_response = [d.on_response for d in (self.scan, self.flood, self.zones) if d is not None]
        self._on_arp = [self.arp.on_arp] if self.arp is not None else []
        self._quiet = {
            d.rule: d.quiet_period for d in (self.unregistered, self.scan, self.flood, self.arp) if d is not None
        }
        if self.zones is not None:
            self._quiet.update(self.zones.quiet_periods())
        self.observations = 0
        self.last_ts: float | None = None

    def feed(self, batch: Iterable[ConnectionAttempt | PortResponse | ArpObservation]) -> None:
        unregistered = self.unregistered.on_attempt if self.unregistered is not None else None
        scan = self.scan.on_attempt if self.scan is not None else None
        flood = self.flood.on_attempt if self.flood is not None else None
        zones = self.zones.on_attempt if self.zones is not None else None
        # SYNs to a port under a flood are the flood's; tracking each forged source as a possible scanner would
        # cost time and memory exactly when the sensor needs them. Scans of other ports are still seen.
        hammered = self.flood.hammered if self.flood is not None else set()
        on_response = self._on_response
        on_arp = self._on_arp
        n = 0
        obs = None
        for obs in batch:
            n += 1
            kind = type(obs)
            if kind is ConnectionAttempt:
                if unregistered is not None:
                    unregistered(obs)  # type: ignore[arg-type]
                if flood is not None:
                    flood(obs)  # type: ignore[arg-type]
                if scan is not None and not (hammered and (obs.dst_ip, obs.dst_port) in hammered):  # type: ignore[union-attr]
                    scan(obs)  # type: ignore[arg-type]
                if zones is not None and not (hammered and (obs.dst_ip, obs.dst_port) in hammered):  # type: ignore[union-attr]
                    zones(obs)  # type: ignore[arg-type]
            elif kind is PortResponse:
                for handler_r in on_response:
                    handler_r(obs)  # type: ignore[arg-type]
            else:
                for handler_a in on_arp:
                    handler_a(obs)  # type: ignore[arg-type]
        if obs is not None:
            self.observations += n
            self.last_ts = obs.ts

    def tick(self, now: float | None = None) -> None:
        """Expire quiet episodes; call about once a second in a live sensor."""
        now = self.clock.now() if now is None else now
        if self.flood is not None:
            self.flood.tick(now)
        if self.zones is not None:
            self.zones.tick()
        self.book.expire(now, self._quiet)

    def update_site(self, site: Site) -> None:
        """Use a changed site model from now on (a terminal registered in the dashboard, say), keeping every
        window, binding and open alert."""
        self.index = SiteIndex(site)
        for detector in (self.unregistered, self.scan, self.flood, self.arp, self.zones):
            if detector is not None:
                detector.use_index(self.index)

    def finish(self) -> None:
        """The input ended (end of the capture files): settle what was held back for more evidence."""
        if self.flood is not None:
            self.flood.finish()
        if self.zones is not None:
            self.zones.finish()

    def collect_changes(self) -> list[Alert]:
        if self.flood is not None:
            self.flood.refresh()
        return self.book.collect_changes()

    def restore(self, alerts: Iterable[Alert]) -> int:
        """Continue open episodes after a restart (their uids, counts and samples carry on)."""
        restored = 0
        for alert in alerts:
            if alert.rule in self._quiet:
                self.book.restore(alert)
                restored += 1
        return restored
