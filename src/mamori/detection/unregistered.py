"""``unregistered-terminal``: a connection attempt to a department server's service port from a terminal that is not
registered for that system (the Toyama design, JAMI 2017; checklist item 2-⑬ 接続元制限).

- On the segment, the source MAC decides: an unknown MAC is a stranger; a registered MAC with an IP other than its
  registered one is a mismatch (a moved, cloned or impersonating terminal).
- Through a router (the source MAC is a configured gateway) or from a firewall log (no MAC), the MAC is not the
  terminal's, so the check falls back to the registered IPs and the alert says so (``via_gateway``).
One alert per (source, system), updated while the source keeps trying.
"""

from __future__ import annotations

from collections import OrderedDict

from mamori.config import UnregisteredTerminalSettings
from mamori.detection.book import AlertBook, AlertState
from mamori.detection.site_index import SiteIndex
from mamori.model import ACK, SYN, ConnectionAttempt

__all__ = ["RULE", "UnregisteredTerminalDetector"]

RULE = "unregistered-terminal"
_LIST_CAP = 64  # source IPs and ports listed in an alert's details
_SYN_ACK = SYN | ACK


class UnregisteredTerminalDetector:
    rule = RULE

    def __init__(self, index: SiteIndex, settings: UnregisteredTerminalSettings, book: AlertBook) -> None:
        self.settings = settings
        self.book = book
        self.quiet_period = settings.quiet_period
        self._ongoing: OrderedDict[tuple[str, str], AlertState] = OrderedDict()
        self._ongoing_cap = 4096
        self.use_index(index)

    def use_index(self, index: SiteIndex) -> None:
        """Judge by a new site model (terminals registered or retired while running)."""
        self.index = index
        self._services = index.tcp_services
        self._udp_services = index.udp_services
        self._allowed = index.allowed
        self._gateway_macs = index.gateway_macs
        self._ongoing.clear()  # a source judged a stranger before may be registered now

    def on_attempt(self, obs: ConnectionAttempt) -> None:
        if obs.proto == "tcp":
            if obs.flags & _SYN_ACK != SYN and obs.action is None:
                return  # on the wire only a SYN opens a connection; log lines are attempts whatever their flags
            system = self._services.get((obs.dst_ip, obs.dst_port))
        else:
            system = self._udp_services.get((obs.dst_ip, obs.dst_port))
        if system is None:
            return
        name = system.name
        mac = obs.src_mac
        allowed = self._allowed
        if mac is not None and ((mac, obs.src_ip, name) in allowed or (mac, "", name) in allowed):
            return
        # An ongoing alert for this source: update it without judging again (a flood, possibly with spoofed IPs).
        cache_key = (mac, name) if mac is not None and mac not in self._gateway_macs else (obs.src_ip, name)
        state = self._ongoing.get(cache_key)
        if (
            state is not None
            and obs.ts - state.last_seen <= self.quiet_period
            and self.book.get(RULE, state.key) is state
        ):
            self._update(state, obs)
            return
        judged = self._judge(obs, name)
        if judged is None:
            return
        key, details = judged
        state, created = self.book.open(
            RULE,
            key,
            obs.ts,
            severity=system.severity,
            quiet_period=self.quiet_period,
            src_mac=self.index.source_mac(mac),
            src_ip=obs.src_ip,
            dst_ip=obs.dst_ip,
            dst_port=obs.dst_port,
            system=name,
        )
        if created:
            state.details.update(details)
            state.details["source_ips"] = [obs.src_ip]
            state.details["ports"] = [obs.dst_port]
            if obs.device:
                state.details["device"] = obs.device
            state.add(obs, obs.ts)
        else:
            self._update(state, obs)
        if len(self._ongoing) >= self._ongoing_cap:
            self._ongoing.popitem(last=False)
        self._ongoing[cache_key] = state

    @staticmethod
    def _update(state: AlertState, obs: ConnectionAttempt) -> None:
        details = state.details
        ips = details.get("source_ips")
        if ips is None:
            ips = details["source_ips"] = []
        if len(ips) < _LIST_CAP and obs.src_ip not in ips:
            ips.append(obs.src_ip)
        ports = details.get("ports")
        if ports is None:
            ports = details["ports"] = []
        if len(ports) < _LIST_CAP and obs.dst_port not in ports:
            ports.append(obs.dst_port)
        state.add(obs, obs.ts)

    def _judge(self, obs: ConnectionAttempt, system: str) -> tuple[str, dict[str, object]] | None:
        """Why this source is not allowed (alert key and details), or None if it is allowed after all."""
        mac = obs.src_mac
        gateway = self.index.gateway_macs.get(mac) if mac is not None else None
        if mac is None or gateway is not None:
            if obs.src_ip in self.index.ips[system]:
                return None
            return f"ip={obs.src_ip}|system={system}", {
                "reason": "unregistered-ip",
                "via_gateway": gateway is not None,
                "gateway": gateway.name if gateway else None,
                "gateway_mac": gateway.mac if gateway else None,
                "checked_by": "ip",
            }
        terminal = self.index.macs[system].get(mac)
        if terminal is None:
            return f"mac={mac}|system={system}", {"reason": "unregistered-mac", "via_gateway": False}
        return f"mac={mac}|system={system}", {
            "reason": "ip-mismatch",
            "via_gateway": False,
            "terminal": terminal.name,
            "registered_ip": terminal.ip,
        }
