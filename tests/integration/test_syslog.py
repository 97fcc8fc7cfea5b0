"""The syslog collector through the installed ``mamori`` command: a real rsyslogd forwarding over TCP, TLS and
RELP; a loopback load of mixed RFC 3164/5424/vendor lines; ``kill -9`` in the middle of a TCP load and a restart;
then tampering that ``mamori verify`` must name precisely."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from mamori.storage.archive_format import iter_lines, list_day_files, parse_record
from tests.integration.conftest import MAMORI, json_lines, run_mamori

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        port: int = tcp.getsockname()[1]
        udp.bind(("127.0.0.1", port))
    return port


class Collect:
    """``mamori collect`` running in the background."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log_path = log
        offset = log.stat().st_size if log.exists() else 0
        self.log = log.open("ab")
        self.proc = subprocess.Popen([MAMORI, "collect", "--config", str(config)], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while b"listening on" not in log.read_bytes()[offset:]:
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, self.log_path.read_text()
        self.log.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.log.close()


def archived(root: Path) -> list[tuple[str, int, object]]:
    """(file, line, record) for every record in the archive, oldest first."""
    out = []
    for files in list_day_files(root).values():
        path = next((p for p in files if p.name.endswith(".log")), files[0])
        for number, line, complete in iter_lines(path):
            record = parse_record(line) if complete else None
            if record is not None:
                out.append((str(path.relative_to(root)), number, record))
    return out


def wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


# -- TLS material (made with the cryptography package) -----------------------------------------------------------


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("mamori test CA"))
        .issuer_name(name("mamori test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("mamori.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mamori.test")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.crt", folder / "tls.crt", folder / "tls.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths[2].chmod(0o600)
    return paths


# -- a real rsyslogd forwarding to mamori ---------------------------------------------------------------------------


def _rsyslog_has(module: str) -> bool:
    return any(
        Path(p).exists() for p in (f"/usr/lib/x86_64-linux-gnu/rsyslog/{module}.so", f"/usr/lib/rsyslog/{module}.so")
    ) or bool(list(Path("/usr/lib").glob(f"*/rsyslog/{module}.so")))


@pytest.mark.skipif(shutil.which("rsyslogd") is None, reason="rsyslogd is not installed (scripts/test.sh installs it)")
def test_rsyslog_forwards_over_tcp_tls_relp_and_relp_over_tls(tmp_path: Path) -> None:
    for module in ("lmnsd_gtls", "omrelp"):
        if not _rsyslog_has(module):
            pytest.skip(f"rsyslog module {module} is not installed (rsyslog-gnutls, rsyslog-relp)")
    ca, cert, key = make_tls(tmp_path / "tls")
    tcp, tls, relp, relp_tls, inlet = free_port(), free_port(), free_port(), free_port(), free_port()
    config = tmp_path / "site.yaml"
    config.write_text(
        f"storage: {{path: {tmp_path / 'm.db'}}}\n"
        "syslog:\n"
        f'  listen: ["tcp://127.0.0.1:{tcp}", "tls://127.0.0.1:{tls}", "relp://127.0.0.1:{relp}", '
        f'"relp+tls://127.0.0.1:{relp_tls}"]\n'
        f"  tls: {{cert: {cert}, key: {key}}}\n"
        f"  archive: {{path: {tmp_path / 'archive'}, key: {tmp_path / 'keys' / 'archive.key'}}}\n",
        encoding="utf-8",
    )
    run_mamori("archive", "keygen", "--config", str(config))
    collector = Collect(config, tmp_path / "collect.log")
    work = tmp_path / "rsyslog"
    work.mkdir()
    conf = work / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}" defaultNetstreamDriverCAFile="{ca}")\n'
        'module(load="imudp")\nmodule(load="omrelp" tls.tlslib="openssl")\n'
        f'input(type="imudp" address="127.0.0.1" port="{inlet}" ruleset="forward")\n'
        'ruleset(name="forward") {\n'
        f'  action(type="omfwd" target="127.0.0.1" port="{tcp}" protocol="tcp" TCP_Framing="octet-counted" '
        'template="RSYSLOG_SyslogProtocol23Format")\n'
        f'  action(type="omfwd" target="127.0.0.1" port="{tls}" protocol="tcp" StreamDriver="gtls" '
        'StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="mamori.test")\n'
        f'  action(type="omrelp" target="127.0.0.1" port="{relp}")\n'
        f'  action(type="omrelp" target="127.0.0.1" port="{relp_tls}" tls="on" tls.caCert="{ca}" '
        'tls.authMode="name" tls.permittedPeer=["mamori.test"])\n'
        "}\n",
        encoding="utf-8",
    )
    rsyslog = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(conf), "-i", str(work / "rsyslog.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(1.0)
        lines = [
            "<134>Nov 23 10:00:00 rtx1 Rejected at IN(2000) filter: TCP 10.1.2.3:51000 > 10.1.9.9:3389",
            "<13>Nov 23 10:00:01 host1 app[7]: 電子カルテ 接続 テスト",
            *(f"<13>Nov 23 10:00:02 host1 app: numbered {i}" for i in range(200)),
        ]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for line in lines:
                udp.sendto(line.encode(), ("127.0.0.1", inlet))
                time.sleep(0.001)

        def by_transport() -> dict[str, int]:
            counts: dict[str, int] = {}
            for _f, _n, rec in archived(tmp_path / "archive"):
                counts[rec.transport] = counts.get(rec.transport, 0) + 1  # type: ignore[attr-defined]
            return counts

        expected = {"tcp": 202, "tls": 202, "relp": 202, "relp+tls": 202}
        assert wait_for(lambda: by_transport() == expected, 60), (
            by_transport(),
            (tmp_path / "collect.log").read_text()[-3000:],
        )
    finally:
        rsyslog.terminate()
        rsyslog.wait(30)
        collector.stop()
    rows = json_lines(run_mamori("logs", "search", "--config", str(config), "--text", "電子カルテ", "--json").stdout)
    assert {r["transport"] for r in rows} == {"tcp", "tls", "relp", "relp+tls"}
    assert all(r["hostname"] == "host1" and r["text"].endswith("電子カルテ 接続 テスト") for r in rows)
    rfc5424 = next(r for r in rows if r["transport"] == "tcp")
    assert rfc5424["format"] == "rfc5424" and rfc5424["app"] == "app" and rfc5424["procid"] == "7"
    deny = json_lines(run_mamori("logs", "search", "--config", str(config), "--text", "Rejected", "--json").stdout)
    assert {r["parser"] for r in deny} == {"yamaha-rtx"}, [r["message"] for r in deny]
    assert deny[0]["connections"][0]["dst_port"] == 3389
    verify = run_mamori("verify", "--config", str(config))
    assert "OK:" in verify.stdout + verify.stderr


# -- a loopback load of mixed lines ---------------------------------------------------------------------------------

MIXED = (
    b"<134>Nov 23 10:00:00 rtx1 Passed at OUT(2000) filter: UDP 10.1.9.9:53000 > 198.51.100.1:53 x=%d n=%d",
    b'<189>date=2026-11-23 time=10:00:00 devname="FGT60F" logid="0000000013" type="traffic" subtype="forward" '
    b'srcip=10.1.2.4 srcport=51000 srcintf="port1" dstip=10.1.9.9 dstport=443 proto=6 action="accept" x=%d n=%d',
    b"<166>Nov 23 2026 10:00:00: %%ASA-6-302013: Built inbound TCP connection 7 for outside:10.1.2.5/51000 "
    b"(10.1.2.5/51000) to inside:10.1.9.9/443 (10.1.9.9/443) x=%d n=%d",
    b"<13>Nov 23 10:00:00 host1 sshd[123]: Accepted password for admin port %d n=%d",
    b'<165>1 2026-11-23T10:00:00.123+09:00 host1 app 123 ID47 [ex@32473 iut="3"] event %d n=%d',
    b"<4>Nov 23 10:00:00 fw kernel: DROP IN=eth0 OUT= SRC=10.1.2.6 DST=10.1.9.9 LEN=60 PROTO=TCP SPT=51000 "
    b"DPT=22 SYN x=%d n=%d",
    "<13>Nov 23 10:00:00 rtx2 ログ %d n=%d".encode("cp932"),
)


def test_loopback_load_of_mixed_lines_and_a_port_scan_from_router_logs(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(
        f"storage: {{path: {tmp_path / 'm.db'}}}\n"
        "syslog:\n"
        f'  listen: ["udp://127.0.0.1:{port}", "tcp://127.0.0.1:{port}"]\n'
        f"  archive: {{path: {tmp_path / 'archive'}, key: {tmp_path / 'keys' / 'archive.key'}}}\n",
        encoding="utf-8",
    )
    collector = Collect(config, tmp_path / "collect.log")
    total_udp = 14_000
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i in range(total_udp):
                udp.sendto(MIXED[i % len(MIXED)] % (i % 60000, i), ("127.0.0.1", port))
                if i % 1000 == 999:
                    time.sleep(0.02)
            for dport in range(1, 1001):  # a Yamaha RTX deny sequence of 1,000 ports from one source
                udp.sendto(
                    b"Rejected at IN(2000) filter: TCP 10.66.0.9:40000 > 10.1.9.9:%d" % dport, ("127.0.0.1", port)
                )
        with socket.create_connection(("127.0.0.1", port)) as tcp:
            for start in range(0, 14_000, 500):
                tcp.sendall(
                    b"".join(MIXED[i % len(MIXED)] % (i, i + 100_000) + b"\n" for i in range(start, start + 500))
                )
        assert wait_for(lambda: len(archived(tmp_path / "archive")) >= total_udp + 1000 + 14_000, 60)
        assert wait_for(lambda: "port-scan" in run_mamori("alerts", "--config", str(config), "--json").stdout, 60), (
            tmp_path / "collect.log"
        ).read_text()[-3000:]
    finally:
        collector.stop()
    records = archived(tmp_path / "archive")
    assert len(records) == total_udp + 1000 + 14_000  # nothing lost, nothing doubled
    alerts = json_lines(run_mamori("alerts", "--config", str(config), "--json", "--rule", "port-scan").stdout)
    assert [(a["src_ip"], len(a["ports"])) for a in alerts] == [("10.66.0.9", 1000)]
    export = tmp_path / "ssh.csv"
    run_mamori("logs", "export", "--csv", "--config", str(config), "--text", "sshd", "--output", str(export))
    text = export.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("received_at,sender,sender_port,transport,seq")
    assert len(text.splitlines()) == 1 + 2000 + 2000
    sjis = json_lines(run_mamori("logs", "search", "--config", str(config), "--text", "ログ 6 n=", "--json").stdout)
    assert sjis and sjis[0]["encoding"] == "shift_jis"


# -- kill -9 in the middle of a TCP load, restart, then tampering ---------------------------------------------------


def _tcp_load(port: int, seconds: float, rate: int, sent_log: Path) -> None:
    """Send numbered lines; record for each batch the time at which sendall returned."""
    try:
        conn = socket.create_connection(("127.0.0.1", port))
    except OSError:
        return
    with sent_log.open("w") as log:
        i = 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            batch = [b"<13>Nov 23 10:00:00 loader app: seq=%d\n" % (i + k) for k in range(50)]
            try:
                conn.sendall(b"".join(batch))
            except OSError:
                return
            i += 50
            log.write(f"{time.time():.6f} {i}\n")
            log.flush()
            time.sleep(max(0.0, i / rate - (time.monotonic() - start)))


def test_kill_9_during_a_tcp_load_loses_nothing_sent_before_and_verify_names_tampering(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "site.yaml"
    archive = tmp_path / "archive"
    config.write_text(
        f"storage: {{path: {tmp_path / 'm.db'}}}\n"
        "syslog:\n"
        f'  listen: ["tcp://127.0.0.1:{port}"]\n'
        f"  archive: {{path: {archive}, key: {tmp_path / 'keys' / 'archive.key'}}}\n",
        encoding="utf-8",
    )
    collector = Collect(config, tmp_path / "collect.log")
    sent_log = tmp_path / "sent.txt"
    loader = multiprocessing.get_context("spawn").Process(target=_tcp_load, args=(port, 30.0, 5000, sent_log))
    loader.start()
    # Kill once a good load has gone through (about 3 s; longer on a busy machine): the check below is about what
    # was sent more than a second before the kill.
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        lines = sent_log.read_text().splitlines() if sent_log.exists() else []
        if lines and int(lines[-1].split()[1]) >= 15_000:
            break
        time.sleep(0.2)
    killed_at = time.time()
    collector.kill()
    loader.join(30)
    acknowledged = [line.split() for line in sent_log.read_text().splitlines()]
    before = max(int(n) for t, n in acknowledged if float(t) < killed_at - 1.0)
    assert before >= 5000
    seqs = {int(rec.raw.split(b"seq=")[1]) for _f, _n, rec in archived(archive)}  # type: ignore[attr-defined]
    missing = [i for i in range(before) if i not in seqs]
    assert missing == [], f"{len(missing)} lines sent more than 1 s before kill -9 are missing"

    # restart: the chain continues from the last complete record
    collector = Collect(config, tmp_path / "collect.log")
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"".join(b"<13>Nov 23 10:00:00 loader app: after restart %d\n" % i for i in range(100)))
    assert wait_for(lambda: sum(b"after restart" in r.raw for _f, _n, r in archived(archive)) == 100)  # type: ignore[attr-defined]
    collector.stop()
    ok = run_mamori("verify", "--config", str(config))
    assert "OK:" in ok.stdout + ok.stderr

    # now tamper: one byte changed, one record deleted, two records swapped
    records = archived(archive)
    name = records[0][0]
    day_file = archive / name
    at = {number: rec for file, number, rec in records if file == name}  # line number -> record
    lines = day_file.read_bytes().split(b"\n")  # lines[i] is line i + 1 (line 1 is the header)
    lines[100] = lines[100].replace(b"seq=", b"seq:")  # line 101: one byte changed
    lines[300], lines[301] = lines[301], lines[300]  # lines 301 and 302 swapped
    del lines[200]  # line 201 deleted (the swapped pair moves up to lines 300-301)
    day_file.write_bytes(b"\n".join(lines))
    result = run_mamori("verify", "--config", str(config), check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    altered, deleted, swapped = at[101].seq, at[201].seq, at[301].seq  # type: ignore[attr-defined]
    assert f"error: {name}:101: record {altered}: altered:" in out, out
    assert f"error: {name}:201: record {deleted}: deleted: record {deleted} is missing" in out, out
    assert f"error: {name}:301: record {swapped}: reordered: records {swapped} and {swapped + 1} are swapped" in out, (
        out
    )
    assert len([line for line in out.splitlines() if line.startswith("error:")]) == 3, out
    report = json_lines(run_mamori("verify", "--config", str(config), "--json", check=False).stdout)
    assert {r["kind"] for r in report if r["level"] == "error"} >= {"altered", "deleted", "reordered"}
    assert all(json.dumps(r) for r in report)
    assert os.stat(tmp_path / "keys" / "archive.key").st_mode & 0o777 == 0o600


def test_watch_runs_the_collector_when_the_settings_have_syslog(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(
        f"storage: {{path: {tmp_path / 'm.db'}}}\n"
        "syslog:\n"
        f'  listen: ["udp://127.0.0.1:{port}"]\n'
        f"  archive: {{path: {tmp_path / 'archive'}, key: {tmp_path / 'keys' / 'archive.key'}}}\n",
        encoding="utf-8",
    )
    out, err = (tmp_path / "out.txt").open("wb"), (tmp_path / "err.txt").open("wb")
    watch = subprocess.Popen([MAMORI, "watch", "--config", str(config)], stdout=out, stderr=err)
    try:
        assert wait_for(lambda: b"listening on" in (tmp_path / "err.txt").read_bytes()), (
            tmp_path / "err.txt"
        ).read_text()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for dport in range(1, 31):
                udp.sendto(
                    b"Rejected at IN(2000) filter: TCP 10.66.0.9:40000 > 10.1.9.9:%d" % dport, ("127.0.0.1", port)
                )
        assert wait_for(lambda: b"port-scan" in (tmp_path / "out.txt").read_bytes())
    finally:
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(60) == 0, (tmp_path / "err.txt").read_text()
        out.close()
        err.close()
    assert len(archived(tmp_path / "archive")) == 30
    alerts = json_lines(run_mamori("alerts", "--config", str(config), "--json").stdout)
    assert [a["rule"] for a in alerts] == ["port-scan"]
