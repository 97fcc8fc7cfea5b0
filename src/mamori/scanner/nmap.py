"""Run the real nmap over exactly the scope of the site model (``scan:``), never a shell.

The argument list is built from the validated :class:`mamori.model.ScanScope` only: its targets and excluded
networks are address or network texts the settings loader checked (no host names, nothing from packets or logs),
its rate and ports are integers. nmap writes its XML to a temporary file that the caller reads
(``mamori.ingest.nmap_xml``) and this module deletes.

- ``-n``: no DNS lookups (no packets to the name servers, no names an attacker controls).
- ``-sS`` as root (half-open: the service never sees a finished connection), else ``-sT``.
- ``--max-rate``: the scope's rate; ``--max-retries 2``: a lost probe is tried twice more, not ten times.
- ``--exclude``: the scope's exclude list, the medical segments not named included.
- ``-sV --version-light`` when ``version_detection``: the product and version of what answered.
- ``-oX FILE --no-stylesheet``: the XML, without a stylesheet reference to a local file.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mamori.errors import MamoriError
from mamori.model import ScanScope

__all__ = ["NmapError", "NmapRun", "nmap_argv", "run_nmap", "source_address"]

_STDERR_MAX = 2000


class NmapError(MamoriError):
    """nmap could not be started, failed, or ran past its time."""


@dataclass(frozen=True)
class NmapRun:
    """A finished nmap run: the argument list, the XML it wrote (the caller deletes it with ``cleanup``), how
    long it took, and what it said on stderr (warnings)."""

    argv: tuple[str, ...]
    xml: Path
    seconds: float
    stderr: str

    def cleanup(self) -> None:
        self.xml.unlink(missing_ok=True)


def _privileged() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def nmap_argv(scope: ScanScope, xml: Path, *, nmap: str = "nmap", privileged: bool | None = None) -> list[str]:
    """The argument list for ``scope`` writing its XML to ``xml``. Raises ValueError for a target or an excluded
    entry that is not an address or a network (the loader never lets one through; this is the last guard)."""
    for text in (*scope.targets, *scope.exclude):
        ipaddress.ip_network(text, strict=False)  # raises ValueError: nothing else may reach nmap's argv
    if not scope.ports or not all(isinstance(p, int) and 1 <= p <= 65535 for p in scope.ports):
        raise ValueError("the scan needs ports within 1-65535")
    root = _privileged() if privileged is None else privileged
    argv = [
        nmap,
        "-n",
        "-sS" if root else "-sT",
        "-p",
        "T:" + ",".join(str(p) for p in sorted(set(scope.ports))),
        "--max-rate",
        str(int(scope.rate)),
        "--max-retries",
        "2",
        "-oX",
        str(xml),
        "--no-stylesheet",
    ]
    versions = {ipaddress.ip_network(t, strict=False).version for t in scope.targets}
    if len(versions) != 1:
        raise ValueError("one scan covers IPv4 or IPv6 targets, not both")
    if versions == {6}:
        argv.append("-6")
    if scope.version_detection:
        argv += ["-sV", "--version-light"]
    if scope.exclude:
        argv += ["--exclude", ",".join(scope.exclude)]
    argv += list(scope.targets)
    return argv


def run_nmap(scope: ScanScope, *, nmap: str | None = None, workdir: Path | None = None) -> NmapRun:
    """Run nmap over ``scope`` and wait for it (at most ``scope.timeout`` seconds). Raises :class:`NmapError`."""
    binary = nmap or shutil.which("nmap")
    if binary is None:
        raise NmapError("nmap is not installed (Debian: apt install nmap) / nmap がインストールされていません")
    fd, name = tempfile.mkstemp(prefix="mamori-scan-", suffix=".xml", dir=workdir)
    os.close(fd)
    xml = Path(name)
    argv = nmap_argv(scope, xml, nmap=binary)
    began = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=scope.timeout, check=False)
    except subprocess.TimeoutExpired:
        xml.unlink(missing_ok=True)
        raise NmapError(f"nmap ran longer than {scope.timeout:.0f} s and was stopped (scan.timeout)") from None
    except OSError as exc:
        xml.unlink(missing_ok=True)
        raise NmapError(f"nmap could not be started ({binary}): {exc.strerror}") from None
    stderr = done.stderr.strip()[:_STDERR_MAX]
    if done.returncode != 0:
        xml.unlink(missing_ok=True)
        raise NmapError(f"nmap failed (exit status {done.returncode}): {stderr or 'no message'}")
    return NmapRun(tuple(argv), xml, time.monotonic() - began, stderr)


def source_address(targets: Sequence[str]) -> str | None:
    """The address this machine would send from to reach the first target (from the routing table: a UDP socket
    ``connect`` sends nothing). None if there is no route."""
    for text in targets:
        net = ipaddress.ip_network(text, strict=False)
        family = socket.AF_INET6 if net.version == 6 else socket.AF_INET
        probe = net.network_address if net.num_addresses == 1 else net.network_address + 1
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((str(probe), 9))
                return str(sock.getsockname()[0])
        except OSError:
            continue
    return None
