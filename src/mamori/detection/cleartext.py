"""``cleartext-credentials``: logins whose password crosses the LAN in clear text (threat T1 of the HEASNET report).

Reads the :class:`~mamori.model.PacketData` the decoder makes for the watched ports (docs/design.md §10, "LAN
threats"): FTP and POP3 ``USER``/``PASS``, POP3/IMAP ``AUTH PLAIN``, IMAP ``LOGIN``, telnet's login dialogue, HTTP
``Authorization: Basic``, SNMP v1/v2c communities, LDAP simple binds, and NTLM ``AUTHENTICATE`` messages (SMB, HTTP)
answered with NTLMv1.

Bounded: at most ``max_flows`` connections are read at once (the oldest let go), each for its first few packets
(``_PACKETS``, telnet ``_TELNET_PACKETS``: it sends a character per packet) and bytes (``_BYTES``); a connection
whose login was found, or that ran past its caps, is only remembered as finished. The password itself is never
kept: it is turned at once into a short tag, the first 6 hex digits of PBKDF2-SHA256 with the installation's salt,
to count the servers where one password is used (checklist 2-⑧). Tags are cached (by a keyed BLAKE2 of the
password) so a monitoring server's SNMP polls cost one hash each, not one PBKDF2.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from mamori.config import CleartextSettings
from mamori.detection.book import AlertBook
from mamori.detection.site_index import SiteIndex
from mamori.model import CleartextLogin, ConnectionAttempt, PacketData, Severity

__all__ = ["RULE", "CleartextDetector", "LoginSink", "password_tag", "protocol_ports"]

RULE = "cleartext-credentials"

_PACKETS = 12  # packets read per direction of a connection
_TELNET_PACKETS = 96  # telnet: a character per packet
_BYTES = 2048  # bytes kept per direction
_TAG_DIGITS = 6
_PBKDF2_ROUNDS = 10_000
_MAX_ACCOUNTS = 20
_MAX_TAGS = 10
_MAX_TAG_SERVERS = 16
_MAX_KNOWN_TAGS = 65_536
_MAX_PENDING = 10_000  # logins waiting to be recorded between two collections
_ANONYMOUS = frozenset({"anonymous", "ftp"})

_FIXED_PORTS = {"ftp": 21, "telnet": 23, "pop3": 110, "imap": 143, "ldap": 389, "snmp": 161}
_BOTH_WAYS = frozenset({"ftp", "telnet", "pop3", "imap", "ldap"})


class LoginSink(Protocol):
    """Where logins seen in clear text are recorded as checklist evidence (the runtime's store)."""

    def logins(self, logins: list[CleartextLogin]) -> None: ...


def protocol_ports(settings: CleartextSettings) -> tuple[dict[int, str], dict[int, str]]:
    """(TCP port -> protocol, UDP port -> protocol) for the protocols switched on."""
    tcp: dict[int, str] = {}
    udp: dict[int, str] = {}
    for proto in settings.protocols:
        if proto == "snmp":
            udp[161] = "snmp"
        elif proto == "http":
            tcp.update(dict.fromkeys(settings.http_ports, "http"))
        elif proto == "ntlm":
            tcp.update(dict.fromkeys(settings.ntlm_ports, "ntlm"))
        else:
            tcp[_FIXED_PORTS[proto]] = proto
    return tcp, udp


def both_ways_ports(settings: CleartextSettings) -> tuple[int, ...]:
    """The ports whose server side is read too (login dialogues: prompts and answers are short)."""
    return tuple(_FIXED_PORTS[p] for p in settings.protocols if p in _BOTH_WAYS)


def password_tag(salt: bytes, secret: bytes) -> str:
    """The first hex digits of the secret's salted PBKDF2-SHA256: equal tags mean (almost surely) one password."""
    return hashlib.pbkdf2_hmac("sha256", secret, salt, _PBKDF2_ROUNDS).hex()[:_TAG_DIGITS]


@dataclass(slots=True, eq=False)
class _Flow:
    proto: str
    client: bytearray = field(default_factory=bytearray)
    server: bytearray = field(default_factory=bytearray)
    client_packets: int = 0
    server_packets: int = 0
    done: bool = False
    # protocol state: the account named so far, and what the next client line is (telnet, AUTH PLAIN)
    account: str | None = None
    expect: str = ""

    def finish(self) -> None:
        """Read far enough without a login: keep only that it is finished."""
        self.done = True
        self.client.clear()
        self.server.clear()
        self.account = None


@dataclass(frozen=True, slots=True)
class _Found:
    protocol: str
    account: str
    secret: bytes | None  # None: nothing to compare (NTLMv1)


class CleartextDetector:
    rule = RULE

    def __init__(
        self,
        index: SiteIndex,
        settings: CleartextSettings,
        book: AlertBook,
        *,
        salt: bytes | None = None,
        sink: LoginSink | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.book = book
        self.quiet_period = settings.quiet_period
        self.salt = salt if salt is not None else os.urandom(16)
        self.sink = sink
        self.tcp_ports, self.udp_ports = protocol_ports(settings)
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in settings.networks)
        self._flows: OrderedDict[tuple[str, int, str, int], _Flow] = OrderedDict()
        self._tags: OrderedDict[bytes, str] = OrderedDict()  # keyed BLAKE2 of a password -> its tag
        self._tag_servers: OrderedDict[str, dict[str, list[str]]] = OrderedDict()  # tag -> server -> alert keys
        self._pending: list[CleartextLogin] = []
        self.found = 0

    def use_index(self, index: SiteIndex) -> None:
        self.index = index

    # -- packets -------------------------------------------------------------------------------------------------

    def on_packet(self, pkt: PacketData) -> None:
        if pkt.proto == "udp":
            if pkt.dst_port in self.udp_ports:
                found = _snmp(pkt.payload)
                if found is not None:
                    self._report(pkt, found)
            return
        if pkt.proto != "tcp" or not pkt.payload:
            return
        proto = self.tcp_ports.get(pkt.dst_port)
        from_client = proto is not None
        if from_client:
            key = (pkt.src_ip, pkt.src_port, pkt.dst_ip, pkt.dst_port)
        else:
            proto = self.tcp_ports.get(pkt.src_port)
            key = (pkt.dst_ip, pkt.dst_port, pkt.src_ip, pkt.src_port)
        if proto is None:
            return
        flow = self._flow(key, proto, from_client)
        if flow is None:
            return
        found = self._read(flow, pkt.payload, from_client)
        if found is not None:
            flow.done = True
            self._report(pkt, found)
        elif (
            max(flow.client_packets, flow.server_packets) >= (_TELNET_PACKETS if proto == "telnet" else _PACKETS)
            or len(flow.client) >= _BYTES
        ):
            flow.finish()

    def _flow(self, key: tuple[str, int, str, int], proto: str, from_client: bool) -> _Flow | None:
        """The connection's state; None when it is finished, or when a server speaks first on a protocol whose
        greeting says nothing (only telnet's prompts matter)."""
        flow = self._flows.get(key)
        if flow is not None:
            return None if flow.done else flow
        if not from_client and proto != "telnet":
            return None
        if len(self._flows) >= self.settings.max_flows:
            self._flows.popitem(last=False)
        flow = self._flows[key] = _Flow(proto)
        return flow

    def _read(self, flow: _Flow, data: bytes, from_client: bool) -> _Found | None:
        if from_client:
            flow.client_packets += 1
            return self._client_data(flow, data)
        flow.server_packets += 1
        if flow.proto == "telnet":
            _telnet_server(flow, data)
        return None

    def _client_data(self, flow: _Flow, data: bytes) -> _Found | None:
        proto = flow.proto
        if proto == "telnet":
            return _telnet_client(flow, data)
        if proto == "ldap":
            return _ldap(data)
        if proto == "ntlm":
            return _ntlm(data)
        room = _BYTES - len(flow.client)
        flow.client += data[:room]
        if proto == "http":
            return _http(flow)
        return _line_protocol(flow)

    # -- reporting -----------------------------------------------------------------------------------------------

    def _tag(self, secret: bytes) -> str:
        cache_key = hashlib.blake2b(secret, key=self.salt[:64], digest_size=16).digest()
        tag = self._tags.get(cache_key)
        if tag is None:
            tag = password_tag(self.salt, secret)
            if len(self._tags) >= 4096:
                self._tags.popitem(last=False)
            self._tags[cache_key] = tag
        return tag

    def _report(self, pkt: PacketData, found: _Found) -> None:
        if self._networks and not self._watched_server(pkt.dst_ip):
            return
        self.found += 1
        client, server = pkt.src_ip, pkt.dst_ip
        protocol = found.protocol
        tag = self._tag(found.secret) if found.secret else None
        account = found.account[:256]
        key = f"{protocol}|{client}|{server}:{pkt.dst_port}"
        state, created = self.book.open(
            RULE,
            key,
            pkt.ts,
            severity=Severity.HIGH,
            quiet_period=self.quiet_period,
            src_mac=self.index.source_mac(pkt.src_mac),
            src_ip=client,
            dst_ip=server,
            dst_port=pkt.dst_port,
            system=self.index.system_of_server(server),
        )
        d = state.details
        if created:
            d.update(protocol=protocol, accounts=[], logins=0, password_tags=[], reused_on=[])
        d["logins"] += 1
        if account and account not in d["accounts"] and len(d["accounts"]) < _MAX_ACCOUNTS:
            d["accounts"].append(account)
        if tag is not None:
            if tag not in d["password_tags"] and len(d["password_tags"]) < _MAX_TAGS:
                d["password_tags"].append(tag)
            self._note_reuse(tag, server, key)
        # The evidence sample is the packet's header only: never its contents.
        sample = ConnectionAttempt(
            pkt.ts, pkt.src_mac, pkt.dst_mac, client, server, pkt.proto, pkt.src_port, pkt.dst_port, pkt.flags
        )
        state.add(sample, pkt.ts)
        if len(self._pending) >= _MAX_PENDING:  # bounded if nobody collects (the newest are kept)
            del self._pending[: _MAX_PENDING // 2]
        self._pending.append(
            CleartextLogin(
                pkt.ts, protocol, client, server, pkt.dst_port, account, tag, self.index.source_mac(pkt.src_mac)
            )
        )

    def _watched_server(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def _note_reuse(self, tag: str, server: str, key: str) -> None:
        servers = self._tag_servers.get(tag)
        if servers is None:
            if len(self._tag_servers) >= _MAX_KNOWN_TAGS:
                self._tag_servers.popitem(last=False)
            servers = self._tag_servers[tag] = {}
        else:
            self._tag_servers.move_to_end(tag)
        keys = servers.setdefault(server, []) if len(servers) < _MAX_TAG_SERVERS or server in servers else None
        if keys is not None and key not in keys:
            keys.append(key)
        if len(servers) < 2:
            return
        for each, alert_keys in servers.items():  # every alert of this password names the other servers
            others = [s for s in servers if s != each]
            for alert_key in alert_keys:
                state = self.book.get(RULE, alert_key)
                if state is None:
                    continue
                reused = state.details.setdefault("reused_on", [])
                added = [s for s in others if s not in reused]
                if added:
                    reused.extend(added)
                    state.dirty = True

    def refresh(self) -> None:
        if self._pending and self.sink is not None:
            self.sink.logins(self._pending)
        self._pending = []

    def finish(self) -> None:
        self.refresh()


# -- protocols --------------------------------------------------------------------------------------------------------


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip()


def _lines(flow: _Flow) -> list[bytes]:
    """Complete lines the client sent that were not read yet."""
    buf = flow.client
    end = buf.rfind(b"\n")
    if end < 0:
        return []
    lines = bytes(buf[: end + 1]).splitlines()
    del buf[: end + 1]
    return lines


def _b64(text: bytes) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _plain(blob: bytes | None, protocol: str) -> _Found | None:
    """SASL PLAIN (RFC 4616): authorization id, NUL, account, NUL, password."""
    if blob is None:
        return None
    parts = blob.split(b"\0")
    if len(parts) != 3 or not parts[2]:
        return None
    return _Found(protocol, _text(parts[1]), parts[2])


_IMAP_LOGIN = re.compile(rb'^\S+\s+LOGIN\s+("(?:[^"\\]|\\.)*"|\S+)\s+("(?:[^"\\]|\\.)*"|\S+)\s*$', re.IGNORECASE)


def _unquote(word: bytes) -> bytes:
    if len(word) >= 2 and word[:1] == b'"' and word[-1:] == b'"':
        return re.sub(rb"\\(.)", rb"\1", word[1:-1])
    return word


def _line_protocol(flow: _Flow) -> _Found | None:
    """FTP, POP3 and IMAP commands, a line at a time."""
    for line in _lines(flow):
        if flow.expect == "plain":
            flow.expect = ""
            found = _plain(_b64(line), flow.proto)
        elif flow.proto == "imap":
            found = _imap_line(flow, line)
        else:
            found = _user_pass_line(flow, line)
        if found is not None:
            return found
    return None


def _user_pass_line(flow: _Flow, line: bytes) -> _Found | None:
    """FTP (RFC 959) and POP3 (RFC 1939): ``USER`` then ``PASS``; POP3 ``AUTH PLAIN`` (RFC 5034)."""
    verb, _, rest = line.strip().partition(b" ")
    verb, rest = verb.upper(), rest.strip()
    if verb == b"USER":
        flow.account = _text(rest)
    elif verb == b"PASS":
        account = flow.account or ""
        flow.account = None
        if rest and account.lower() not in _ANONYMOUS:
            return _Found(flow.proto, account, rest)
    elif verb == b"AUTH":
        return _auth_plain(flow, rest)
    return None


def _imap_line(flow: _Flow, line: bytes) -> _Found | None:
    """IMAP (RFC 9051): ``tag LOGIN user password``, ``tag AUTHENTICATE PLAIN``. Literals ({n}) are not read."""
    words = line.split(None, 2)
    if len(words) < 2:
        return None
    verb = words[1].upper()
    if verb == b"LOGIN":
        match = _IMAP_LOGIN.match(line)
        if match and match.group(2) not in (b'""', b""):
            return _Found("imap", _text(_unquote(match.group(1))), _unquote(match.group(2)))
    elif verb == b"AUTHENTICATE":
        return _auth_plain(flow, words[2] if len(words) > 2 else b"")
    return None


def _auth_plain(flow: _Flow, rest: bytes) -> _Found | None:
    mech = rest.split()
    if not mech or mech[0].upper() != b"PLAIN":
        return None
    if len(mech) > 1 and mech[1] != b"=":
        return _plain(_b64(mech[1]), flow.proto)
    flow.expect = "plain"  # the next line is the answer
    return None


def _http(flow: _Flow) -> _Found | None:
    """``Authorization: Basic`` (RFC 7617), or an NTLM answer in ``Authorization: NTLM/Negotiate``."""
    buf = bytes(flow.client)
    head_end = buf.find(b"\r\n\r\n")
    head = buf if head_end < 0 else buf[:head_end]
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() != b"authorization":
            continue
        scheme, _, credentials = value.strip().partition(b" ")
        scheme = scheme.lower()
        if scheme == b"basic":
            decoded = _b64(credentials)
            if decoded is not None and b":" in decoded:
                account, _, password = decoded.partition(b":")
                if password:
                    return _Found("http-basic", _text(account), password)
        elif scheme in (b"ntlm", b"negotiate"):
            decoded = _b64(credentials)
            if decoded is not None:
                return _ntlm(decoded)
    if head_end >= 0:
        del flow.client[: head_end + 4]  # the next request on a kept-alive connection
    return None


_NTLMSSP_AUTH = b"NTLMSSP\x00\x03\x00\x00\x00"


def _ntlm(data: bytes) -> _Found | None:
    """An NTLM AUTHENTICATE message (MS-NLMP 2.2.1.3) answered with NTLMv1: a 24-byte NT response."""
    at = data.find(_NTLMSSP_AUTH)
    if at < 0 or len(data) < at + 64:
        return None
    msg = data[at:]

    def field_of(offset: int) -> bytes | None:
        length = int.from_bytes(msg[offset : offset + 2], "little")
        start = int.from_bytes(msg[offset + 4 : offset + 8], "little")
        if start + length > len(msg):
            return None
        return msg[start : start + length]

    nt_len = int.from_bytes(msg[20:22], "little")
    if nt_len != 24:
        return None  # NTLMv2 (longer), or anonymous (empty)
    flags = int.from_bytes(msg[60:64], "little") if len(msg) >= 64 else 0
    encoding = "utf-16-le" if flags & 0x1 else "latin-1"
    domain, user = field_of(28), field_of(36)
    account = user.decode(encoding, "replace") if user else "?"
    if domain:
        account = f"{domain.decode(encoding, 'replace')}\\{account}"
    return _Found("ntlmv1", account, None)


def _ber(data: bytes, at: int) -> tuple[int, int, int] | None:
    """(tag, start of contents, end of contents) of the BER element at ``at``, or None if it does not fit."""
    if at + 2 > len(data):
        return None
    tag, first = data[at], data[at + 1]
    at += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 3 or at + n > len(data):
            return None
        length = int.from_bytes(data[at : at + n], "big")
        at += n
    if at + length > len(data):
        return None
    return tag, at, at + length


def _snmp(data: bytes) -> _Found | None:
    """An SNMP v1 or v2c message (RFC 1157, 1901): SEQUENCE { version, community, PDU }."""
    outer = _ber(data, 0)
    if outer is None or outer[0] != 0x30:
        return None
    version = _ber(data, outer[1])
    if version is None or version[0] != 0x02 or version[2] - version[1] != 1:
        return None
    v = data[version[1]]
    if v not in (0, 1):
        return None  # v3 has no community
    community = _ber(data, version[2])
    if community is None or community[0] != 0x04 or community[2] == community[1]:
        return None
    return _Found("snmp-v1" if v == 0 else "snmp-v2c", "", bytes(data[community[1] : community[2]]))


def _ldap(data: bytes) -> _Found | None:
    """An LDAP simple bind (RFC 4511 4.2): SEQUENCE { messageID, [APPLICATION 0] { version, name, [0] password } }."""
    outer = _ber(data, 0)
    if outer is None or outer[0] != 0x30:
        return None
    msgid = _ber(data, outer[1])
    if msgid is None or msgid[0] != 0x02:
        return None
    bind = _ber(data, msgid[2])
    if bind is None or bind[0] != 0x60:
        return None
    version = _ber(data, bind[1])
    name = _ber(data, version[2]) if version is not None else None
    if name is None or name[0] != 0x04:
        return None
    auth = _ber(data, name[2])
    if auth is None or auth[0] != 0x80 or auth[2] == auth[1]:
        return None  # SASL, or an anonymous / unauthenticated bind
    return _Found("ldap", _text(data[name[1] : name[2]]), bytes(data[auth[1] : auth[2]]))


# -- telnet -----------------------------------------------------------------------------------------------------------

_IAC = 0xFF


def _telnet_text(data: bytes) -> bytes:
    """The data without telnet commands (RFC 854: IAC sequences, subnegotiations)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c != _IAC:
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break
        cmd = data[i + 1]
        if cmd == _IAC:
            out.append(_IAC)
            i += 2
        elif cmd == 250:  # SB ... IAC SE
            end = data.find(b"\xff\xf0", i + 2)
            i = n if end < 0 else end + 2
        elif 251 <= cmd <= 254:  # WILL, WONT, DO, DONT + option
            i += 3
        else:
            i += 2
    return bytes(out)


def _telnet_server(flow: _Flow, data: bytes) -> None:
    text = _telnet_text(data).lower()
    flow.server = (flow.server + text)[-256:]
    tail = bytes(flow.server).rstrip()
    if tail.endswith(b"password:"):
        flow.expect = "password"
        flow.server.clear()
    elif tail.endswith((b"login:", b"username:", b"user name:")):
        flow.expect = "account"
        flow.server.clear()


def _telnet_client(flow: _Flow, data: bytes) -> _Found | None:
    for c in _telnet_text(data):
        if c in (0x0D, 0x0A):
            if not flow.client and c == 0x0A:
                continue
            line = bytes(flow.client)
            flow.client.clear()
            if flow.expect == "password":
                flow.expect = ""
                if line and flow.account:
                    return _Found("telnet", flow.account, line)
            elif flow.expect == "account":
                flow.account = _text(line)
                flow.expect = ""
        elif c in (0x08, 0x7F):
            if flow.client:
                del flow.client[-1]
        elif c and len(flow.client) < 256:
            flow.client.append(c)
    return None
