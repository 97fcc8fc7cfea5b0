"""The syslog receiver: UDP, TCP and TLS (RFC 6587 framing) and RELP listeners on one asyncio loop (uvloop).

Receiving only stamps and hands over: every message becomes an :data:`Item` (receive time, transport, sender
address and port, raw bytes), collected into a batch that goes to the :class:`Sink` once per loop iteration, so a
burst is handed over in a few large batches and a quiet line in milliseconds. No parsing happens here.

Back-pressure: when the sink reports more than ``max_backlog`` messages not yet written, every TCP/TLS/RELP
connection stops reading (the senders' kernels then hold the data, and their sends block), and reading resumes
below half of it. UDP cannot be paused: its socket has a large kernel buffer (``SO_RCVBUFFORCE`` as root), and
beyond four times the backlog datagrams are dropped and counted. Kernel drops of each UDP socket are read from
``/proc/net/udp``. RELP messages are acknowledged only once the sink says they are in the archive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Protocol, cast

from mamori.config.syslog import Listener, TlsSettings
from mamori.ingest.framing import RelpFramer, RelpProtocolError, StreamFramer

__all__ = ["Item", "ReceiverStats", "Sink", "SourceStats", "SyslogReceiver", "tls_context", "udp_kernel_drops"]

log = logging.getLogger(__name__)

Item = tuple[float, str, str, int, bytes]
"""(received_at, transport, sender address, sender port, raw bytes)."""

Ack = tuple["_RelpProtocol", int]

_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_MAX_SOURCES = 4096
_TRANSPORT = itemgetter(1)
_SENDER = itemgetter(2)
_RELP_OFFER = b"200 OK\nrelp_version=0\nrelp_software=mamori\ncommands=syslog"


class Sink(Protocol):
    """Where received batches go (the archive writer). Called on the loop's thread only."""

    def put(self, batch: list[Item], acks: list[Ack]) -> None: ...

    def backlog(self) -> int:
        """Messages handed over and not yet written."""
        ...


@dataclass
class SourceStats:
    messages: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0


@dataclass
class ReceiverStats:
    received: Counter[str] = field(default_factory=Counter)  # per transport
    dropped: dict[str, int] = field(default_factory=dict)  # per reason
    truncated: int = 0
    connections: int = 0
    connections_total: int = 0
    sources: dict[str, SourceStats] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    """A server context: TLS 1.2 or newer; with ``ca``, senders must present a certificate signed by it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(settings.cert), str(settings.key))
    if settings.ca is not None:
        context.load_verify_locations(str(settings.ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def udp_kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped for this socket (its receive buffer was full), from /proc/net/udp[6]."""
    try:
        inode = os.fstat(sock.fileno()).st_ino
    except OSError:
        return None
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[9] == str(inode):
                return int(fields[-1])
    return None


