"""``lateral-movement`` from connection attempts: one source reaching many distinct hosts on remote-administration
ports (SSH, RPC, SMB, RDP, WinRM) within a window. The attempts are the ones zone-policy reads: SYNs on the wire
and the allow/deny lines of routers and firewalls (``mamori collect``).

Per (source, evidence) the detector keeps the hosts reached in the window, in the order last reached, so that
expiry pops from the front. At ``medium_hosts`` distinct hosts an alert opens (medium); at ``high_hosts`` within
the window it becomes high. The same source's later attempts go into the same alert while it is open (one
incident, one alert), its targets listed up to 64 and counted beyond.

Registered admin, antivirus, update, backup and asset-management hosts (``exempt_hosts``, and segments with one of
these roles) are left alone. Memory is bounded: at most ``max_sources`` sources (the oldest evicted, so a storm of
spoofed sources, each reaching one host, churns a fixed table), 4,096 hosts per source; a port under a SYN flood is
the flood's (as for the scan and zone detectors).
"""

from __future__ import annotations

from collections import OrderedDict

from mamori.config import LateralMovementSettings
from mamori.detection.book import AlertBook, AlertState
from mamori.detection.exempt import Exemptions
from mamori.detection.site_index import SiteIndex
from mamori.model import ACK, SYN, ConnectionAttempt, Severity

__all__ = ["RULE", "LateralMovementDetector"]

RULE = "lateral-movement"
_LISTED = 64  # targets and ports listed in an alert's details
_TARGETS_CAP = 4096  # distinct hosts remembered per source within the window, and per alert for counting
_PORT_NAMES = {22: "SSH", 135: "RPC", 139: "NetBIOS/SMB", 445: "SMB", 3389: "RDP", 5985: "WinRM", 5986: "WinRM HTTPS"}


class _Episode:
    """An open alert and the distinct hosts it has counted (for ``targets_count``)."""

    __slots__ = ("seen", "state")

    def __init__(self, state: AlertState) -> None:
        self.state = state
        self.seen: set[str] = set()


