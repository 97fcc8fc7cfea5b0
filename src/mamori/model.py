"""The records every part of mamori shares: observations, alerts and the site model.

This module imports nothing from mamori. Observations made once per packet (``ConnectionAttempt``,
``PortResponse``, ``ArpObservation``) are ``typing.NamedTuple`` rather than frozen dataclasses: they are just
as immutable and typed, and are built about four times faster, which matters on the capture path
(docs/design.md §2). They are read by field name only, never by position.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple, Protocol

__all__ = [
    "ACK",
    "ALERT_FIELDS",
    "BACKUP_KINDS",
    "CWR",
    "ECE",
    "EXEMPT_ROLES",
    "FIN",
    "PSH",
    "RST",
    "SEGMENT_ROLES",
    "SYN",
    "URG",
    "WEEKDAYS",
    "ZONES",
    "Alert",
    "ArpObservation",
    "BackupEvidence",
    "BackupJob",
    "BackupStatus",
    "BlockAllow",
    "BlockPolicy",
    "CleartextLogin",
    "Clock",
    "ConnectionAttempt",
    "DangerousPort",
    "Delivery",
    "DepartmentSystem",
    "DeviceSighting",
    "ExemptHost",
    "FlowCount",
    "FlowRule",
    "Gateway",
    "KnownPath",
    "KnownService",
    "LogRecord",
    "MaintenanceSession",
    "OfflineCopy",
    "PacketData",
    "PortResponse",
    "RestoreTest",
    "ScanHost",
    "ScanPort",
    "ScanReport",
    "ScanScope",
    "Segment",
    "Server",
    "Severity",
    "Site",
    "SnmpAccess",
    "Switch",
    "SystemClock",
    "Terminal",
    "Vendor",
    "VpnEvent",
    "WindowsEvent",
    "WorkPlan",
    "ZonePolicy",
    "flags_text",
    "iso_time",
]

# TCP header flag bits (RFC 9293 §3.1).
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

_FLAG_LETTERS = ((SYN, "S"), (ACK, "A"), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U"), (ECE, "E"), (CWR, "C"))


def flags_text(flags: int) -> str:
    """``0x12`` -> ``"SA"``; no flag at all -> ``"-"`` (a NULL probe)."""
    text = "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit)
    return text or "-"


class ConnectionAttempt(NamedTuple):
    """Someone tried to reach ``dst_ip:dst_port``: a SYN, a scan probe, a UDP datagram, or a firewall log line.

    ``flags`` are the TCP flags (0 for UDP). ``tcp_header_len`` tells a raw scanner's SYN (20-24 bytes, no options
    beyond MSS) from an operating system's connect() (32-44 bytes). ``action`` is None when seen on the wire and
    ``"allow"``/``"deny"`` when a firewall or router reported it; ``device``/``interface`` name that device.
    MAC addresses are lower-case ``aa:bb:cc:dd:ee:ff`` strings, or None when the source has no link layer.
    """

    ts: float
    src_mac: str | None
    dst_mac: str | None
    src_ip: str
    dst_ip: str
    proto: str
    src_port: int
    dst_port: int
    flags: int = SYN
    tcp_header_len: int = 0
    vlan: int | None = None
    action: str | None = None
    device: str | None = None
    interface: str | None = None


class PortResponse(NamedTuple):
    """What a host answered to an attempt: ``synack``, ``rst`` (RST without ACK: answer to a stray ACK),
    ``rstack`` (closed TCP port), or ``unreachable`` (ICMP port unreachable for a UDP probe).

    ``src_*`` is the host that answered; ``dst_*`` is the peer that sent the attempt.
    """

    ts: float
    kind: str
    proto: str
    src_mac: str | None
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    vlan: int | None = None


class ArpObservation(NamedTuple):
    """An ARP packet: ``sender_ip`` is claimed to be at ``sender_mac``. ``op`` 1 = request, 2 = reply."""

    ts: float
    op: int
    eth_src: str
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str
    vlan: int | None = None

    @property
    def gratuitous(self) -> bool:
        return self.sender_ip == self.target_ip


class PacketData(NamedTuple):
    """A packet whose contents a detector reads: a TCP segment or UDP datagram on a port the site asked to watch
    (logins in clear text, DHCP), an ICMPv6 router advertisement, or a TCP segment of a watched flow (resets).

    Made only for the ports and messages the settings switch on (docs/design.md §10, "LAN threats"). ``proto`` is
    ``tcp``, ``udp`` or ``icmp6`` (then the ports are 0 and ``payload`` starts at the ICMPv6 header). ``ttl`` is
    the IPv4 TTL or the IPv6 hop limit; ``seq``/``ack`` are 0 outside TCP. ``payload`` is at most the decoder's cap
    (a few hundred bytes) and may hold secrets: a detector reads it and keeps none of it (evidence samples never
    include it).
    """

    ts: float
    proto: str
    src_mac: str | None
    dst_mac: str | None
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    flags: int
    seq: int
    ack: int
    ttl: int
    payload: bytes
    vlan: int | None = None


class WindowsEvent(NamedTuple):
    """One Windows event log record, from an .evtx file, Windows Event Forwarding or a log shipper's JSON.

    ``ts`` is POSIX seconds (UTC). ``event_id`` is always an int (the qualifiers dropped). ``fields`` holds the
    event data by name (``EventData``'s named ``Data`` items, or the children of ``UserData``), every value as text;
    unnamed ``Data`` items are joined under ``Data``. The rendered message is never kept: detection keys on these
    fields, which read the same on a Japanese and an English Windows. ``source`` names the file it came from.
    A ``NamedTuple`` like the other per-record observations (docs/design.md §2): one is built per relevant record.
    """

    ts: float
    computer: str
    channel: str
    provider: str
    event_id: int
    record_id: int | None
    fields: Mapping[str, str]
    source: str = ""


class LogRecord(NamedTuple):
    """One log line as received (syslog over UDP, TCP, TLS or RELP), with its header fields when it has one.

    ``received_at`` (POSIX seconds) and ``sender``/``sender_port`` are stamped by the receiver; ``raw`` is the
    line exactly as it arrived. ``format`` is ``rfc5424``, ``rfc3164`` or ``bare`` (no header at all, as Yamaha
    RTX routers send). Header fields a line does not carry are None; ``timestamp`` is the sender's own time
    (POSIX seconds). ``structured_data`` maps SD-IDs to their parameters (RFC 5424 only). ``message`` is the
    text after the header, decoded with ``encoding`` (``utf-8``, ``shift_jis``, or the configured fallback).
    """

    received_at: float
    sender: str
    sender_port: int
    transport: str
    raw: bytes
    format: str
    message: str
    encoding: str = "utf-8"
    facility: int | None = None
    severity: int | None = None
    timestamp: float | None = None
    hostname: str | None = None
    app: str | None = None
    procid: str | None = None
    msgid: str | None = None
    structured_data: Mapping[str, Mapping[str, str]] | None = None


class VpnEvent(NamedTuple):
    """A VPN gateway reported a remote-access session or a tunnel (Yamaha RTX, FortiGate, Cisco ASA).

    ``kind`` is ``login`` (a user's session started), ``address`` (the address the session was given inside the
    network), ``logout`` (the session ended), ``tunnel-up`` / ``tunnel-down`` (a tunnel without a user: a
    site-to-site IPsec tunnel) or ``peer`` (a peer started to negotiate: IKE, L2TP; what follows names the user).
    ``remote_ip`` is the peer's own (public) address, ``assigned_ip`` the address inside the VPN, ``tunnel`` the
    gateway's name for the session or tunnel (``PP[ANONYMOUS01]``, ``TUNNEL[1]``, a tunnel id), ``protocol``
    ``l2tp``, ``ipsec``, ``ssl`` or ``anyconnect``. Fields a line does not carry are None. ``ts`` is when mamori
    received the line (device clocks drift).
    """

    ts: float
    kind: str
    device: str
    protocol: str
    user: str | None = None
    remote_ip: str | None = None
    assigned_ip: str | None = None
    tunnel: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class CleartextLogin:
    """A login seen in clear text, as evidence for the checklist (cleartext protocols in use, 2-⑫; a password used
    on several servers, 2-⑧). ``password_tag`` is the start of the password's salted hash, never the password;
    None where the protocol carries no password to compare (NTLMv1)."""

    ts: float
    protocol: str
    client_ip: str
    server_ip: str
    server_port: int
    account: str
    password_tag: str | None = None
    client_mac: str | None = None


class Severity(enum.IntEnum):
    INFO = 10
    LOW = 20
    MEDIUM = 30
    HIGH = 40
    CRITICAL = 50

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            known = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; known: {known}") from None


@dataclass(frozen=True)
class Alert:
    """A detection, as it stands now. An ongoing attack is one alert whose ``count`` and ``last_seen`` grow.

    ``key`` identifies what the alert is about (the rule's own grouping, e.g. source MAC and system); ``uid`` is
    this episode of it. Times are POSIX seconds (UTC). ``details`` holds the rule's facts: an instance of the rule's
    declared ``mamori.rules.Details`` type (a read-only mapping as well), ``samples`` a bounded sample of the
    observations behind it. There are no sentences here: summaries are rendered when shown, in the reader's
    language (``mamori.rules.render``). This is the one declaration of an alert's fields (``ALERT_FIELDS``): the
    store, the alert book's snapshots and the JSON form derive from it.
    """

    uid: str
    rule: str
    key: str
    severity: Severity
    first_seen: float
    last_seen: float
    count: int
    src_mac: str | None = None
    src_ip: str | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    system: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    samples: tuple[Mapping[str, Any], ...] = ()


# The alert's own fields, in declaration order (the store and the alert book copy these by name).
ALERT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Alert))


class Clock(Protocol):
    """Where time comes from: the system's clock, or ``mamori.testing.FakeClock`` in tests. ``now`` is POSIX
    seconds; ``monotonic`` never goes back (timeouts, intervals). ``wait`` waits on ``condition`` (whose lock the
    caller holds) until it is notified or ``timeout`` seconds of this clock have passed; a fake clock wakes its
    waiters when the test moves it, so threads that wait for time are tested without sleeping."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    def wait(self, condition: threading.Condition, timeout: float | None) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        condition.wait(timeout)


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver an alert through an action (script, Zabbix, syslog, e-mail, webhook).

    ``event`` is ``new`` (first notification of the alert) or ``update`` (it grew). ``ok`` tells whether the
    attempt succeeded; ``final`` whether no further attempt will follow (success, or retries exhausted).
    ``detail`` is what the far end said: an exit code and output, an HTTP status, an SMTP reply, an error.
    """

    alert_uid: str
    action: str
    action_type: str
    event: str
    attempt: int
    ts: float
    ok: bool
    final: bool
    detail: str
    alert_count: int = 0


@dataclass(frozen=True)
class Terminal:
    """A registered (legitimate) terminal of a department system. ``ip`` None means any IP is accepted."""

    name: str
    mac: str
    ip: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Server:
    """A protected department server. ``mac`` is optional; when given, ARP claims for its IP are checked."""

    ip: str
    mac: str | None = None
    name: str = ""


@dataclass(frozen=True)
class Gateway:
    """A router on the segment. SYNs it forwards carry its MAC, so the check falls back to the source IP."""

    name: str
    mac: str
    ip: str | None = None


@dataclass(frozen=True)
class DepartmentSystem:
    """A department system (部門システム): its servers, their service ports and the terminals allowed to connect."""

    name: str
    servers: tuple[Server, ...]
    ports: tuple[int, ...]
    terminals: tuple[Terminal, ...] = ()
    udp_ports: tuple[int, ...] = ()
    severity: Severity = Severity.HIGH


# The zones of the HEASNET report (2007, §5.3.1): High Secure Zone, Secure Zone, DMZ; mamori adds medical devices
# (the report puts them in the Secure Zone) and "external": any address in no segment, or a named outside network.
ZONES: tuple[str, ...] = ("hsz", "sz", "dmz", "medical", "external")
# What a segment is for, where a rule or an exemption needs to know (remote maintenance may reach medical devices).
SEGMENT_ROLES: tuple[str, ...] = ("backup", "maintenance", "admin", "antivirus", "update", "asset-management")


@dataclass(frozen=True)
class Segment:
    """A network segment (セグメント): its address ranges, its zone, the proxies in it and its role.

    ``cidrs`` are networks in their normal text form (``10.1.0.0/24``); an address in several is in the most specific
    one. ``proxies`` are addresses of proxy servers: a connection from or to one of them goes "through a proxy".
    """

    name: str
    cidrs: tuple[str, ...]
    zone: str
    proxies: tuple[str, ...] = ()
    role: str | None = None
    note: str = ""
    # The segment's own DHCP servers and IPv6 routers (IP or MAC each): None = not judged, () = none expected.
    dhcp_servers: tuple[str, ...] | None = None
    routers_v6: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FlowRule:
    """One row of a zone policy: connections started from ``src`` to ``dst``. The first row that matches decides.

    ``src`` and ``dst`` name a zone (``hsz``...), a segment, ``role:<role>`` or ``any``. ``ports`` empty means every
    port; ``proto`` None both TCP and UDP; ``via_proxy`` None either way, True only connections through a proxy,
    False only direct ones. ``action`` is ``allow`` or ``deny``. ``origin`` is where the row comes from
    (``heasnet-large``, ``heasnet-small`` or ``custom``) and ``ref`` what it cites: the checksheet item of a
    HEASNET row ("3-5-1"), the operator's own reference for a custom one.
    """

    src: str
    dst: str
    action: str
    ports: tuple[int, ...] = ()
    proto: str | None = None
    via_proxy: bool | None = None
    ref: str = ""
    origin: str = "custom"


@dataclass(frozen=True)
class ZonePolicy:
    """Which connections between segments and zones are allowed: ``rules`` in order, then ``default``."""

    name: str  # heasnet-large | heasnet-small | custom
    rules: tuple[FlowRule, ...]
    default: str = "allow"


# The roles whose work is to reach many computers: their hosts are left out of lateral-movement (docs/design.md §10).
EXEMPT_ROLES: tuple[str, ...] = ("admin", "antivirus", "update", "backup", "asset-management")


@dataclass(frozen=True)
class ExemptHost:
    """A host registered as reaching many computers by its work (administrators' terminals, antivirus, update,
    backup and asset-management servers): ``lateral-movement`` leaves it alone. ``networks`` are addresses and
    networks in their normal text form (``10.2.0.10/32``); ``computers`` Windows computer names (short, upper-case);
    ``accounts`` the service accounts its tools log on with (lower-case, without the domain)."""

    role: str
    name: str = ""
    networks: tuple[str, ...] = ()
    computers: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class DangerousPort:
    """A port to watch between segments (RDP, SMB...): new paths on these are reported."""

    port: int
    name: str = ""


class KnownPath(NamedTuple):
    """A path seen between two segments on a dangerous port. ``src_segment``/``dst_segment`` are segment names,
    ``""`` for addresses in no segment. ``src_ip``/``dst_ip`` are the first connection seen on it (``""`` when a
    record only moves ``last_seen``). Times are POSIX seconds."""

    src_segment: str
    dst_segment: str
    proto: str
    port: int
    first_seen: float
    last_seen: float
    src_ip: str = ""
    dst_ip: str = ""


class KnownService(NamedTuple):
    """A service seen answering on the wire (a SYN-ACK from ``host``'s ``port``), like Zeek's known-services:
    ``first_seen``/``last_seen`` in POSIX seconds; ``client`` is the first address it was seen answering."""

    host: str
    proto: str
    port: int
    first_seen: float
    last_seen: float
    client: str = ""


@dataclass(frozen=True)
class ScanScope:
    """What ``mamori scan`` may scan: ``targets`` (networks and addresses in normal text form), never ``exclude``
    (which already holds the medical-device segments not named in ``targets``), at most ``rate`` packets a
    second, on ``ports`` (TCP)."""

    targets: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    rate: int = 100
    ports: tuple[int, ...] = ()
    version_detection: bool = True
    timeout: float = 3600.0
    medical_excluded: tuple[str, ...] = ()  # the medical segments' networks added to ``exclude``


class ScanPort(NamedTuple):
    """One port of a host in an nmap run: ``state`` as nmap says it (open, closed, filtered, open|filtered...);
    ``service``/``product``/``version`` are nmap's words, from the host, hence hostile text."""

    proto: str
    port: int
    state: str
    service: str = ""
    product: str = ""
    version: str = ""


@dataclass(frozen=True)
class ScanHost:
    address: str
    status: str  # up, down
    hostname: str = ""
    mac: str = ""
    ports: tuple[ScanPort, ...] = ()

    def open_ports(self) -> tuple[ScanPort, ...]:
        return tuple(p for p in self.ports if p.state == "open")


@dataclass(frozen=True)
class ScanReport:
    """One nmap run as read from its XML: when it ran, how, and the hosts it found up (with their ports)."""

    started: float
    finished: float | None
    args: str
    version: str
    hosts: tuple[ScanHost, ...]
    hosts_up: int = 0
    hosts_down: int = 0
    complete: bool = True  # nmap wrote its closing element (a run cut short is stored, and says so)


WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkPlan:
    """A work plan (作業計画) of a remote-maintenance vendor: when it may connect, to what, on which ports.

    A one-off window has ``start`` and ``end`` (POSIX seconds). A recurring one has ``every`` (``day``, ``week``
    or ``month``), ``time`` (``HH:MM`` in the site's time zone), ``duration`` (seconds) and, for ``week``, the
    ``weekday`` (0 = Monday) or, for ``month``, the ``day`` of the month (a month without that day has no window).
    ``targets`` are addresses, networks or computer names; empty means the vendor's ``devices``. ``ports`` empty
    means any port. ``accounts`` empty means the vendor's accounts. ``ident`` is stable and unique in the site
    (``file:<vendor>:<n>`` for the settings file, ``db:<id>`` for one entered on the dashboard).
    """

    ident: str
    start: float | None = None
    end: float | None = None
    every: str | None = None
    time: str = "00:00"
    duration: float = 0.0
    day: int | None = None
    weekday: int | None = None
    targets: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    accounts: tuple[str, ...] = ()
    ticket: str = ""
    note: str = ""
    origin: str = "file"  # file | dashboard


@dataclass(frozen=True)
class Vendor:
    """A remote-maintenance vendor (保守業者): where it comes from, the accounts it uses, what it maintains.

    ``sources`` are networks (``10.9.0.0/24``; a single address is a /32): the VPN pool, the bastion, the
    vendor's own addresses. ``accounts`` are the Windows / VPN user names it uses (compared without case).
    ``devices`` are what it maintains (addresses, networks or computer names; checklist 2-②).
    """

    name: str
    sources: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    work_plans: tuple[WorkPlan, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class MaintenanceSession:
    """One remote-maintenance session: a vendor's connections from one place, grouped until they stop.

    ``vendor`` is ``""`` when a VPN session could not be tied to a vendor. ``plan`` is the ``ident`` of the work
    plan it was judged against (``""``: none). ``differences`` are what did not match the plan (``no-plan``,
    ``outside-window``, ``target``, ``port``, ``account``, ``unknown-vpn``); empty: within the plan. ``via`` names
    the evidence (``wire``, ``firewall``, ``vpn``, ``windows``). ``ended`` is False while it goes on.
    """

    uid: str
    vendor: str
    source: str
    start: float
    end: float
    accounts: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    via: tuple[str, ...] = ()
    plan: str = ""
    ticket: str = ""
    differences: tuple[str, ...] = ()
    off_plan: tuple[str, ...] = ()  # the targets, ports and accounts the plan does not list, as "target:10.1.0.9"
    connections: int = 0
    alert_uid: str = ""
    ended: bool = False


class DeviceSighting(NamedTuple):
    """A device seen on the wire, for the asset ledger (2-①): its MAC, the addresses it used, when first and last
    seen, the services it answered on (``"tcp/443"``), and whether it spoke for more addresses than are kept (a
    router or gateway, whose MAC carries routed hosts' addresses)."""

    mac: str
    ips: tuple[str, ...]
    first_seen: float
    last_seen: float
    services: tuple[str, ...] = ()
    many_ips: bool = False


# Where the evidence of a backup job is read (docs/design.md §10): a folder of generations mounted on the box, a restic
# or borg repository, or Windows Server Backup's event log (.evtx files or forwarded events) of one computer.
BACKUP_KINDS: tuple[str, ...] = ("folder", "restic", "borg", "wsb")


@dataclass(frozen=True)
class OfflineCopy:
    """The copy meant to be offline (a NAS switched on or connected only to receive the backup): its address (and
    MAC, if known) and the times of day it may be online, as (start, end) minutes after local midnight in
    ``timezone`` (None: the machine's own). A window whose end is before its start runs past midnight."""

    host: str
    windows: tuple[tuple[int, int], ...]
    mac: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class BackupJob:
    """A declared backup job (バックアップ): what is saved, where, how often, how many generations are kept, and
    where mamori reads the evidence. ``every`` and ``margin`` are seconds: a job is missed when no success is
    seen for ``every + margin``. ``logs`` are the .evtx files or folders of forwarded events where Windows Server
    Backup's events of ``computer`` are found (kind ``wsb``); ``password_file`` / ``password_env`` name where a
    restic or borg repository's password is (a file, or an environment variable of mamori's process)."""

    name: str
    kind: str
    every: float
    generations: int
    margin: float
    path: str = ""
    what: str = ""
    where: str = ""
    computer: str = ""
    logs: tuple[str, ...] = ()
    password_file: str | None = None
    password_env: str | None = None
    offline: OfflineCopy | None = None
    immutable: bool = False
    note: str = ""


@dataclass(frozen=True)
class BackupEvidence:
    """What a backup job's evidence showed when it was read (``read_at``): the newest success, the generations
    kept (None where the evidence does not say: Windows Server Backup's events), the oldest generation, the last
    failure seen, and why the evidence could not be read (``error``; "" when it was). ``skipped`` counts entries a
    reader did not use (symbolic links, unreadable entries, records of other computers), ``source`` says what was
    read. Times are POSIX seconds."""

    job: str
    kind: str
    read_at: float
    last_success: float | None = None
    generations: int | None = None
    oldest: float | None = None
    last_failure: float | None = None
    failure: str = ""
    error: str = ""
    skipped: int = 0
    source: str = ""


@dataclass(frozen=True)
class BackupStatus:
    """A backup job's state at a check: the evidence's figures and what the rules made of them. ``due_at`` is when
    the job is missed without a new success (the last success plus ``every`` and ``margin``). ``state`` is
    ``unreadable`` (no success and the evidence could not be read), ``missed``, ``few-generations`` or ``ok``."""

    job: str
    kind: str
    checked_at: float
    state: str
    expected: int
    last_success: float | None = None
    generations: int | None = None
    oldest: float | None = None
    due_at: float | None = None
    last_failure: float | None = None
    failure: str = ""
    error: str = ""
    skipped: int = 0
    source: str = ""


@dataclass(frozen=True)
class RestoreTest:
    """A restore test recorded by hand (復元テスト): which job, the day it was done (``tested_on``, ISO date), what
    was restored, by whom, and a note; ``recorded_at`` (POSIX seconds) and ``recorded_by`` (a dashboard user or
    ``cli``) say who wrote it down."""

    job: str
    tested_on: str
    what: str
    by: str
    note: str = ""
    recorded_at: float = 0.0
    recorded_by: str = ""


@dataclass(frozen=True)
class SnmpAccess:
    """How mamori reaches a switch over SNMP. Secrets are never here: ``community_file``, ``auth_key_file`` and
    ``priv_key_file`` name files (chmod 600) whose first line is the secret, read when a block is made."""

    version: str  # "2c" | "3"
    port: int = 161
    community_file: str | None = None
    user: str = ""
    auth_protocol: str = "sha256"  # md5 | sha | sha224 | sha256 | sha384 | sha512
    auth_key_file: str | None = None
    priv_protocol: str = "aes128"  # des | aes128 | aes192 | aes256
    priv_key_file: str | None = None
    context: str = ""
    timeout: float = 3.0
    retries: int = 1


@dataclass(frozen=True)
class Switch:
    """A switch whose access ports mamori may shut (``snmp-port`` blocking). ``uplinks`` and ``protect`` are port
    names (ifName or ifDescr) or interface numbers (ifIndex, as text) that are never shut; ``max_macs`` is the most
    MAC addresses a port may carry and still be shut (more: an uplink or a hub, refused). ``quarantine_vlan``:
    move the port to this VLAN (Q-BRIDGE-MIB dot1qPvid) instead of shutting it."""

    name: str
    address: str
    snmp: SnmpAccess
    uplinks: tuple[str, ...] = ()
    protect: tuple[str, ...] = ()
    max_macs: int = 1
    quarantine_vlan: int | None = None


@dataclass(frozen=True)
class BlockAllow:
    """One rule the site allows to block for, at this severity or above."""

    rule: str
    min_severity: Severity = Severity.HIGH


@dataclass(frozen=True)
class BlockPolicy:
    """What blocking (遮断) may do at this site: for which rules and severities, whether it only records what it
    would do (``dry_run``), and when a block is lifted by itself (``release_after`` seconds; 0: only by hand)."""

    allow: tuple[BlockAllow, ...] = (BlockAllow("unregistered-terminal", Severity.HIGH),)
    dry_run: bool = False
    release_after: float = 4 * 3600.0

    def allows(self, rule: str, severity: Severity) -> bool:
        return any(a.rule == rule and severity >= a.min_severity for a in self.allow)


@dataclass(frozen=True)
class Site:
    """The hospital's site model as far as the sensor needs it."""

    systems: tuple[DepartmentSystem, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    name: str = ""
    segments: tuple[Segment, ...] = ()
    zone_policy: ZonePolicy | None = None
    dangerous_ports: tuple[DangerousPort, ...] = ()
    exempt_hosts: tuple[ExemptHost, ...] = ()
    scan: ScanScope | None = None
    vendors: tuple[Vendor, ...] = ()
    time_zone: str = "Asia/Tokyo"  # where work plans' times are read (the site's wall clock)
    backups: tuple[BackupJob, ...] = ()
    switches: tuple[Switch, ...] = ()
    blocking: BlockPolicy = BlockPolicy()


def iso_time(ts: float) -> str:
    """POSIX seconds -> ISO 8601 in UTC with an explicit offset, e.g. 2026-11-23T02:15:02.123456+00:00."""
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat()


class FlowCount(NamedTuple):
    """Connections seen from one segment to another in one hour (the zone map's and the matrix's figures).

    ``hour`` is the POSIX second the hour starts at (UTC hours); segment names are ``""`` for addresses in no
    segment (outside). ``port`` 0 gathers the ports past the per-hour bound that are neither dangerous nor
    forbidden (a scan between segments does not make a row per port). ``forbidden``: the zone policy forbids the
    flow. ``connections`` (SYNs on the wire, allow or deny log lines), ``blocked`` of them denied by a
    firewall, ``new`` of them the first ever seen on their path (dangerous ports only, learning or not)."""

    hour: float
    src_segment: str
    dst_segment: str
    proto: str
    port: int
    forbidden: bool
    connections: int
    blocked: int = 0
    new: int = 0
