"""Observation builders for detector tests."""

from __future__ import annotations

from mamori.model import SYN, ArpObservation, ConnectionAttempt, PortResponse

SERVER = "10.77.0.11"
SERVER_MAC = "02:42:00:00:00:11"
TERMINAL = ("02:42:00:00:00:02", "10.77.0.12")
STRANGER = ("02:66:00:00:be:ef", "10.77.0.200")
ROUTER = ("02:42:00:00:00:01", "10.77.0.1")

SITE = f"""
gateways:
  - {{name: core-router, mac: "{ROUTER[0]}", ip: {ROUTER[1]}}}
systems:
  - name: 透析システム
    servers: [{{ip: {SERVER}, mac: "{SERVER_MAC}"}}]
    ports: [6000]
    terminals:
      - {{name: dialysis-pc-1, mac: "{TERMINAL[0]}", ip: {TERMINAL[1]}}}
      - {{name: roaming-pc, mac: "02:42:00:00:00:03"}}
      - {{name: vpn-admin, mac: "02:42:00:00:00:04", ip: 10.20.0.5}}
  - name: 検査システム
    servers: [10.77.0.21]
    ports: [443, 8080]
"""


def syn(
    ts: float,
    src: tuple[str | None, str],
    dport: int = 6000,
    dst: str = SERVER,
    *,
    sport: int = 40000,
    flags: int = SYN,
    hlen: int = 40,
    proto: str = "tcp",
    action: str | None = None,
) -> ConnectionAttempt:
    mac, ip = src
    return ConnectionAttempt(ts, mac, SERVER_MAC, ip, dst, proto, sport, dport, flags, hlen, None, action)


def synack(ts: float, client: str, sport: int, server: str = SERVER, port: int = 6000) -> PortResponse:
    return PortResponse(ts, "synack", "tcp", SERVER_MAC, server, port, client, sport)


def client_rst(ts: float, client: str, sport: int, server: str = SERVER, port: int = 6000) -> PortResponse:
    return PortResponse(ts, "rst", "tcp", None, client, sport, server, port)


def arp_claim(ts: float, mac: str, ip: str, *, op: int = 2, gratuitous: bool = False) -> ArpObservation:
    target_ip = ip if gratuitous else "10.77.0.99"
    return ArpObservation(ts, op, mac, mac, ip, "ff:ff:ff:ff:ff:ff", target_ip)
