"""How long `mamori scan` takes over a /24 with the defaults (rate 100 packets/s, the default port set, version
detection), in network namespaces made here: 254 addresses on one bridge, of which 4 are live hosts with
listeners (23, 445, 1433, 3389, 8443). Printed next to nmap alone with the same arguments (from the run's argv),
measured in the same run: the difference is mamori's reading, judging and storing.

Run as root: .venv/bin/python benchmarks/bench_scan.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BR = "i12bbr"
SCANNER = ("i12bsc", "10.63.1.200")
LIVE = [("i12bh1", "10.63.1.10"), ("i12bh2", "10.63.1.20"), ("i12bh3", "10.63.1.30"), ("i12bh4", "10.63.1.40")]
LISTENER = textwrap.dedent("""
    import selectors, socket, sys
    sel = selectors.DefaultSelector()
    for port in (23, 445, 1433, 3389, 8443):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((sys.argv[1], port)); s.listen(64); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            try:
                c, _ = key.fileobj.accept(); c.close()
            except OSError:
                pass
""")
SITE = """\
systems:
  - {name: 透析, servers: [10.63.1.10], ports: [8443]}
scan:
  targets: [10.63.1.0/24]
storage:
  path: mamori.db
"""


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def main() -> None:
    names = [SCANNER, *LIVE]
    for ns, _ in names:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", BR], capture_output=True, check=False)
    procs = []
    try:
        sh("ip", "netns", "add", BR)
        sh("ip", "netns", "exec", BR, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", BR, "ip", "link", "set", "br0", "up")
        for i, (ns, addr) in enumerate(names):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", f"i12bv{i}", "netns", BR, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "netns", "exec", BR, "ip", "link", "set", f"i12bv{i}", "master", "br0", "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        for ns, addr in LIVE:
            p = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-c", LISTENER, addr], stdout=subprocess.PIPE
            )
            assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
            procs.append(p)
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "site.yaml"
            config.write_text(SITE, encoding="utf-8")
            mamori = str(Path(sys.executable).with_name("mamori"))
            began = time.monotonic()
            out = subprocess.run(
                ["ip", "netns", "exec", SCANNER[0], mamori, "scan", "-c", str(config), "--json", "--no-act"],
                capture_output=True,
                text=True,
                check=True,
            )
            ours = time.monotonic() - began
            run = json.loads(out.stdout)
            with sqlite_argv(Path(folder) / "mamori.db") as argv:
                xml = Path(folder) / "ref.xml"
                argv[argv.index("-oX") + 1] = str(xml)
                began = time.monotonic()
                subprocess.run(["ip", "netns", "exec", SCANNER[0], *argv], capture_output=True, check=True)
                reference = time.monotonic() - began
        print(
            f"hosts up: {len(run['hosts'])} of 254 addresses; ports per host: {len(run['ports'])}; rate {run['rate']}/s"
        )
        print(f"mamori scan (nmap + read + judge + store, process start included): {ours:6.1f} s")
        print(f"nmap alone, same arguments:                                       {reference:6.1f} s")
    finally:
        for p in procs:
            p.kill()
        for ns, _ in names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", BR], capture_output=True, check=False)


class sqlite_argv:  # noqa: N801 - a small context manager reading the stored run's argv
    def __init__(self, db: Path) -> None:
        self.db = db

    def __enter__(self) -> list[str]:
        import sqlite3

        with sqlite3.connect(self.db) as c:
            return list(json.loads(c.execute("SELECT argv FROM mamori_scan_run ORDER BY id DESC").fetchone()[0]))

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main()
