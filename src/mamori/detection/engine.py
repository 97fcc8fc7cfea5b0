"""The detection engine: routes observations to the detectors, keeps the open alerts, hands out changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mamori.config import DetectionSettings
from mamori.detection.book import AlertBook
from mamori.detection.cleartext import LoginSink
from mamori.detection.devices import DeviceBook, DeviceMemory
from mamori.detection.exposure import ServiceMemory
from mamori.detection.flows import FlowSink
from mamori.detection.maintenance import SessionSink
from mamori.detection.paths import PathMemory
from mamori.detection.registry import Detector, DetectorContext, EntryPoints, build_detectors
from mamori.detection.registry import _installed_entry_points as _detector_plugins
from mamori.detection.site_index import SiteIndex
from mamori.model import (
    Alert,
    ArpObservation,
    Clock,
    ConnectionAttempt,
    PacketData,
    PortResponse,
    Site,
    SystemClock,
    VpnEvent,
)
from mamori.rules import Catalogue, catalogue

__all__ = ["Clock", "Engine", "SystemClock"]

_KIND = PortResponse._fields.index("kind")


def _compiled_dispatch() -> Any:
    """Engine.feed's loop, compiled (where the machine had a C compiler at install), or None."""
    try:
        from mamori.detection import _dispatch  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _dispatch


_compiled = _compiled_dispatch()


class Engine:
    """Feed it observations (in time order, as they come); collect the alerts that changed.

    The detectors come from the registry (``mamori.detection.registry``: the built-in ones and plugins). The clock
    is only used to expire alerts when no traffic arrives (``tick``); windows are measured on the observations' own
    timestamps, so a capture file is judged exactly as the live traffic was.
    """

    def __init__(
        self,
        site: Site,
        settings: DetectionSettings,
        *,
        clock: Clock | None = None,
        new_uid: Callable[[], str] | None = None,
        rule_catalogue: Catalogue | None = None,
        detector_plugins: EntryPoints = _detector_plugins,
        known_paths: PathMemory | None = None,
        known_services: ServiceMemory | None = None,
        sessions: SessionSink | None = None,
        flow_counts: FlowSink | None = None,
        devices: DeviceMemory | None = None,
        salt: bytes | None = None,
        logins: LoginSink | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.index = SiteIndex(site)
        rules = rule_catalogue if rule_catalogue is not None else catalogue()
        self.book = AlertBook(settings.max_open_alerts, new_uid=new_uid, rule_catalogue=rules)
        self.detectors: dict[str, Detector] = {
            d.rule: d
            for d in build_detectors(
                DetectorContext(
                    self.index,
                    settings,
                    self.book,
                    known_paths=known_paths,
                    known_services=known_services,
                    sessions=sessions,
                    flow_counts=flow_counts,
                    salt=salt,
                    logins=logins,
                ),
                rules,
                detector_plugins,
            )
        }
        hooks = self.detectors.values()
        self._on_attempt: list[Callable[[ConnectionAttempt], None]] = _hooks(hooks, "on_attempt")
        # Each detector says which answers it reads; the others are not handed to it (most answers are SYN-ACKs).
        self._on_response: dict[str, list[Callable[[Any], None]]] = {}
        for detector in hooks:
            handler = getattr(detector, "on_response", None)
            if handler is not None:
                for kind in getattr(detector, "response_kinds", ("synack", "rst", "rstack", "unreachable")):
                    self._on_response.setdefault(kind, []).append(handler)
        self._on_arp: list[Callable[[ArpObservation], None]] = _hooks(hooks, "on_arp")
        self._on_vpn: list[Callable[[VpnEvent], None]] = _hooks(hooks, "on_vpn")
        self._on_packet: list[Callable[[PacketData], None]] = _hooks(hooks, "on_packet")
        self._tick: list[Callable[[float], None]] = _hooks(hooks, "tick")
        self._refresh: list[Callable[[], None]] = _hooks(hooks, "refresh")
        self._finish: list[Callable[[], None]] = _hooks(hooks, "finish")
        self._quiet = {d.rule: d.quiet_period for d in hooks}
        for periods in _hooks(hooks, "quiet_periods"):  # a detector that raises more than one rule's alerts
            self._quiet.update(periods())
        # The asset ledger's sightings (no rule): fed like a detector, only when a memory is given.
        self.devices = DeviceBook(devices) if devices is not None else None
        if self.devices is not None:
            self._on_attempt.append(self.devices.on_attempt)
            self._on_response.setdefault("synack", []).append(self.devices.on_response)
            self._on_arp.append(self.devices.on_arp)
            self._tick.append(self.devices.tick)
            self._finish.append(self.devices.flush)
        self._by_type: dict[type, list[Callable[[Any], None]]] = {
            ConnectionAttempt: self._on_attempt,
            ArpObservation: self._on_arp,
            PacketData: self._on_packet,
            VpnEvent: self._on_vpn,
        }
        self.observations = 0
        self.last_ts: float | None = None

    def detector(self, rule: str) -> Any:
        """The running detector of ``rule``, or None (switched off)."""
        return self.detectors.get(rule)

    def feed(self, batch: Iterable[ConnectionAttempt | PortResponse | ArpObservation | VpnEvent | PacketData]) -> None:
        # One look-up per observation picks its handlers: by type, and for an answer by its kind. A list goes
        # through the compiled loop where it is built (mamori.detection._dispatch: the same calls in the same
        # order); the loop below is the reference.
        by_type = self._by_type
        on_response = self._on_response
        on_vpn = self._on_vpn  # what the sensor's other sources feed (VPN log events)
        if _compiled is not None and type(batch) is list:
            if batch:
                _compiled.dispatch(batch, by_type, on_response, on_vpn, PortResponse, _KIND)
                self.observations += len(batch)
                self.last_ts = batch[-1].ts
            return
        none: tuple[()] = ()
        n = 0
        obs = None
        for obs in batch:
            n += 1
            kind = type(obs)
            handlers: list[Callable[[Any], None]] | tuple[()] = (
                on_response.get(obs.kind, none)  # type: ignore[union-attr]
                if kind is PortResponse
                else by_type.get(kind, on_vpn)
            )
            for handler in handlers:
                handler(obs)
        if obs is not None:
            self.observations += n
            self.last_ts = obs.ts

    def tick(self, now: float | None = None) -> None:
        """Expire quiet episodes; call about once a second in a live sensor."""
        now = self.clock.now() if now is None else now
        for tick in self._tick:
            tick(now)
        self.book.expire(now, self._quiet)

    def update_site(self, site: Site) -> None:
        """Use a changed site model from now on (a terminal registered in the dashboard, say), keeping every
        window, binding and open alert."""
        self.index = SiteIndex(site)
        for detector in self.detectors.values():
            detector.use_index(self.index)

    def finish(self) -> None:
        """The input ended (end of the capture files): settle what was held back for more evidence."""
        for finish in self._finish:
            finish()

    def collect_changes(self) -> list[Alert]:
        for refresh in self._refresh:
            refresh()
        return self.book.collect_changes()

    def restore(self, alerts: Iterable[Alert]) -> int:
        """Continue open episodes after a restart (their uids, counts and samples carry on)."""
        restored = 0
        for alert in alerts:
            if alert.rule in self._quiet:
                self.book.restore(alert)
                restored += 1
        return restored


def _hooks(detectors: Iterable[Detector], name: str) -> list[Any]:
    """The detectors' methods of that name, in registry order."""
    return [hook for d in detectors if (hook := getattr(d, name, None)) is not None]
