"""nmap's XML output (``-oX``) read into a :class:`mamori.model.ScanReport`, safely.

The file is read with defusedxml (no entity expansion, no external entities, no DTD retrieval: an nmap XML file is
text an attacker's service helped write). Only what the exposure judgement needs is kept: per host that is up its
address, MAC, first host name, and every port with its state, service name, product and version, each cut to a
bounded length. A file that is not nmap's XML, or is cut short (nmap killed, disk full), raises
:class:`NmapXmlError` naming the file, line and column; nothing is guessed from a damaged file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from mamori.errors import MamoriError
from mamori.model import ScanHost, ScanPort, ScanReport

__all__ = ["NmapXmlError", "read_nmap_xml"]

_TEXT_MAX = 200  # characters kept of a host name, service, product or version


class NmapXmlError(MamoriError):
    """nmap's XML could not be read: the message names the file, the place and the reason."""


def _text(value: str | None) -> str:
    if not value:
        return ""
    value = value.strip()
    return value if len(value) <= _TEXT_MAX else value[:_TEXT_MAX] + "…"


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _host(elem: ET.Element) -> ScanHost | None:
    status = elem.find("status")
    state = status.get("state", "") if status is not None else ""
    address = mac = ""
    for addr in elem.findall("address"):
        kind = addr.get("addrtype")
        if kind in ("ipv4", "ipv6") and not address:
            address = addr.get("addr", "")
        elif kind == "mac":
            mac = addr.get("addr", "").lower()
    if not address:
        return None
    name = elem.find("hostnames/hostname")
    ports = []
    for port in elem.findall("ports/port"):
        st = port.find("state")
        service = port.find("service")
        number = port.get("portid", "")
        if not number.isdigit() or st is None:
            continue
        ports.append(
            ScanPort(
                proto=port.get("protocol", "tcp"),
                port=int(number),
                state=_text(st.get("state")),
                service=_text(service.get("name")) if service is not None else "",
                product=_text(service.get("product")) if service is not None else "",
                version=_text(service.get("version")) if service is not None else "",
            )
        )
    return ScanHost(
        address=address,
        status=state,
        hostname=_text(name.get("name")) if name is not None else "",
        mac=mac,
        ports=tuple(ports),
    )


class _Run:
    """What the reader has found so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hosts: list[ScanHost] = []
        self.started: float | None = None
        self.finished: float | None = None
        self.args = self.version = ""
        self.up = self.down = 0
        self.seen_root = self.closed = False

    def start(self, elem: ET.Element) -> None:
        if self.seen_root:
            return
        if elem.tag != "nmaprun":
            raise NmapXmlError(f"{self.path}: not nmap's XML output (the first element is <{_text(elem.tag)}>)")
        self.seen_root = True
        self.started = _float(elem.get("start"))
        self.args = _text(elem.get("args"))
        self.version = _text(elem.get("version"))

    def end(self, elem: ET.Element) -> None:
        tag = elem.tag
        if tag == "host":
            host = _host(elem)
            if host is not None and host.status == "up":
                self.hosts.append(host)
            elem.clear()
        elif tag == "finished":
            self.finished = _float(elem.get("time"))
        elif tag == "hosts":
            self.up = _int(elem.get("up"))
            self.down = _int(elem.get("down"))
        elif tag == "nmaprun":
            self.closed = True


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def read_nmap_xml(path: Path) -> ScanReport:
    """Read one nmap XML file. Raises :class:`NmapXmlError` for a file that is damaged, cut short or not nmap's."""
    run = _Run(path)
    try:
        for event, elem in iterparse(str(path), events=("start", "end"), forbid_dtd=False):
            if event == "start":
                run.start(elem)
            else:
                run.end(elem)
    except ET.ParseError as exc:
        line, column = exc.position
        raise NmapXmlError(
            f"{path}:{line}:{column}: nmap's XML is damaged or cut short ({_text(str(exc))}); "
            f"{len(run.hosts)} host(s) read before it, none stored"
        ) from None
    except DefusedXmlException as exc:
        raise NmapXmlError(f"{path}: refused: the XML declares entities or a DTD ({type(exc).__name__})") from None
    except OSError as exc:
        raise NmapXmlError(f"{path}: cannot read: {exc.strerror}") from None
    if not run.seen_root or not run.closed:
        raise NmapXmlError(f"{path}: nmap's XML is cut short (no closing </nmaprun>); nothing stored")
    return ScanReport(
        started=run.started or 0.0,
        finished=run.finished,
        args=run.args,
        version=run.version,
        hosts=tuple(run.hosts),
        hosts_up=run.up or len(run.hosts),
        hosts_down=run.down,
        complete=run.finished is not None,
    )
