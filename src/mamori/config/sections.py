"""The daemon settings sections: storage, capture, detection thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from mamori.config.central import PostgresSettings
from mamori.config.lateral import LateralMovementSettings
from mamori.config.values import Duration, Ip, Port, Strict, Zone
from mamori.config.zones import Network

__all__ = [
    "CaptureSettings",
    "CleartextSettings",
    "DetectionSettings",
    "ExposureSettings",
    "IncidentSettings",
    "IpMacConflictSettings",
    "LateralMovementSettings",
    "NewPathSettings",
    "PortScanSettings",
    "RemoteMaintenanceSettings",
    "ResetInjectionSettings",
    "RogueDhcpSettings",
    "RogueRaSettings",
    "StorageSettings",
    "SynFloodSettings",
    "UnregisteredTerminalSettings",
    "ZonePolicySettings",
]


class StorageSettings(Strict):
    path: Path | None = Field(None, description="SQLite database file; default: mamori.db in the data directory")
    batch_interval: Duration = Field(1.0, description="seconds between batched writes")
    postgresql: PostgresSettings | None = Field(
        None, description="a PostgreSQL database instead of the SQLite file (the central server)"
    )


class CaptureSettings(Strict):
    interfaces: tuple[str, ...] = ()
    snaplen: int = Field(256, ge=64, le=65535)
    buffer_mb: int = Field(64, ge=1, le=4096, description="kernel capture buffer per interface")
    promiscuous: bool = True
    udp: bool = Field(True, description="capture empty UDP probes and ICMP port-unreachable answers")
    ipv6: bool = True
    vlan: bool = Field(True, description="also match frames carrying one 802.1Q tag (mirror ports)")
    log_timezone: Zone | None = Field(
        None, description="time zone of packet logs without one (Packet Police): e.g. Asia/Tokyo; default: local"
    )

    @field_validator("interfaces", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


class UnregisteredTerminalSettings(Strict):
    enabled: bool = True
    quiet_period: Duration = Field(3600.0, description="after this much silence a returning stranger is a new alert")


class PortScanSettings(Strict):
    enabled: bool = True
    window: Duration = Field(300.0, gt=0, description="sliding window for counting distinct ports or hosts")
    vertical_ports: int = Field(20, ge=2, description="distinct ports on one host within the window")
    horizontal_hosts: int = Field(20, ge=2, description="distinct hosts on one port within the window")
    exempt_sources: tuple[Ip, ...] = Field((), description="authorised scanners (vulnerability scanner, monitoring)")
    max_tracked: int = Field(50_000, ge=100, description="pairs tracked at once; the oldest are evicted")


class SynFloodSettings(Strict):
    enabled: bool = True
    window: Duration = Field(5.0, gt=0)
    min_syns: int = Field(500, ge=10, description="SYNs to one server within the window before judging")
    incomplete_ratio: float = Field(0.5, ge=0, le=1, description="share of SYNs without a completed handshake")
    min_syns_per_port: float = Field(
        10.0, ge=1, description="average SYNs per targeted port: a flood hammers few ports, a scan touches each once"
    )
    spoofed_source_ratio: float = Field(
        0.8, ge=0, le=1, description="share of SYNs from distinct one-shot sources that means spoofed sources"
    )
    max_servers: int = Field(10_000, ge=10)


class IpMacConflictSettings(Strict):
    enabled: bool = True
    flip_flop_window: Duration = Field(3600.0, gt=0, description="A->B->A changes within this time are a flip-flop")
    max_learned: int = Field(100_000, ge=100, description="unregistered IP-MAC bindings remembered")
    quiet_period: Duration = 3600.0


class ZonePolicySettings(Strict):
    enabled: bool = True
    quiet_period: Duration = Field(3600.0, description="after this much silence the same forbidden flow is a new alert")
    max_sources: int = Field(
        32, ge=1, description="sources with their own alert per pair of segments and rule; more are gathered in one"
    )


class NewPathSettings(Strict):
    enabled: bool = True
    learning_period: Duration = Field(
        14 * 86400.0, description="paths seen in this time from the first one are learned, not reported"
    )
    quiet_period: Duration = 3600.0
    max_paths: int = Field(1_000_000, ge=100, description="known paths remembered; the longest unseen go first")


class ExposureSettings(Strict):
    enabled: bool = True
    passive: bool = Field(True, description="record services seen answering (SYN-ACK) and judge them")
    quiet_period: Duration = Field(
        3600.0, description="passive: after this much silence a host's next finding is a new alert"
    )
    max_services: int = Field(
        100_000, ge=100, description="services seen answering remembered; the longest unseen go first"
    )


class RemoteMaintenanceSettings(Strict):
    enabled: bool = True
    idle: Duration = Field(
        1800.0, gt=0, description="a vendor's connections this long apart are two sessions (and two alerts)"
    )
    max_sessions: int = Field(4096, ge=16, description="sessions followed at once; the longest idle is let go")


class IncidentSettings(Strict):
    """How alerts are grouped into incidents (mamori.incidents; docs/design.md §10)."""

    enabled: bool = True
    span: Duration = Field(
        7200.0,
        ge=60,
        le=7 * 86400,
        description="an alert joins an incident whose alerts came at most this long before or after it",
    )
    max_open: int = Field(10_000, ge=100, description="incidents kept in memory to join; the longest quiet go first")
    max_keys: int = Field(64, ge=4, le=10_000, description="addresses, computers and accounts kept per incident")


class CleartextSettings(Strict):
    """``cleartext-credentials``: logins sent in clear text. Off unless asked for: it widens the kernel filter to
    these protocols' ports (docs/design.md §10, "LAN threats")."""

    enabled: bool = False
    protocols: tuple[Literal["ftp", "telnet", "http", "pop3", "imap", "snmp", "ldap", "ntlm"], ...] = (
        "ftp",
        "telnet",
        "http",
        "pop3",
        "imap",
        "snmp",
        "ldap",
    )
    http_ports: tuple[Port, ...] = Field((80, 8080), description="ports where HTTP Basic logins are looked for")
    ntlm_ports: tuple[Port, ...] = Field(
        (445,), description="ports where NTLM logins are read for NTLMv1 (with 'ntlm' in protocols)"
    )
    networks: tuple[Network, ...] = Field(
        (), description="watch only logins to servers in these networks (default: everywhere the sensor sees)"
    )
    quiet_period: Duration = Field(86400.0, description="after this much silence the same login is a new alert")
    max_flows: int = Field(4096, ge=16, description="connections read at once; the oldest are let go")


