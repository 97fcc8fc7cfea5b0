"""A simulated switch for the blocking tests: snmpsim serving the recorded walk in data/snmp (IF-MIB, BRIDGE-MIB,
Q-BRIDGE-MIB of a 26-port access switch), ifAdminStatus and dot1qPvid writable through snmpsim's writecache
module, SNMPv2c (community: the file's name) and SNMPv3 authPriv (SHA-256, AES-128; context: the file's name)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data" / "snmp"
COMMUNITY = "floor2-access"
V3_USER = "mamori-block"
V3_AUTH = "auth-key-for-tests-1"
V3_PRIV = "priv-key-for-tests-2"


@dataclass(frozen=True)
class Agent:
    port: int
    keys: Path  # a folder holding community, auth.key and priv.key (chmod 600)

    def switch_yaml(self, version: str, *, extra: str = "") -> str:
        if version == "2c":
            snmp = f'{{version: "2c", port: {self.port}, community_file: {self.keys / "community"}, timeout: 2}}'
        else:
            snmp = (
                f'{{version: "3", port: {self.port}, user: {V3_USER}, auth_protocol: sha256, '
                f"auth_key_file: {self.keys / 'auth.key'}, priv_protocol: aes128, "
                f"priv_key_file: {self.keys / 'priv.key'}, context: {COMMUNITY}, timeout: 2}}"
            )
        return (
            f"switches:\n  - name: floor2-access\n    address: 127.0.0.1\n    snmp: {snmp}\n"
            f"    uplinks: [Gi1/0/25, Gi1/0/26]\n    protect: [Gi1/0/7]\n{extra}"
        )


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def simulated_switch(
    tmp: Path, *, netns: str | None = None, port: int | None = None, records: str | None = None
) -> Iterator[Agent]:
    """snmpsim serving the recorded walk (or ``records``: another switch's .snmprec text, OIDs in order)."""
    responder = shutil.which("snmpsim-command-responder", path=str(Path(sys.executable).parent))
    if responder is None:
        raise RuntimeError("snmpsim is not installed (pip install -e '.[test]')")
    data, cache, keys = tmp / "snmp-data", tmp / "snmp-cache", tmp / "snmp-keys"
    shutil.copytree(DATA, data)
    if records is not None:
        (data / f"{COMMUNITY}.snmprec").write_text(records, encoding="utf-8")
    cache.mkdir()
    keys.mkdir()
    for name, value in (("community", COMMUNITY), ("auth.key", V3_AUTH), ("priv.key", V3_PRIV)):
        (keys / name).write_text(value + "\n")
        (keys / name).chmod(0o600)
    port = port or _free_udp_port()
    argv = [
        responder,
        f"--data-dir={data}",
        f"--cache-dir={cache}",
        f"--agent-udpv4-endpoint=127.0.0.1:{port}",
        f"--v3-user={V3_USER}",
        f"--v3-auth-key={V3_AUTH}",
        "--v3-auth-proto=SHA256",
        f"--v3-priv-key={V3_PRIV}",
        "--v3-priv-proto=AES",
        f"--variation-module-options=writecache:file:{cache / 'written'}",
        "--logging-method=null",
    ]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    # snmpsim refuses to run as root unless told; the test runs as root (network namespaces) and the simulator
    # only listens on a loopback address.
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_ready(proc, port, netns)
        yield Agent(port, keys)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, netns: str | None) -> None:
    probe = (
        "import asyncio\n"
        "from pysnmp.hlapi.v3arch.asyncio import *\n"
        "async def m():\n"
        f"    t = await UdpTransportTarget.create(('127.0.0.1', {port}), timeout=0.5, retries=0)\n"
        f"    r = await get_cmd(SnmpEngine(), CommunityData('{COMMUNITY}'), t, ContextData(),"
        " ObjectType(ObjectIdentity('1.3.6.1.2.1.1.5.0')))\n"
        "    raise SystemExit(0 if not r[0] and not r[1] else 1)\n"
        "asyncio.run(m())\n"
    )
    argv = [sys.executable, "-c", probe]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"snmpsim stopped: {proc.stderr.read().decode(errors='replace') if proc.stderr else ''}")
        if subprocess.run(argv, capture_output=True, timeout=30).returncode == 0:
            return
        time.sleep(0.3)
    raise RuntimeError("snmpsim did not answer within 60 s")


def admin_status(agent: Agent, if_index: int, *, netns: str | None = None) -> int:
    """ifAdminStatus of one port as the simulated switch holds it now (read with SNMPv2c)."""
    return int(_get(agent, f"1.3.6.1.2.1.2.2.1.7.{if_index}", netns))


def pvid(agent: Agent, bridge_port: int, *, netns: str | None = None) -> int:
    return int(_get(agent, f"1.3.6.1.2.1.17.7.1.4.5.1.1.{bridge_port}", netns))


def _get(agent: Agent, oid: str, netns: str | None) -> str:
    code = (
        "import asyncio\n"
        "from pysnmp.hlapi.v3arch.asyncio import *\n"
        "async def m():\n"
        f"    t = await UdpTransportTarget.create(('127.0.0.1', {agent.port}), timeout=2, retries=1)\n"
        f"    r = await get_cmd(SnmpEngine(), CommunityData('{COMMUNITY}'), t, ContextData(),"
        f" ObjectType(ObjectIdentity('{oid}')))\n"
        "    assert not r[0] and not r[1], r\n"
        "    print(r[3][0][1].prettyPrint())\n"
        "asyncio.run(m())\n"
    )
    argv = [sys.executable, "-c", code]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout.strip()
