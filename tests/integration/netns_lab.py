"""Building blocks of the namespace labs (test_zones_netns, test_lateral_netns, test_lan_netns): a router namespace
whose every port's ingress is copied to a sensor namespace (tc mirred), hosts behind it with listeners, and
`mamori watch` on the mirror from start to a clean stop. Each test keeps its own addresses, ruleset and names."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import MAMORI

__all__ = ["RoutedHost", "ip", "listener_code", "routed_lab", "sensor_watching"]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _in(ns: str, *cmd: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True, text=True, timeout=30)


def listener_code(ports: Sequence[int]) -> str:
    """A Python program that accepts TCP connections on ``ports`` (every address), reads a little and closes."""
    return textwrap.dedent(f"""
        import socket, threading
        def serve(port):
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", port)); s.listen(64)
            while True:
                c, _ = s.accept()
                try:
                    c.settimeout(1); c.recv(100)
                except OSError:
                    pass
                c.close()
        for port in {list(ports)}:
            threading.Thread(target=serve, args=(port,), daemon=True).start()
        threading.Event().wait()
    """)


@dataclass(frozen=True)
class RoutedHost:
    """A host namespace behind the router: the router's interface toward it and its address there (the host's
    gateway), the host's addresses (/24) and the TCP ports it listens on."""

    name: str
    router_if: str
    gateway: str
    addresses: tuple[str, ...]
    ports: tuple[int, ...] = ()


@contextmanager
def routed_lab(
    router: str, sensor: str, hosts: Sequence[RoutedHost], ns_of: Callable[[str], str], ruleset: str
) -> Iterator[None]:
    """Make the router (forwarding, nftables ``ruleset``), the sensor with its ``mirror`` interface and every host
    (namespace ``ns_of(host.name)``, interface eth0, default route via the router); every frame entering the router
    from a host is copied to the sensor. Everything is taken down afterwards."""
    namespaces = [router, sensor, *(ns_of(h.name) for h in hosts)]
    listeners: list[subprocess.Popen[bytes]] = []
    try:
        for ns in namespaces:
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            _in(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        _in(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ip("link", "add", "mir", "netns", router, "type", "veth", "peer", "name", "mirror", "netns", sensor)
        ip("-n", router, "link", "set", "mir", "up")
        ip("-n", sensor, "link", "set", "mirror", "up")
        for h in hosts:
            ns = ns_of(h.name)
            ip("link", "add", h.router_if, "netns", router, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("-n", router, "addr", "add", f"{h.gateway}/24", "dev", h.router_if)
            ip("-n", router, "link", "set", h.router_if, "up")
            for address in h.addresses:
                ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "route", "add", "default", "via", h.gateway)
            # The mirror: a copy of every frame entering the router on this port goes out of "mir" to the sensor.
            _in(router, "tc", "qdisc", "add", "dev", h.router_if, "handle", "ffff:", "ingress")
            _in(
                router,
                *("tc", "filter", "add", "dev", h.router_if, "parent", "ffff:", "protocol", "all"),
                *("u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", "mir"),
            )
            if h.ports:
                code = listener_code(h.ports)
                listeners.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code]))
        subprocess.run(["ip", "netns", "exec", router, "nft", "-f", "-"], input=ruleset, text=True, check=True)
        time.sleep(0.5)
        yield
    finally:
        for listener in listeners:
            listener.kill()
            listener.wait()
        for ns in namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@contextmanager
def sensor_watching(
    ns: str, config: Path, *, settle: float = 1.5, clean_exit: bool = True, ready: str = "capturing on mirror"
) -> Iterator[list[str]]:
    """`mamori watch` in the namespace, from start (the log line with ``ready``: by default capturing on the mirror
    interface) to a SIGTERM stop; yields its log lines as they come. ``settle``: seconds left before the stop for
    the alerts to reach the store (the sensor writes about once a second). ``clean_exit``: the sensor must exit
    with status 0."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, MAMORI, "watch", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if ready in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not started.wait(30):
            proc.kill()
            raise AssertionError("the sensor did not start:\n" + "".join(lines))
        yield lines
        time.sleep(settle)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(10)
    if clean_exit:
        assert proc.returncode == 0, "".join(lines)