class SyslogReceiver:
    """All listeners of the ``syslog:`` section. Create, ``await start()``, later ``await stop()``."""

    def __init__(
        self,
        listeners: Sequence[Listener],
        sink: Sink,
        *,
        tls: ssl.SSLContext | None = None,
        max_message_size: int = 65536,
        udp_buffer_bytes: int = 32 << 20,
        max_connections: int = 1000,
        max_backlog: int = 200_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.listeners = list(listeners)
        self.sink = sink
        self.tls = tls
        self.max_message_size = max_message_size
        self.udp_buffer_bytes = udp_buffer_bytes
        self.max_connections = max_connections
        self.max_backlog = max_backlog
        self.clock = clock
        self.stats = ReceiverStats()
        self.udp_sockets: list[tuple[str, socket.socket]] = []
        self.bound: list[str] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._datagram: list[asyncio.DatagramTransport] = []
        self._streams: set[_StreamBase] = set()
        self._batch: list[Item] = []
        self._acks: list[Ack] = []
        self._scheduled = False
        self._paused = False
        self._udp_blocked = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> list[str]:
        self._loop = asyncio.get_running_loop()
        for listener in self.listeners:
            if listener.scheme == "udp":
                await self._start_udp(listener)
            else:
                await self._start_stream(listener)
        self._loop.call_later(0.05, self._watch_backlog)
        return self.bound

    async def _start_udp(self, listener: Listener) -> None:
        loop = self._running_loop()
        family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, self.udp_buffer_bytes)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.udp_buffer_bytes)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        if granted < self.udp_buffer_bytes // 2:
            log.warning(
                "%s: the kernel granted a %d KiB receive buffer, not %d KiB; run as root or raise net.core.rmem_max",
                listener.url,
                granted // 1024,
                self.udp_buffer_bytes // 1024,
            )
        try:
            sock.bind((listener.host, listener.port))
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"cannot listen on {listener.url}: {exc.strerror}") from exc
        sock.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=sock)
        self._datagram.append(transport)
        self.udp_sockets.append((listener.url, sock))
        self.bound.append(_url(listener, sock.getsockname()))

    async def _start_stream(self, listener: Listener) -> None:
        loop = self._running_loop()
        context = self.tls if listener.uses_tls else None
        if listener.uses_tls and context is None:
            raise ValueError(f"{listener.url}: no TLS certificate configured")
        factory: Callable[[], asyncio.Protocol]
        if listener.scheme.startswith("relp"):
            factory = lambda: _RelpProtocol(self, listener.scheme)  # noqa: E731
        else:
            factory = lambda: _SyslogStreamProtocol(self, listener.scheme)  # noqa: E731
        try:
            server = await loop.create_server(
                factory, listener.host, listener.port, ssl=context, reuse_address=True, backlog=512
            )
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {listener.url}: {exc.strerror}") from exc
        self._servers.append(server)
        for sock in server.sockets:
            self.bound.append(_url(listener, sock.getsockname()))

    async def stop(self, drain: float = 0.3) -> None:
        """Stop listening; read what the kernel still holds for up to ``drain`` seconds; hand the last batch over."""
        for server in self._servers:
            server.close()
        deadline = time.monotonic() + drain
        last = -1
        while time.monotonic() < deadline:
            total = sum(self.stats.received.values())
            if total == last:
                break
            last = total
            await asyncio.sleep(0.05)
        for transport in self._datagram:
            transport.close()
        for stream in list(self._streams):
            stream.close()
        self._handoff()

    # -- the hot path -------------------------------------------------------------------------------------------

    def add(self, item: Item) -> None:
        self._batch.append(item)
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        self._scheduled = True
        self._running_loop().call_soon(self._handoff)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the receiver has not been started")
        return self._loop

    def add_acked(self, item: Item, ack: Ack) -> None:
        self._acks.append(ack)
        self.add(item)

    def _handoff(self) -> None:
        self._scheduled = False
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        acks, self._acks = self._acks, []
        stats = self.stats
        stats.received.update(Counter(map(_TRANSPORT, batch)))
        sources = stats.sources
        last = batch[-1][0]
        for sender, n in Counter(map(_SENDER, batch)).items():
            name = sender if sender in sources or len(sources) < _MAX_SOURCES else "(other)"
            source = sources.get(name)
            if source is None:
                source = sources[name] = SourceStats(first_seen=last)
            source.messages += n
            source.last_seen = last
        self.sink.put(batch, acks)

    def _watch_backlog(self) -> None:
        backlog = self.sink.backlog()
        if not self._paused and backlog > self.max_backlog:
            self._paused = True
            for stream in self._streams:
                stream.pause()
            log.warning("archive backlog %d: pausing TCP senders until it drains", backlog)
        elif self._paused and backlog < self.max_backlog // 2:
            self._paused = False
            for stream in self._streams:
                stream.resume()
            log.info("archive backlog %d: TCP senders resumed", backlog)
        self._udp_blocked = backlog > 4 * self.max_backlog
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_later(0.02 if self._paused else 0.05, self._watch_backlog)

    def acknowledge(self, acks: list[Ack]) -> None:
        """Called (on the loop) once the messages behind ``acks`` are in the archive."""
        for protocol, txnr in acks:
            protocol.acked(txnr)


