"""``ip-mac-conflict``: ARP that binds a registered IP to another MAC (ARP spoofing, threat T12 of the
HEASNET report, 2007), and IP-MAC bindings that flip back and forth.

arpwatch trusts the first binding it sees; mamori trusts the registered one: the site model's terminals (with an
IP), servers (with a MAC) and gateways. Any ARP request, reply or gratuitous announcement whose sender claims a
registered IP with a different MAC raises an alert (critical for a server or gateway, whose traffic an attacker in
the middle would intercept). For unregistered IPs the first binding is learned, and a flip-flop (the MAC changes
and changes back within ``flip_flop_window``) raises a medium alert: two hosts fighting over one address.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from mamori.config import IpMacConflictSettings
from mamori.detection.book import AlertBook
from mamori.detection.site_index import SiteIndex
from mamori.model import ArpObservation, Severity

__all__ = ["RULE", "IpMacConflictDetector"]

RULE = "ip-mac-conflict"
_UNSPECIFIED = "0.0.0.0"  # noqa: S104 - the sender address of an ARP probe, not a socket binding
_ROLE_JA = {"server": "サーバ", "gateway": "ルータ", "terminal": "正規端末"}


@dataclass(slots=True, eq=False)
class _Learned:
    mac: str
    since: float
    changes: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=8))


class IpMacConflictDetector:
    rule = RULE

    def __init__(self, index: SiteIndex, settings: IpMacConflictSettings, book: AlertBook) -> None:
        self.index = index
        self.settings = settings
        self.book = book
        self.quiet_period = settings.quiet_period
        self._bindings = index.bindings
        self._learned: OrderedDict[str, _Learned] = OrderedDict()

    def use_index(self, index: SiteIndex) -> None:
        self.index = index
        self._bindings = index.bindings

    def on_arp(self, obs: ArpObservation) -> None:
        ip = obs.sender_ip
        mac = obs.sender_mac
        if ip == _UNSPECIFIED or mac in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"):
            return  # ARP probes (RFC 5227) claim nothing
        binding = self._bindings.get(ip)
        if binding is not None:
            if mac != binding.mac:
                self._registered_conflict(obs, binding.role, binding.name, binding.mac, binding.system)
            return
        learned = self._learned.get(ip)
        if learned is None:
            if len(self._learned) >= self.settings.max_learned:
                self._learned.popitem(last=False)
            self._learned[ip] = _Learned(mac, obs.ts)
            return
        if learned.mac == mac:
            return
        if ip in self.index.servers:
            # A protected server whose MAC the site file does not give: its first binding stands in for one.
            systems = self.index.servers[ip]
            self._registered_conflict(obs, "server", ip, learned.mac, systems[0].name, learned=True)
            return
        previous = learned.mac
        learned.changes.append((obs.ts, previous))
        learned.mac = mac
        learned.since = obs.ts
        horizon = obs.ts - self.settings.flip_flop_window
        if any(ts >= horizon and old == mac for ts, old in learned.changes):
            self._flip_flop(obs, previous, learned)

    def _registered_conflict(
        self, obs: ArpObservation, role: str, name: str, registered: str, system: str | None, *, learned: bool = False
    ) -> None:
        state, created = self.book.open(
            RULE,
            f"ip={obs.sender_ip}|mac={obs.sender_mac}",
            obs.ts,
            severity=Severity.HIGH if role == "terminal" else Severity.CRITICAL,
            quiet_period=self.quiet_period,
            src_mac=obs.sender_mac,
            src_ip=obs.sender_ip,
            system=system,
        )
        d = state.details
        if created:
            d.update(reason="registered-binding", role=role, name=name, registered_mac=registered)
            d.update(claimed_mac=obs.sender_mac, registered_mac_learned=learned)
            d.update(replies=0, requests=0, gratuitous=0)
        if obs.gratuitous:
            d["gratuitous"] += 1
        elif obs.op == 2:
            d["replies"] += 1
        else:
            d["requests"] += 1
        if obs.eth_src and obs.eth_src != obs.sender_mac:
            d["ethernet_source"] = obs.eth_src  # the frame came from yet another MAC
        state.add(obs, obs.ts)

    def _flip_flop(self, obs: ArpObservation, previous: str, learned: _Learned) -> None:
        state, created = self.book.open(
            RULE,
            f"ip={obs.sender_ip}|flip-flop",
            obs.ts,
            severity=Severity.MEDIUM,
            quiet_period=self.settings.flip_flop_window,
            src_mac=obs.sender_mac,
            src_ip=obs.sender_ip,
        )
        d = state.details
        if created:
            d.update(reason="flip-flop", macs=[])
        for mac in (previous, obs.sender_mac):
            if mac not in d["macs"]:
                d["macs"].append(mac)
        state.add(obs, obs.ts)
