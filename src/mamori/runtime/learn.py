"""Learning mode: watch who opens connections to each department system and propose them as terminals.

Over capture files (or Packet Police logs) or live interfaces, every TCP SYN (without ACK) to a protected server
port is tallied per (system, source MAC): the IPs it used, first and last seen, connection attempts and ports.
SYNs that arrive through a configured router carry the router's MAC, so they are tallied per (system, source IP)
instead and proposed by IP only. Terminals already registered (settings file or ledger) are marked known. The
port-scan, SYN-flood and ARP detectors run alongside, so that a source caught scanning, flooding or spoofing while
mamori was learning is marked (and the CLI proposes it declined). Nothing is registered here: the operator
reviews the proposal and imports it. The tallies are bounded, so a spoofed-source flood during learning cannot
exhaust memory.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mamori.capture.decode import Observation
from mamori.capture.sources import CaptureStats, LiveSource, wait_readable
from mamori.config import Settings
from mamori.detection import Clock, Engine, SystemClock
from mamori.detection.site_index import SiteIndex
from mamori.errors import CaptureError
from mamori.model import ACK, SYN, Alert, ConnectionAttempt, Site
from mamori.runtime.analyze import capture_filter, open_source

__all__ = [
    "LearnRun",
    "Learner",
    "Proposal",
    "SystemSummary",
    "learn_from_files",
    "learn_live",
    "summarize",
]

log = logging.getLogger(__name__)

_FLAGGING_RULES = ("port-scan", "syn-flood", "ip-mac-conflict")
_REOPEN_INTERVAL = 5.0


@dataclass(frozen=True)
class Proposal:
    """A terminal seen connecting to a system. ``mac`` is ``""`` when it came through a router (``gateway``) or
    from a source without a link layer; then ``ips`` holds its one IP. ``ips`` are (IP, attempts), most used first.

    ``known`` tells that the SYNs were all from a registered terminal; ``registered`` names the registered
    terminal with this MAC (also when it used another IP than its registered ``registered_ip``). ``flagged`` lists
    the rules (port-scan, syn-flood, ip-mac-conflict) this source raised while learning.
    """

    system: str
    mac: str
    ips: tuple[tuple[str, int], ...]
    first_seen: float
    last_seen: float
    connections: int
    ports: tuple[int, ...]
    gateway: str | None = None
    known: bool = False
    registered: str | None = None
    registered_ip: str | None = None
    flagged: tuple[str, ...] = ()

    @property
    def ip(self) -> str | None:
        """The IP to register: the only one used, else None (several IPs: any IP, unless the operator pins one)."""
        return self.ips[0][0] if len(self.ips) == 1 else None

    @property
    def via_router(self) -> bool:
        return not self.mac


@dataclass(frozen=True)
class SystemSummary:
    system: str
    proposed: int
    known: int


@dataclass(slots=True)
class _Tally:
    first_seen: float
    last_seen: float
    gateway: str | None
    connections: int = 0
    ips: Counter[str] = field(default_factory=Counter)
    ports: Counter[int] = field(default_factory=Counter)


class Learner:
    """Tallies SYNs to protected services per (system, source). Feed it observations in time order.

    ``max_sources`` bounds the (system, source) pairs tracked; SYNs from further sources are only counted in
    ``dropped``. ``max_ips`` and ``max_ports`` bound what one source remembers.
    """

    def __init__(
        self,
        site: Site,
        settings: Settings | None = None,
        *,
        max_sources: int = 50_000,
        max_ips: int = 32,
        max_ports: int = 64,
    ) -> None:
        self.site = site
        self.index = SiteIndex(site)
        self.max_sources = max_sources
        self.max_ips = max_ips
        self.max_ports = max_ports
        self.syns = 0
        self.dropped = 0
        self._tallies: dict[tuple[str, str, str], _Tally] = {}
        self._flagged: dict[str, set[str]] = {}  # MAC or IP -> rules it raised
        self.engine: Engine | None = None
        if settings is not None:
            # Every source is unregistered while learning: only the other rules say something here.
            quiet = settings.detection.unregistered_terminal.model_copy(update={"enabled": False})
            self.engine = Engine(site, settings.detection.model_copy(update={"unregistered_terminal": quiet}))

    def feed(self, batch: Sequence[Observation]) -> None:
        services = self.index.tcp_services
        gateways = self.index.gateway_macs
        tallies = self._tallies
        for obs in batch:
            if type(obs) is not ConnectionAttempt or obs.proto != "tcp" or obs.flags & (SYN | ACK) != SYN:
                continue
            system = services.get((obs.dst_ip, obs.dst_port))
            if system is None:
                continue
            self.syns += 1
            mac = obs.src_mac
            gateway = gateways.get(mac) if mac is not None else None
            routed = mac is None or gateway is not None
            key = (system.name, "", obs.src_ip) if routed else (system.name, mac or "", "")
            tally = tallies.get(key)
            if tally is None:
                if len(tallies) >= self.max_sources:
                    self.dropped += 1
                    continue
                tally = tallies[key] = _Tally(obs.ts, obs.ts, gateway.name if gateway is not None else None)
            tally.connections += 1
            tally.last_seen = obs.ts
            if obs.src_ip in tally.ips or len(tally.ips) < self.max_ips:
                tally.ips[obs.src_ip] += 1
            if obs.dst_port in tally.ports or len(tally.ports) < self.max_ports:
                tally.ports[obs.dst_port] += 1
        if self.engine is not None:
            self.engine.feed(batch)
            self._note_alerts(self.engine.collect_changes())

    def _note_alerts(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            if alert.rule not in _FLAGGING_RULES:
                continue
            # The source's IP names it for a scan or a flood from real addresses; an ARP alert's IP is the
            # victim's, and a spoofed flood's is random.
            trust_ip = alert.rule == "port-scan" or (
                alert.rule == "syn-flood" and not alert.details.get("spoofed_sources")
            )
            for who in (alert.src_mac, alert.src_ip if trust_ip else None):
                if who and who not in self.index.gateway_macs:
                    self._flagged.setdefault(who, set()).add(alert.rule)

    def finish(self) -> None:
        """The input ended: let the detectors settle what they held back."""
        if self.engine is not None:
            self.engine.finish()
            self._note_alerts(self.engine.collect_changes())

    @property
    def sources(self) -> int:
        return len(self._tallies)

    def proposals(self) -> list[Proposal]:
        """Every source seen, known ones included, ordered by system (as in the site), then MAC, then IP."""
        order = {s.name: i for i, s in enumerate(self.site.systems)}
        out = [self._proposal(key, tally) for key, tally in self._tallies.items()]
        out.sort(key=lambda p: (order.get(p.system, len(order)), p.via_router, p.mac, p.ips[0][0]))
        return out

    def _proposal(self, key: tuple[str, str, str], tally: _Tally) -> Proposal:
        system, mac, ip = key
        ips = tuple(sorted(tally.ips.items(), key=lambda item: (-item[1], item[0])))
        registered = self.index.macs[system].get(mac) if mac else self.index.ips[system].get(ip)
        if mac:
            allowed = self.index.allowed
            known = all((mac, i, system) in allowed or (mac, "", system) in allowed for i, _ in ips)
        else:
            known = registered is not None
        flagged = set(self._flagged.get(mac, ())) if mac else set(self._flagged.get(ip, ()))
        return Proposal(
            system=system,
            mac=mac,
            ips=ips,
            first_seen=tally.first_seen,
            last_seen=tally.last_seen,
            connections=tally.connections,
            ports=tuple(sorted(tally.ports)),
            gateway=tally.gateway,
            known=known,
            registered=registered.name if registered is not None else None,
            registered_ip=registered.ip if registered is not None else None,
            flagged=tuple(sorted(flagged)),
        )


def summarize(site: Site, proposals: Iterable[Proposal]) -> list[SystemSummary]:
    """Per system of the site (in its order): how many terminals are proposed and how many were already known."""
    proposed: Counter[str] = Counter()
    known: Counter[str] = Counter()
    for p in proposals:
        (known if p.known else proposed)[p.system] += 1
    return [SystemSummary(s.name, proposed[s.name], known[s.name]) for s in site.systems]


@dataclass
class LearnRun:
    """What a learning run read: per file or interface statistics, and the files that could not be read."""

    sources: list[CaptureStats] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def learn_from_files(learner: Learner, settings: Settings, paths: Sequence[Path]) -> LearnRun:
    """Feed ``paths`` (pcap/pcapng through the sensor's own BPF filter, or Packet Police CSV logs) to ``learner``
    in order."""
    bpf = capture_filter(settings)
    run = LearnRun()
    for path in paths:
        source = open_source(path, settings, bpf)
        try:
            for batch in source.batches():
                learner.feed(batch)
        except CaptureError as exc:
            run.failed.append(str(exc))
        run.sources.append(source.stats)
    learner.finish()
    return run


def learn_live(
    learner: Learner,
    settings: Settings,
    interfaces: Sequence[str],
    *,
    duration: float,
    stop: threading.Event,
    clock: Clock | None = None,
    progress: Callable[[Learner], None] | None = None,
    progress_interval: float = 600.0,
) -> LearnRun:
    """Learn on live interfaces until ``duration`` seconds have passed on ``clock`` or ``stop`` is set.

    An interface that fails is reopened every few seconds; if none can be opened at the start, CaptureError.
    """
    clock = clock or SystemClock()
    if not interfaces:
        raise CaptureError(f"{settings.source}: no interface to learn on; set capture.interfaces or pass --interface")
    bpf = capture_filter(settings)
    c = settings.capture
    sources = [
        LiveSource(n, bpf, snaplen=c.snaplen, buffer_bytes=c.buffer_mb * 1024 * 1024, promiscuous=c.promiscuous)
        for n in interfaces
    ]
    errors = [msg for s in sources if (msg := _try_open(s))]
    if errors and not any(s.is_open for s in sources):
        raise CaptureError("; ".join(errors))
    start = clock.now()
    end = start + duration
    next_reopen = start
    next_progress = start + progress_interval
    try:
        while not stop.is_set() and (now := clock.now()) < end:
            for source in wait_readable(sources, min(0.5, max(0.0, end - now))):
                _drain(learner, source)
            now = clock.now()
            if now >= next_reopen:
                next_reopen = now + _REOPEN_INTERVAL
                for source in sources:
                    if not source.is_open:
                        _try_open(source)
            if progress is not None and now >= next_progress:
                next_progress = now + progress_interval
                progress(learner)
        for source in sources:  # what the kernel still holds
            _drain(learner, source, max_batches=64)
    finally:
        for source in sources:
            source.close()
    learner.finish()
    return LearnRun(sources=[s.refresh_stats() for s in sources])


def _try_open(source: LiveSource) -> str | None:
    try:
        source.open()
    except CaptureError as exc:
        log.error("%s (retrying every %.0f s)", exc, _REOPEN_INTERVAL)
        return str(exc)
    log.info("learning on %s", source.interface)
    return None


def _drain(learner: Learner, source: LiveSource, max_batches: int = 16) -> None:
    for _ in range(max_batches):
        try:
            batch = source.read_batch()
        except CaptureError as exc:
            log.error("%s", exc)
            return
        if batch is None:
            return
        if batch:
            learner.feed(batch)