def _url(listener: Listener, sockname: Any) -> str:
    host, port = sockname[0], sockname[1]
    return f"{listener.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: SyslogReceiver) -> None:
        self.receiver = receiver
        self.max_size = receiver.max_message_size
        self.clock = receiver.clock

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        # The hot path of UDP: stamp and append; everything else happens once per batch.
        receiver = self.receiver
        if receiver._udp_blocked:
            receiver.stats.drop("udp: archive backlog full")
            return
        if len(data) > self.max_size:
            data = data[: self.max_size]
            receiver.stats.truncated += 1
        receiver._batch.append((self.clock(), "udp", addr[0], addr[1], data))
        if not receiver._scheduled:
            receiver._schedule()

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP receive error: %s", exc)


class _StreamBase(asyncio.Protocol):
    def __init__(self, receiver: SyslogReceiver, scheme: str) -> None:
        self.receiver = receiver
        self.scheme = scheme
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("?", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        stats = self.receiver.stats
        if stats.connections >= self.receiver.max_connections:
            stats.drop("connections refused: too many")
            self.transport.abort()
            return
        stats.connections += 1
        stats.connections_total += 1
        self.receiver._streams.add(self)
        if self.receiver._paused:
            self.pause()

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.receiver._streams:
            self.receiver._streams.discard(self)
            self.receiver.stats.connections -= 1
        self.transport = None

    def pause(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _SyslogStreamProtocol(_StreamBase):
    def __init__(self, receiver: SyslogReceiver, scheme: str) -> None:
        super().__init__(receiver, scheme)
        self.framer = StreamFramer(receiver.max_message_size)

    def data_received(self, data: bytes) -> None:
        messages = self.framer.feed(data)
        if self.framer.truncated:
            self.receiver.stats.truncated += self.framer.truncated
            self.framer.truncated = 0
        if messages:
            now = self.receiver.clock()
            host, port = self.peer
            scheme = self.scheme
            add = self.receiver.add
            for message in messages:
                add((now, scheme, host, port, message))

    def eof_received(self) -> bool | None:
        self._finish()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()
        super().connection_lost(exc)

    def _finish(self) -> None:
        last = self.framer.finish()
        if last:
            self.receiver.add((self.receiver.clock(), self.scheme, self.peer[0], self.peer[1], last))


class _RelpProtocol(_StreamBase):
    """RELP server side: ``open`` is answered with our offers, each ``syslog`` with 200 once archived, ``close``
    with an empty response before the connection is closed."""

    def __init__(self, receiver: SyslogReceiver, scheme: str) -> None:
        super().__init__(receiver, scheme)
        self.framer = RelpFramer(receiver.max_message_size)
        self.opened = False
        self.unacked = 0
        self.closing_txnr: int | None = None  # a ``close`` waiting for the last acknowledgements

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.framer.feed(data)
        except RelpProtocolError as exc:
            log.warning("RELP from %s: %s; closing the connection", self.peer[0], exc)
            self.receiver.stats.drop("relp: protocol errors")
            self.close()
            return
        for frame in frames:
            if frame.command == "open":
                self.opened = True
                self.respond(frame.txnr, _RELP_OFFER)
            elif frame.command == "syslog" and self.opened:
                raw = frame.data
                if len(raw) > self.receiver.max_message_size:
                    raw = raw[: self.receiver.max_message_size]
                    self.receiver.stats.truncated += 1
                item = (self.receiver.clock(), self.scheme, self.peer[0], self.peer[1], raw)
                self.unacked += 1
                self.receiver.add_acked(item, (self, frame.txnr))
            elif frame.command == "close":
                self.closing_txnr = frame.txnr
                self._maybe_close()
            else:
                self.respond(frame.txnr, b"500 command not supported")

    def acked(self, txnr: int) -> None:
        self.unacked -= 1
        self.respond(txnr, b"200 OK")
        self._maybe_close()

    def _maybe_close(self) -> None:
        if self.closing_txnr is not None and self.unacked <= 0:
            self.respond(self.closing_txnr, b"")
            self.closing_txnr = None
            super().close()

    def close(self) -> None:
        """The server is stopping: tell the peer (it will resend what was not acknowledged)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"0 serverclose 0\n")
        super().close()

    def respond(self, txnr: int, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if data:
            self.transport.write(b"%d rsp %d %s\n" % (txnr, len(data), data))
        else:
            self.transport.write(b"%d rsp 0\n" % txnr)
