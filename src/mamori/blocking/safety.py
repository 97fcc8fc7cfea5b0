"""The safety rules every block passes first: never a registered terminal, a server, a gateway or a medical device,
and only for the rules and severities the site allows. Pure functions of the site model."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mamori.model import Segment, Severity, Site

__all__ = ["Refusal", "SiteFacts", "refusal"]


@dataclass(frozen=True)
class Refusal:
    code: str  # a key of mamori.blocking.records.REASONS
    detail: str = ""


class SiteFacts:
    """The site's protected devices, indexed once per site (the site changes when a terminal is registered)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.registered = {t.mac for s in site.systems for t in s.terminals if t.mac}
        self.server_macs = {v.mac for s in site.systems for v in s.servers if v.mac}
        self.server_ips = {v.ip for s in site.systems for v in s.servers}
        self.gateway_macs = {g.mac for g in site.gateways}
        self.gateway_ips = {g.ip for g in site.gateways if g.ip}
        self._segments = [(seg, [ipaddress.ip_network(c, strict=False) for c in seg.cidrs]) for seg in site.segments]

    def protected_mac(self, mac: str) -> str | None:
        """The reason code when ``mac`` may never be cut off."""
        if mac in self.registered:
            return "registered"
        if mac in self.server_macs or mac in self.gateway_macs:
            return "server-or-gateway"
        return None

    def segment_of(self, ip: str | None) -> Segment | None:
        if not ip:
            return None
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        best: tuple[int, Segment] | None = None
        for seg, nets in self._segments:
            for net in nets:
                if address.version == net.version and address in net and (best is None or net.prefixlen > best[0]):
                    best = (net.prefixlen, seg)
        return best[1] if best else None

    def medical(self, ip: str | None) -> bool:
        seg = self.segment_of(ip)
        return seg is not None and seg.zone == "medical"


def refusal(facts: SiteFacts, rule: str, severity: Severity, mac: str | None, ip: str | None) -> Refusal | None:
    """Why this device must not be blocked for this alert, or None when the safety rules allow it."""
    if not facts.site.blocking.allows(rule, severity):
        return Refusal("not-allowed", f"{rule} {severity.label}")
    if not mac:
        return Refusal("no-mac")
    raw = bytes.fromhex(mac.replace(":", ""))
    if len(raw) != 6 or raw[0] & 1:
        return Refusal("no-mac", mac)
    code = facts.protected_mac(mac)
    if code:
        return Refusal(code, mac)
    if ip and (ip in facts.server_ips or ip in facts.gateway_ips):
        return Refusal("server-or-gateway", ip)
    if facts.medical(ip):
        seg = facts.segment_of(ip)
        return Refusal("medical", seg.name if seg else "")
    return None
