"""The hosts registered as reaching many computers by their work (``exempt_hosts`` and segments with an exempting
role): which address, computer name or account belongs to one of them. Shared by both lateral-movement detectors."""

from __future__ import annotations

import ipaddress

from mamori.model import ExemptHost, Site

__all__ = ["Exemptions"]

_CACHE_MAX = 65536


class Exemptions:
    """Looks addresses up in the registered networks (cached per address text, bounded), computer names and accounts
    in sets. ``who(ip)`` names the host an address belongs to, for the record."""

    def __init__(self, hosts: tuple[ExemptHost, ...] = ()) -> None:
        self.hosts = hosts
        self._networks = [
            (ipaddress.ip_network(network, strict=False), host) for host in hosts for network in host.networks
        ]
        self._computers = {computer: host for host in hosts for computer in host.computers}
        self._accounts = {account: host for host in hosts for account in host.accounts}
        self._cache: dict[str, ExemptHost | None] = {}

    @classmethod
    def of_site(cls, site: Site | None) -> Exemptions:
        return cls(site.exempt_hosts if site is not None else ())

    def __bool__(self) -> bool:
        return bool(self.hosts)

    def address(self, ip: str) -> ExemptHost | None:
        cache = self._cache
        if ip in cache:
            return cache[ip]
        found = None
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            address = None
        if address is not None:
            for network, host in self._networks:
                if address.version == network.version and address in network:
                    found = host
                    break
        if len(cache) >= _CACHE_MAX:
            cache.clear()  # a spoofed storm of sources: start again rather than grow
        cache[ip] = found
        return found

    def computer(self, name: str) -> ExemptHost | None:
        return self._computers.get(name.split(".", 1)[0].upper()) if self._computers else None

    def account(self, name: str) -> ExemptHost | None:
        if not self._accounts:
            return None
        return self._accounts.get(name.rsplit("\\", 1)[-1].split("@", 1)[0].lower())
