"""The LAN-threat detectors wired to capture and storage: what the kernel filter and the decoder must let through
for them, the installation's salt, and where logins seen in clear text are recorded (docs/design.md §10)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mamori.capture.bpf import payload_clauses
from mamori.capture.decode import PayloadWatch
from mamori.config import Settings
from mamori.detection.cleartext import both_ways_ports, protocol_ports
from mamori.detection.resets import followed_ports
from mamori.detection.site_index import SiteIndex
from mamori.errors import StorageError
from mamori.model import CleartextLogin

if TYPE_CHECKING:  # the store is opened by the caller; analyze --no-store never loads Django
    from mamori.storage import AlertWriter, Store

__all__ = ["CapturePlan", "StoredLogins", "capture_plan", "lan_storage"]

log = logging.getLogger(__name__)

# Bytes of a packet's payload the decoder keeps: an HTTP request's headers, an NTLM AUTHENTICATE message.
_MAX_PAYLOAD = 1024
# The live capture's snapshot length when payloads are read: headers (up to 802.1Q + IPv6 + TCP with options) and
# the payload kept.
PAYLOAD_SNAPLEN = _MAX_PAYLOAD + 160


@dataclass(frozen=True)
class CapturePlan:
    """The filter's extra parts and the decoder's watch for the detectors that read packets' contents."""

    clauses: tuple[str, ...] = ()
    watch: PayloadWatch | None = None

    @property
    def reads_payloads(self) -> bool:
        return self.watch is not None and bool(self.watch.tcp_ports or self.watch.udp_ports)


def capture_plan(settings: Settings) -> CapturePlan:
    """Only what the switched-on detectors need: nothing at all by default (cleartext and resets are off; DHCP and
    router advertisements only when a segment lists its servers)."""
    d = settings.detection
    site = settings.site
    tcp: dict[int, str] = {}
    udp: dict[int, str] = {}
    both: Sequence[int] = ()
    if d.cleartext.enabled:
        tcp, udp = protocol_ports(d.cleartext)
        both = both_ways_ports(d.cleartext)
    dhcp = d.rogue_dhcp.enabled and any(s.dhcp_servers is not None for s in site.segments)
    ra = d.rogue_ra.enabled and any(s.routers_v6 is not None for s in site.segments)
    followed = followed_ports(SiteIndex(site), d.tcp_reset_injection) if d.tcp_reset_injection.enabled else ()
    if not (tcp or udp or dhcp or ra or followed):
        return CapturePlan()
    clauses = payload_clauses(
        both_ways=both,
        http=[p for p, proto in tcp.items() if proto == "http" and p not in both],
        smb=[p for p, proto in tcp.items() if proto == "ntlm" and p not in both],
        udp_to_server=list(udp),
        udp_from_server=[67] if dhcp else [],
        router_adverts=ra,
        followed=followed,
        sample_bits=d.tcp_reset_injection.sample_bits,
        networks=d.cleartext.networks,
    )
    watch = PayloadWatch(
        tcp_ports=frozenset(tcp),
        flow_ports=frozenset(followed),
        udp_ports=frozenset(udp) | (frozenset({67}) if dhcp else frozenset()),
        router_adverts=ra,
        max_payload=_MAX_PAYLOAD,
    )
    return CapturePlan(tuple(clauses), watch)


class StoredLogins:
    """The cleartext detector's :class:`~mamori.detection.cleartext.LoginSink`."""

    def __init__(self, store: Store, writer: AlertWriter | None, origin: str = "sensor") -> None:
        self.store = store
        self.writer = writer
        self.origin = origin

    def logins(self, logins: list[CleartextLogin]) -> None:
        if self.writer is not None:
            self.writer.submit_logins(logins)
            return
        from mamori.storage.lan import CleartextLoginTable

        try:
            CleartextLoginTable(self.store).save(logins, origin=self.origin)
        except StorageError as exc:
            log.error("%s", exc)


def lan_storage(
    settings: Settings, store: Store | None, writer: AlertWriter | None
) -> tuple[bytes | None, StoredLogins | None]:
    """(the installation's salt, the login sink) when the cleartext rule runs with a store; else (None, None): a
    run without a store tags passwords with a salt of its own."""
    if store is None or not settings.detection.cleartext.enabled:
        return None, None
    from mamori.storage.lan import installation_salt

    try:
        return installation_salt(store), StoredLogins(store, writer)
    except StorageError as exc:
        log.error("%s (password tags use a salt for this run only)", exc)
        return None, StoredLogins(store, writer)
