"""The site model turned into the lookup tables the detectors need per packet."""

from __future__ import annotations

from dataclasses import dataclass

from mamori.model import DepartmentSystem, Site, Terminal

__all__ = ["Binding", "SiteIndex"]


@dataclass(frozen=True)
class Binding:
    """A registered IP-to-MAC binding and what it belongs to (a terminal, a server or a gateway)."""

    ip: str
    mac: str
    role: str  # "terminal" | "server" | "gateway"
    name: str
    system: str | None


class SiteIndex:
    def __init__(self, site: Site) -> None:
        self.site = site
        # (server ip, port) -> system, per protocol
        self.tcp_services: dict[tuple[str, int], DepartmentSystem] = {}
        self.udp_services: dict[tuple[str, int], DepartmentSystem] = {}
        self.servers: dict[str, list[DepartmentSystem]] = {}
        # per system: registered MAC -> terminal; registered IP -> terminal
        self.macs: dict[str, dict[str, Terminal]] = {}
        self.ips: dict[str, dict[str, Terminal]] = {}
        # (mac, ip, system) triples that are fine, for the per-SYN fast path; ip "" means any IP
        self.allowed: set[tuple[str, str, str]] = set()
        self.gateway_macs = {g.mac: g for g in site.gateways}
        self.bindings: dict[str, Binding] = {}
        for gateway in site.gateways:
            if gateway.ip:
                self.bindings[gateway.ip] = Binding(gateway.ip, gateway.mac, "gateway", gateway.name, None)
        for system in site.systems:
            self.macs[system.name] = {t.mac: t for t in system.terminals}
            self.ips[system.name] = {t.ip: t for t in system.terminals if t.ip}
            for terminal in system.terminals:
                self.allowed.add((terminal.mac, terminal.ip or "", system.name))
                if terminal.ip:
                    self.bindings.setdefault(
                        terminal.ip, Binding(terminal.ip, terminal.mac, "terminal", terminal.name, system.name)
                    )
            for server in system.servers:
                self.servers.setdefault(server.ip, []).append(system)
                for port in system.ports:
                    self.tcp_services[(server.ip, port)] = system
                for port in system.udp_ports:
                    self.udp_services[(server.ip, port)] = system
                if server.mac:
                    self.bindings[server.ip] = Binding(
                        server.ip, server.mac, "server", server.name or server.ip, system.name
                    )

    def source_mac(self, mac: str | None) -> str | None:
        """The MAC an alert may attribute to its source: not a router's, whose MAC every routed packet carries
        (a script that shuts the source's switch port must never be handed the router's MAC)."""
        return None if mac is None or mac in self.gateway_macs else mac

    def is_server(self, ip: str) -> bool:
        return ip in self.servers

    def system_of_server(self, ip: str) -> str | None:
        systems = self.servers.get(ip)
        return systems[0].name if systems else None
