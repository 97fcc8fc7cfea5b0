"""The receiver on its own, with a sink the test controls: back-pressure on TCP, UDP drops when the backlog is
full, per-source counts."""

from __future__ import annotations

import asyncio
import socket

import uvloop

from mamori.config.syslog import parse_listener
from mamori.ingest.syslog_server import Ack, Item, SyslogReceiver


class SlowSink:
    """Keeps what it is given; reports whatever backlog the test sets."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.pending = 0

    def put(self, batch: list[Item], acks: list[Ack]) -> None:
        self.items.extend(batch)

    def backlog(self) -> int:
        return self.pending


def free_port() -> int:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        port: int = tcp.getsockname()[1]
        udp.bind(("127.0.0.1", port))
    return port


async def _until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return False


async def _scenario(port: int) -> None:
    sink = SlowSink()
    listeners = [parse_listener(f"tcp://127.0.0.1:{port}"), parse_listener(f"udp://127.0.0.1:{port}")]
    receiver = SyslogReceiver(listeners, sink, max_backlog=1000)
    await receiver.start()
    loop = asyncio.get_running_loop()
    client = socket.create_connection(("127.0.0.1", port))
    client.setblocking(False)
    line = b"<13>Nov 23 10:00:00 host app: " + b"x" * 200 + b"\n"
    await loop.sock_sendall(client, line * 10)
    assert await _until(lambda: len(sink.items) == 10)

    sink.pending = 5000  # the archive is behind: TCP senders must be paused
    assert await _until(lambda: receiver._paused)
    total = 100_000  # 23 MB: more than the kernel buffers of both ends can hold
    sending = loop.create_task(loop.sock_sendall(client, line * total))
    await asyncio.sleep(0.5)
    assert not sending.done()  # the sender is blocked by TCP flow control, not buffered in our memory
    held = len(sink.items)
    assert held < 10 + total

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.pending = 4 * 1000 + 1  # beyond four times the backlog: UDP is dropped and counted
    await asyncio.sleep(0.15)
    udp.sendto(b"<13>dropped", ("127.0.0.1", port))
    assert await _until(lambda: receiver.stats.dropped.get("udp: archive backlog full") == 1)

    sink.pending = 0  # the archive caught up: everything arrives
    await sending
    assert await _until(lambda: len(sink.items) == 10 + total)
    assert receiver.stats.received["tcp"] == 10 + total
    assert receiver.stats.sources["127.0.0.1"].messages == 10 + total
    client.close()
    udp.close()
    await receiver.stop()


def test_tcp_back_pressure_and_udp_drops_when_the_archive_is_behind() -> None:
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(_scenario(free_port()))
    finally:
        loop.close()