class RogueDhcpSettings(Strict):
    enabled: bool = Field(True, description="judged only on segments that list dhcp_servers")
    quiet_period: Duration = 3600.0


class RogueRaSettings(Strict):
    enabled: bool = Field(True, description="judged only on segments that list routers_v6")
    quiet_period: Duration = 3600.0


class ResetInjectionSettings(Strict):
    """``tcp-reset-injection``: resets on department servers' connections that their endpoint did not send. Off
    unless asked for: it lets a sample of established packets on those ports through the kernel filter."""

    enabled: bool = False
    ports: tuple[Port, ...] = Field((), description="server ports whose connections are followed (default: systems')")
    sample_bits: int = Field(
        5, ge=0, le=8, description="established packets sampled by IP id: 1 in 2**sample_bits (IPv4)"
    )
    seq_slack: int = Field(
        1 << 20, ge=1024, description="bytes a reset's sequence number may lie beyond the endpoint's last one"
    )
    quiet_period: Duration = 3600.0
    max_flows: int = Field(16384, ge=16, description="connections followed at once; the oldest are let go")


class DetectionSettings(Strict):
    unregistered_terminal: UnregisteredTerminalSettings = UnregisteredTerminalSettings()
    port_scan: PortScanSettings = PortScanSettings()
    syn_flood: SynFloodSettings = SynFloodSettings()
    ip_mac_conflict: IpMacConflictSettings = IpMacConflictSettings()
    zone_policy: ZonePolicySettings = ZonePolicySettings()
    new_path: NewPathSettings = NewPathSettings()
    lateral_movement: LateralMovementSettings = LateralMovementSettings()
    exposure: ExposureSettings = ExposureSettings()
    remote_maintenance: RemoteMaintenanceSettings = RemoteMaintenanceSettings()
    cleartext: CleartextSettings = CleartextSettings()
    rogue_dhcp: RogueDhcpSettings = RogueDhcpSettings()
    rogue_ra: RogueRaSettings = RogueRaSettings()
    tcp_reset_injection: ResetInjectionSettings = ResetInjectionSettings()
    max_open_alerts: int = Field(20_000, ge=100, description="alerts kept in memory at once")
    incidents: IncidentSettings = IncidentSettings()
