"""``syn-flood``: many SYNs to one server within a window, most of which never become a connection.

Per server and window the detector counts SYNs, the server's SYN-ACKs, and resets that refuse them (the client
resetting the server's SYN-ACK, as a raw-socket flooder's kernel does, or the server resetting a closed port).
A handshake counts as completed when the server answered with a SYN-ACK that the client did not reset. The flood is
raised when a window holds at least ``min_syns`` SYNs and either

- the share of SYNs without a completed handshake reaches ``incomplete_ratio``, or
- the SYNs come from distinct one-shot source addresses (``spoofed_source_ratio``): random spoofed sources, which a
  server may well answer (SYN cookies) while no real client exists behind them.

A port scan is not a flood: the SYNs must hammer few ports (``min_syns_per_port`` on average), where a scan
touches each port once or twice. Every SYN of the flood is counted: those of the window that raised it and every
one after, until a window passes without a flood. State is per server (at most ``max_servers``), never per flow,
so a spoofed storm cannot grow it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from mamori.config import SynFloodSettings
from mamori.detection.book import AlertBook, AlertState
from mamori.detection.site_index import SiteIndex
from mamori.model import ACK, SYN, ConnectionAttempt, PortResponse, Severity

__all__ = ["RULE", "SynFloodDetector"]

RULE = "syn-flood"
_RATE_SPAN_MASK = 255  # the peak rate is measured over spans of 256 SYNs
_SOURCE_CAP_FACTOR = 4  # distinct sources remembered per window, relative to min_syns
_SYN_ACK = SYN | ACK


@dataclass(slots=True, eq=False)
class _Window:
    start: float
    syns: int = 0
    synacks: int = 0
    refused: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)
    first_samples: list[ConnectionAttempt] = field(default_factory=list)
    state: AlertState | None = None  # the open alert while this window floods
    raised: bool = False  # this window raised the alert (its SYNs count at once)
    pending: int = 0  # SYNs of a continuing window, counted when it proves to flood too
    pending_last: float = 0.0
    pending_samples: list[ConnectionAttempt] = field(default_factory=list)
    rate_mark: float = 0.0  # time of the last 256th SYN, for the peak rate
    peak_rate: float = 0.0


class SynFloodDetector:
    rule = RULE
    response_kinds = frozenset({"synack", "rst", "rstack"})  # the answers on_response reads

    def __init__(
        self,
        index: SiteIndex,
        settings: SynFloodSettings,
        book: AlertBook,
        hammered: set[tuple[str, int]] | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.book = book
        self.window = settings.window
        self.quiet_period = settings.window * 2
        self._servers: OrderedDict[str, _Window] = OrderedDict()
        self._source_cap = settings.min_syns * _SOURCE_CAP_FACTOR
        self._min_syns = settings.min_syns
        # (server, port) pairs under a flood right now, shared with the scan detector (which leaves their SYNs to the
        # flood: a spoofed flood would otherwise make scan state for every forged source).
        self.hammered: set[tuple[str, int]] = hammered if hammered is not None else set()

    def _window_for(self, server: str, ts: float) -> _Window:
        win = self._servers.get(server)
        if win is None:
            if len(self._servers) >= self.settings.max_servers:
                self._servers.popitem(last=False)
            win = self._servers[server] = _Window(ts)
        elif ts - win.start >= self.window:
            # A new window. The flood goes on (same alert) while each window still floods; a window that does not
            # ends it, and its SYNs, held back until then, are not counted as the flood's.
            state = win.state
            if state is not None and win.raised:
                self._describe(state, win, state.last_seen)
            if state is not None and (win.raised or self._settle(win)):
                state = state if self.book.get(RULE, state.key) is state else None
            else:
                state = None
            if state is None and win.state is not None:
                self._unhammer(server)
            win = self._servers[server] = _Window(ts, state=state)
        return win

    def _unhammer(self, server: str) -> None:
        for pair in [p for p in self.hammered if p[0] == server]:
            self.hammered.discard(pair)

    def _settle(self, win: _Window) -> bool:
        """Count a continuing window's held-back SYNs into the alert if the window flooded (or, for the tail of
        a flood, kept the flood's rate). Returns whether it did."""
        state = win.state
        if state is None or not win.pending:
            return False
        span = max(win.pending_last - win.start, 1e-3)
        tail = win.pending >= 10 and win.pending / span >= self.settings.min_syns / self.window
        if not (self._is_flood(win) or tail):
            return False
        for sample in win.pending_samples:
            state.add(sample, sample.ts, 0)
        state.add(win.pending_samples[-1], win.pending_last, win.pending)
        self._describe(state, win, win.pending_last)
        win.pending = 0
        win.pending_samples.clear()
        return True

    def use_index(self, index: SiteIndex) -> None:
        self.index = index

    def on_attempt(self, obs: ConnectionAttempt) -> None:
        if obs.flags & _SYN_ACK != SYN or obs.proto != "tcp" or obs.action is not None:
            return
        ts = obs.ts
        win = self._servers.get(obs.dst_ip)
        if win is None or ts - win.start >= self.window:
            win = self._window_for(obs.dst_ip, ts)
        # Count the SYN into its window: total, the peak rate, sources (capped) and ports (capped).
        syns = win.syns = win.syns + 1
        if not syns & _RATE_SPAN_MASK:  # every 256th SYN: the pace of the last 256
            if win.rate_mark and ts > win.rate_mark:
                win.peak_rate = max(win.peak_rate, (_RATE_SPAN_MASK + 1) / (ts - win.rate_mark))
            win.rate_mark = ts
        sources, src = win.sources, obs.src_ip
        if src in sources:
            sources[src] += 1
        elif len(sources) < self._source_cap:
            sources[src] = 1
        ports, port = win.ports, obs.dst_port
        if port in ports:
            ports[port] += 1
        elif len(ports) < 64:
            ports[port] = 1
        state = win.state
        if state is not None:
            self._count_flooding(win, state, obs)
            return
        if len(win.first_samples) < 5:
            win.first_samples.append(obs)
        min_syns = self._min_syns
        if syns >= min_syns and (syns == min_syns or syns % 64 == 0) and self._is_flood(win):
            self._raise(obs, win)

    @staticmethod
    def _count_flooding(win: _Window, state: AlertState, obs: ConnectionAttempt) -> None:
        if win.raised:
            state.add(obs, obs.ts)  # the window that raised the flood: every SYN counts at once
            return
        win.pending += 1  # a later window: counted once it proves to flood too
        win.pending_last = obs.ts
        if len(win.pending_samples) >= 5:
            win.pending_samples.pop(0)
        win.pending_samples.append(obs)

    def on_response(self, obs: PortResponse) -> None:
        if obs.proto != "tcp":
            return
        if obs.kind == "synack":
            win = self._servers.get(obs.src_ip)
            if win is not None:
                win.synacks += 1
        elif obs.kind == "rst":
            win = self._servers.get(obs.dst_ip)  # the client resets the server's SYN-ACK
            if win is not None:
                win.refused += 1
        elif obs.kind == "rstack":
            win = self._servers.get(obs.src_ip)  # the server refuses: closed port
            if win is not None:
                win.refused += 1

    def _is_flood(self, win: _Window) -> bool:
        if win.syns < self.settings.min_syns:
            return False
        # The first 64 ports of the window are tracked: a scan spreads one or two SYNs over each of them.
        if sum(win.ports.values()) < self.settings.min_syns_per_port * len(win.ports):
            return False
        completed = max(0, win.synacks - win.refused)
        incomplete = 1.0 - min(1.0, completed / win.syns)
        if incomplete >= self.settings.incomplete_ratio:
            return True
        one_shot = sum(1 for n in win.sources.values() if n == 1)
        return one_shot / win.syns >= self.settings.spoofed_source_ratio

    def _raise(self, obs: ConnectionAttempt, win: _Window) -> None:
        state, _created = self.book.open(
            RULE,
            f"dst={obs.dst_ip}",
            win.start,
            severity=Severity.HIGH,
            quiet_period=self.quiet_period,
            src_mac=self.index.source_mac(obs.src_mac),
            src_ip=obs.src_ip,
            dst_ip=obs.dst_ip,
            dst_port=obs.dst_port,
            system=self.index.system_of_server(obs.dst_ip),
        )
        for sample in win.first_samples:
            if sample is not obs:
                state.add(sample, sample.ts, 0)
        state.add(obs, obs.ts, win.syns)  # every SYN of the window so far, this one included
        self._describe(state, win, obs.ts)
        win.state = state
        win.raised = True
        per_port = self.settings.min_syns_per_port
        self.hammered.update((obs.dst_ip, port) for port, n in win.ports.items() if n >= per_port)

    def _describe(self, state: AlertState, win: _Window, ts: float) -> None:
        d = state.details
        # SYNs per second: the fastest pace over 256 consecutive SYNs, or the window's average if that is higher
        rate = max(win.peak_rate, win.syns / max(ts - win.start, 1.0))
        completed = max(0, win.synacks - win.refused)
        d["peak_rate"] = max(d.get("peak_rate", 0.0), round(rate, 1))
        d["incomplete_ratio"] = round(1.0 - min(1.0, completed / max(1, win.syns)), 3)
        d["distinct_sources"] = max(d.get("distinct_sources", 0), len(win.sources))
        one_shot = sum(1 for n in win.sources.values() if n == 1)
        d["spoofed_sources"] = d.get("spoofed_sources", False) or (
            one_shot / max(1, win.syns) >= self.settings.spoofed_source_ratio
        )
        d["ports"] = sorted(set(d.get("ports", ())) | set(win.ports))
        macs = {o.src_mac for o in (*state.first_samples, *state.last_samples) if o.src_mac}
        d["source_macs"] = sorted(macs | set(d.get("source_macs", ())))
        d["top_sources"] = [ip for ip, _ in sorted(win.sources.items(), key=lambda kv: -kv[1])[:10]]
        d["handshakes_answered"] = win.synacks
        d["handshakes_refused"] = win.refused

    def tick(self, now: float) -> None:
        """Close windows that ended without traffic, so an idle server's flood episode can end."""
        for server, win in list(self._servers.items()):
            if now - win.start >= self.window * 2:
                del self._servers[server]
                self._unhammer(server)

    def refresh(self) -> None:
        """Bring every ongoing flood up to date (before alerts are collected): settle continuing windows that
        already flood, and refresh the figures."""
        for server, win in self._servers.items():
            state = win.state
            if state is None or self.book.get(RULE, f"dst={server}") is not state:
                continue
            if win.pending and self._settle(win):
                continue
            if state.dirty:
                self._describe(state, win, state.last_seen)

    def finish(self) -> None:
        """The end of a capture: the tail of an ongoing flood still counts if it kept the flood's rate."""
        for win in self._servers.values():
            if win.pending:
                self._settle(win)
