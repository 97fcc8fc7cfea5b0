"""Syslog collector throughput: sustained messages/s into the evidence archive with nothing lost, on UDP and TCP.

Runs the installed ``mamori collect`` (the real collector: uvloop receiver, archive writer thread, hash chain,
fsync every second, the detection process parsing every line) and, in the same run and on the same loopback
traffic, two references: a bare socket reader (a Python loop that only counts what it reads) and rsyslog
(imudp/imtcp writing a file), when rsyslogd is installed.

UDP: a paced sender offers a ladder of rates for a few seconds each; a rate passes when every message sent
reached the archive (or the reference). The result is the highest rate that passed. TCP: four connections send as
fast as they can (back-pressure makes TCP lossless); the result is messages archived per second.

The messages are a mix of RFC 3164, RFC 5424 and vendor firewall lines (Yamaha RTX, FortiGate, Cisco ASA/IOS,
Palo Alto, iptables), each carrying a unique number so that losses are counted exactly.

    python benchmarks/bench_syslog.py [--rates 20000,40000,...] [--seconds 4] [--tcp-messages 400000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAMORI = str(Path(sys.executable).with_name("mamori"))
TEMPLATES = (
    b"<134>Nov 23 10:00:00 rtx1 Rejected at IN(2000) filter: TCP 10.1.2.3:51000 > 10.1.9.9:%d n=%s",
    b'<189>date=2026-11-23 time=10:00:00 devname="FGT60F" logid="0000000013" type="traffic" subtype="forward" '
    b'srcip=10.1.2.4 srcport=51000 srcintf="port1" dstip=10.1.9.9 dstport=%d dstintf="port2" proto=6 '
    b'action="accept" n=%s',
    b"<166>Nov 23 2026 10:00:00: %%ASA-6-302013: Built inbound TCP connection 7 for outside:10.1.2.5/51000 "
    b"(10.1.2.5/51000) to inside:10.1.9.9/%d (10.1.9.9/443) n=%s",
    b"<13>Nov 23 10:00:00 host1 sshd[123]: Accepted password for admin port %d n=%s",
    b'<165>1 2026-11-23T10:00:00.123+09:00 host1 app 123 ID47 [ex@32473 iut="3"] event %d n=%s',
    b"<4>Nov 23 10:00:00 fw kernel: DROP IN=eth0 OUT= SRC=10.1.2.6 DST=10.1.9.9 LEN=60 PROTO=TCP SPT=51000 "
    b"DPT=%d SYN n=%s",
)
_N = re.compile(rb"n=(\w+-\d+)")


def message(tag: str, i: int) -> bytes:
    return TEMPLATES[i % len(TEMPLATES)] % (1 + i % 60000, f"{tag}-{i}".encode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


# -- senders (child processes) -----------------------------------------------------------------------------------


def udp_sender(port: int, tag: str, rate: int, seconds: float, result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    total = int(rate * seconds)
    payloads = [message(tag, i) for i in range(total)]
    address = ("127.0.0.1", port)
    start = time.perf_counter()
    sent = 0
    tick = 0.001
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + int(rate * tick))
        while sent < due:
            try:
                sock.sendto(payloads[sent], address)
            except BlockingIOError:
                continue
            sent += 1
        behind = sent / rate - (time.perf_counter() - start)
        if behind > 0:
            time.sleep(behind)
    result.put((sent, time.perf_counter() - start))


def tcp_sender(port: int, tag: str, first: int, count: int, result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    sock = socket.create_connection(("127.0.0.1", port))
    buf = []
    for i in range(first, first + count):
        buf.append(message(tag, i) + b"\n")
        if len(buf) >= 256:
            sock.sendall(b"".join(buf))
            buf = []
    if buf:
        sock.sendall(b"".join(buf))
    sock.close()
    result.put(count)


def bare_reader(proto: str, port: int, ready: Any, control: Any) -> None:  # noqa: PLR0912 - one flat loop reads best
    """The reference: read and count, nothing else (a large receive buffer, like the collector's). Answers
    ("count", tag) on ``control`` once nothing has arrived for half a second."""
    seen: set[bytes] = set()
    last = [time.monotonic()]
    rests: dict[socket.socket, bytes] = {}
    sel = selectors.DefaultSelector()
    if proto == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        sock.bind(("127.0.0.1", port))
    else:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(16)
    sel.register(sock, selectors.EVENT_READ)
    ready.set()
    pending: str | None = None
    while True:
        for key, _ in sel.select(0.05):
            fileobj = key.fileobj
            if proto == "udp":
                for _ in range(256):
                    try:
                        data = sock.recv(65536, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    m = _N.search(data)
                    if m:
                        seen.add(m.group(1))
                last[0] = time.monotonic()
                continue
            if fileobj is sock:
                conn, _ = sock.accept()
                sel.register(conn, selectors.EVENT_READ)
                rests[conn] = b""
                continue
            conn = fileobj  # type: ignore[assignment]
            data = conn.recv(1 << 20)
            if not data:
                sel.unregister(conn)
                conn.close()
                continue
            data = rests[conn] + data
            cut = data.rfind(b"\n")
            rests[conn] = data[cut + 1 :]
            seen.update(_N.findall(data[: cut + 1]))
            last[0] = time.monotonic()
        if pending is None and control.poll(0):
            request = control.recv()
            if request[0] == "stop":
                return
            pending = request[1]
        if pending is not None and time.monotonic() - last[0] > 0.5:
            prefix = f"{pending}-".encode()
            control.send(sum(1 for x in seen if x.startswith(prefix)))
            pending = None


# -- counting what arrived ---------------------------------------------------------------------------------------


def archived(root: Path, tag: str) -> set[bytes]:
    found: set[bytes] = set()
    needle = f"n={tag}-".encode()
    for path in root.rglob("*.log"):
        with path.open("rb") as f:
            for line in f:
                if needle in line:
                    m = _N.search(line)
                    if m:
                        found.add(m.group(1))
    return found


def in_file(path: Path, tag: str) -> set[bytes]:
    if not path.exists():
        return set()
    needle = f"n={tag}-".encode()
    return {m.group(1) for line in path.read_bytes().splitlines() if needle in line for m in [_N.search(line)] if m}


def settle(size: Callable[[], int], quiet: float = 1.5, timeout: float = 300.0) -> float:
    """Wait until ``size()`` stops growing for ``quiet`` seconds; return the moment it last grew."""
    last = size()
    grew = time.perf_counter()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = size()
        if now != last:
            last = now
            grew = time.perf_counter()
        elif time.perf_counter() - grew > quiet:
            break
    return grew


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.log"))


# -- targets ------------------------------------------------------------------------------------------------------


class Mamori:
    name = "mamori collect"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.udp = free_port()
        self.tcp = free_port()
        self.archive = folder / "archive"
        config = folder / "bench.yaml"
        config.write_text(
            f"storage: {{path: {folder / 'mamori.db'}}}\n"
            "syslog:\n"
            f'  listen: ["udp://127.0.0.1:{self.udp}", "tcp://127.0.0.1:{self.tcp}"]\n'
            f"  archive: {{path: {self.archive}, key: {folder / 'keys' / 'archive.key'}}}\n"
            "  stats_interval: 5s\n",
            encoding="utf-8",
        )
        self.log = (folder / "mamori.log").open("wb")
        self.proc = subprocess.Popen(
            [MAMORI, "collect", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=self.log
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b"listening on" in (folder / "mamori.log").read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError("mamori collect did not start: " + (folder / "mamori.log").read_text())

    def count(self, tag: str) -> int:
        settle(lambda: tree_size(self.archive))
        return len(archived(self.archive, tag))

    def settled(self) -> float:
        return settle(lambda: tree_size(self.archive))

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        self.log.close()


class Bare:
    name = "bare socket reader"

    def __init__(self, proto: str) -> None:
        self.port = free_port()
        self.udp = self.tcp = self.port
        ready = multiprocessing.Event()
        self.control, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=bare_reader, args=(proto, self.port, ready, child))
        self.proc.start()
        ready.wait(10)

    def count(self, tag: str) -> int:
        self.control.send(("count", tag))
        return int(self.control.recv())

    def close(self) -> None:
        self.control.send(("stop", None))
        self.proc.join(10)


class Rsyslog:
    name = "rsyslog (imudp/imtcp -> file)"

    def __init__(self, folder: Path) -> None:
        self.udp = free_port()
        self.tcp = free_port()
        self.out = folder / "rsyslog.out"
        conf = folder / "rsyslog.conf"
        conf.write_text(
            f'global(workDirectory="{folder}")\n'
            'module(load="imudp")\nmodule(load="imtcp")\n'
            f'input(type="imudp" port="{self.udp}" address="127.0.0.1" rcvbufSize="32m")\n'
            f'input(type="imtcp" port="{self.tcp}" address="127.0.0.1")\n'
            'template(name="raw" type="string" string="%rawmsg%\\n")\n'
            f'action(type="omfile" file="{self.out}" template="raw" asyncWriting="on" flushInterval="1" '
            'ioBufferSize="256k")\n',
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            ["rsyslogd", "-n", "-f", str(conf), "-i", str(folder / "rsyslog.pid")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)

    def count(self, tag: str) -> int:
        settle(lambda: self.out.stat().st_size if self.out.exists() else 0)
        return len(in_file(self.out, tag))

    def settled(self) -> float:
        return settle(lambda: self.out.stat().st_size if self.out.exists() else 0)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


# -- runs ---------------------------------------------------------------------------------------------------------


def udp_ladder(target: object, rates: list[int], seconds: float, label: str) -> tuple[int, list[str]]:
    best = 0
    lines = []
    for rate in rates:
        tag = f"{label}u{rate}"
        result: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        sender = multiprocessing.Process(target=udp_sender, args=(target.udp, tag, rate, seconds, result))  # type: ignore[attr-defined]
        sender.start()
        sent, elapsed = result.get(timeout=seconds * 10 + 60)
        sender.join()
        got = target.count(tag)  # type: ignore[attr-defined]
        lost = sent - got
        offered = sent / elapsed
        lines.append(f"    offered {offered:>9,.0f}/s for {elapsed:.1f} s: {sent:,} sent, {got:,} kept, {lost:,} lost")
        if lost:
            break
        best = max(best, int(offered))
    return best, lines


def tcp_run(target: object, total: int, label: str, connections: int = 4) -> tuple[float, int]:
    tag = f"{label}t"
    result: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    per = total // connections
    start = time.perf_counter()
    senders = [
        multiprocessing.Process(target=tcp_sender, args=(target.tcp, tag, k * per, per, result))  # type: ignore[attr-defined]
        for k in range(connections)
    ]
    for s in senders:
        s.start()
    for s in senders:
        s.join()
    expected = per * connections
    if isinstance(target, Bare):
        got = target.count(tag)
        elapsed = time.perf_counter() - start - 0.5
    else:
        elapsed = target.settled() - start  # type: ignore[attr-defined]
        got = target.count(tag)  # type: ignore[attr-defined]
    return got / elapsed, expected - got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="20000,35000,50000,60000,75000,100000,125000,150000")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--tcp-messages", type=int, default=400_000)
    parser.add_argument("--skip-rsyslog", action="store_true")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="mamori-bench-syslog-"))
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; work folder {folder}")
    summary = []
    try:
        (folder / "mamori").mkdir()
        m = Mamori(folder / "mamori")
        for proto in ("udp", "tcp"):
            print(f"\n== {proto.upper()}")
            runs: list[tuple[str, object]] = [("mamori", m), ("bare", None)]
            if shutil.which("rsyslogd") and not args.skip_rsyslog:
                runs.append(("rsyslog", None))
            for name, given in runs:
                target = given
                if name == "bare":
                    target = Bare(proto)
                elif name == "rsyslog":
                    (folder / f"rsyslog-{proto}").mkdir()
                    target = Rsyslog(folder / f"rsyslog-{proto}")
                if proto == "udp":
                    best, lines = udp_ladder(target, rates, args.seconds, name)
                    print(f"  {target.name}: highest rate with nothing lost: {best:,} msg/s")  # type: ignore[attr-defined]
                    for line in lines:
                        print(line)
                    summary.append(f"UDP {target.name}: {best:,} msg/s with zero loss")  # type: ignore[attr-defined]
                else:
                    rate, lost = tcp_run(target, args.tcp_messages, name)
                    print(f"  {target.name}: {rate:,.0f} msg/s, {lost} lost of {args.tcp_messages:,}")  # type: ignore[attr-defined]
                    summary.append(f"TCP {target.name}: {rate:,.0f} msg/s ({lost} lost)")  # type: ignore[attr-defined]
                if name != "mamori":
                    target.close()  # type: ignore[attr-defined]
        m.close()
        log_text = (folder / "mamori" / "mamori.log").read_text(errors="replace")
        final = [line for line in log_text.splitlines() if "collector stopped" in line]
        print("\n" + (final[-1] if final else "(no final collector line)"))
        verify = subprocess.run(
            [MAMORI, "verify", "--config", str(folder / "mamori" / "bench.yaml")],
            capture_output=True,
            text=True,
            check=False,
        )
        print("mamori verify:", (verify.stdout + verify.stderr).strip().splitlines()[-1], f"(exit {verify.returncode})")
        print("\nsummary:")
        for line in summary:
            print("  " + line)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