class LateralMovementDetector:
    rule = RULE

    def __init__(
        self,
        index: SiteIndex,
        settings: LateralMovementSettings,
        book: AlertBook,
        hammered: set[tuple[str, int]] | None = None,
    ) -> None:
        self.book = book
        self.settings = settings
        self.quiet_period = settings.quiet_period
        self.window = settings.window
        self._medium = settings.medium_hosts
        self._high = settings.high_hosts
        self._max_sources = settings.max_sources
        self.ports = frozenset(settings.ports)
        self._hammered = hammered if hammered is not None else set()
        # (source, evidence) -> host -> (last time reached, port, attempts), oldest first
        self._sources: OrderedDict[tuple[str, str], OrderedDict[str, tuple[float, int, int]]] = OrderedDict()
        self._open: dict[tuple[str, str], _Episode] = {}
        self.evicted = 0
        self.exempted = 0
        self.use_index(index)

    def use_index(self, index: SiteIndex) -> None:
        self.index = index
        self.exempt = Exemptions.of_site(index.site)
        self._names = {**_PORT_NAMES, **{p.port: p.name for p in index.site.dangerous_ports if p.name}}

    # -- observations ----------------------------------------------------------------------------------------

    def on_attempt(self, obs: ConnectionAttempt) -> None:
        if obs.dst_port not in self.ports or obs.proto != "tcp":
            return  # nearly every attempt ends here: one set look-up
        if obs.action is None and obs.flags & (SYN | ACK) != SYN:
            return  # on the wire only a SYN starts a connection; a log line is one whatever its flags
        hammered = self._hammered
        if hammered and (obs.dst_ip, obs.dst_port) in hammered:
            return
        src, dst, ts = obs.src_ip, obs.dst_ip, obs.ts
        if src == dst:
            return
        if self.exempt and self.exempt.address(src) is not None:
            self.exempted += 1
            return
        key = (src, "packets" if obs.action is None else "firewall")
        targets = self._reach(key, dst, ts, obs.dst_port)
        episode = self._open.get(key)
        if episode is not None and self.book.get(RULE, episode.state.key) is not episode.state:
            del self._open[key]  # expired or evicted from the book: a new episode
            episode = None
        if episode is None:
            if len(targets) < self._medium:
                return
            episode = self._start(key, obs, targets)
        else:
            self._count(episode, obs, 1)
        self._rate(episode.state, len(targets))

    def _reach(self, key: tuple[str, str], dst: str, ts: float, port: int) -> OrderedDict[str, tuple[float, int, int]]:
        """Note that the source reached ``dst``; the hosts it reached within the window, oldest first."""
        sources = self._sources
        targets = sources.get(key)
        if targets is None:
            if len(sources) >= self._max_sources:
                sources.popitem(last=False)  # the least recently active source: O(1) under a spoofed storm
                self.evicted += 1
            targets = sources[key] = OrderedDict()
        else:
            sources.move_to_end(key)
        known = targets.get(dst)
        if known is not None:
            targets.move_to_end(dst)
            targets[dst] = (ts, port, known[2] + 1)
            return targets
        else:
            while targets and ts - next(iter(targets.values()))[0] > self.window:
                targets.popitem(last=False)
            if len(targets) >= _TARGETS_CAP:
                targets.popitem(last=False)
        targets[dst] = (ts, port, 1)
        return targets

    # -- alerts -----------------------------------------------------------------------------------------------

    def _start(
        self, key: tuple[str, str], obs: ConnectionAttempt, targets: OrderedDict[str, tuple[float, int, int]]
    ) -> _Episode:
        state, _ = self.book.open(
            RULE,
            f"{key[0]}|{key[1]}",
            obs.ts,
            severity=Severity.MEDIUM,
            quiet_period=self.quiet_period,
            src_mac=self.index.source_mac(obs.src_mac),
            src_ip=obs.src_ip,
            dst_ip=obs.dst_ip,
            dst_port=obs.dst_port,
        )
        state.details.setdefault("evidence", key[1])
        state.details.setdefault("window", self.window)
        episode = self._open[key] = _Episode(state)
        attempts = 0
        for host, (_, port, hits) in targets.items():  # the hosts reached within the window, this one last
            self._note_target(episode, host)
            self._note_port(state, port)
            attempts += hits
        state.first_seen = min(state.first_seen, next(iter(targets.values()))[0])
        self._count(episode, obs, attempts)
        return episode

    def _note_target(self, episode: _Episode, host: str) -> None:
        seen = episode.seen
        if host in seen:
            return
        d = episode.state.details
        if len(seen) < _TARGETS_CAP:
            seen.add(host)
        d["targets_count"] = d.get("targets_count", 0) + 1
        listed = d.get("targets")
        if not isinstance(listed, list):
            listed = d["targets"] = list(listed or ())
        if len(listed) < _LISTED and host not in listed:
            listed.append(host)

    def _count(self, episode: _Episode, obs: ConnectionAttempt, n: int) -> None:
        state = episode.state
        d = state.details
        self._note_target(episode, obs.dst_ip)
        self._note_port(state, obs.dst_port)
        actions = d.get("actions")
        if not isinstance(actions, dict):
            actions = d["actions"] = dict(actions or {})
        how = obs.action or "wire"
        actions[how] = actions.get(how, 0) + n
        if obs.device and not d.get("device"):
            d["device"] = obs.device
        state.dst_ip, state.dst_port = obs.dst_ip, obs.dst_port  # the latest target
        state.add(obs, obs.ts, n)

    def _note_port(self, state: AlertState, port: int) -> None:
        ports = state.details.get("port_names")
        if not isinstance(ports, dict):
            ports = state.details["port_names"] = dict(ports or {})
        text = str(port)
        if text not in ports and len(ports) < _LISTED:
            ports[text] = self._names.get(port, "")

    def _rate(self, state: AlertState, in_window: int) -> None:
        d = state.details
        if in_window > d.get("peak_hosts", 0):
            d["peak_hosts"] = in_window
        if in_window >= self._high and state.severity < Severity.HIGH:
            state.severity = Severity.HIGH

    def tick(self, now: float) -> None:
        """Forget the episodes the book has closed (quiet for the quiet period, or evicted)."""
        if self._open:
            book = self.book
            for key in [k for k, e in self._open.items() if book.get(RULE, e.state.key) is not e.state]:
                del self._open[key]
