"""The response actions end to end, against real receivers: rsyslog (UDP, TCP, TLS), an SMTP server (aiosmtpd:
STARTTLS, implicit TLS, AUTH), an HTTP(S) server, and real programs for the script action. Nothing on the far end is
mocked; failures and retries go through the real Dispatcher. The script action, which needs no server, is tested
with real programs in tests/unit/alerting/test_script_action.py.

Certificates come from a test CA that the tests make with the openssl command. The server certificate names only
``localhost``, so connecting to 127.0.0.1 shows that the host name is checked.
"""

from __future__ import annotations

import email
import email.policy
import functools
import glob
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mamori import escape
from mamori.alerting import Notification, build_action
from mamori.alerting.base import DeliveryError
from mamori.config import EmailAction, SyslogAction, WebhookAction
from mamori.model import Alert, Severity
from mamori.rules.render import alert_to_dict, summary
from tests.unit.alerting.helpers import dispatch, wait_for

RSYSLOG_GTLS = "/usr/lib/*/rsyslog/lmnsd_gtls.so"  # the GnuTLS network stream driver (rsyslog-gnutls)
BOM = "\ufeff"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def one_line(text: str) -> str:
    """What the actions make of a value shown on one line: control characters become U+FFFD."""
    return "".join("\ufffd" if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" else c for c in text)


# -- alerts ----------------------------------------------------------------------------------------------------


def make_alert(uid: str = "a-1", **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "uid": uid,
        "rule": "unregistered-terminal",
        "key": "k",
        "severity": Severity.HIGH,
        "first_seen": 1795400100.25,
        "last_seen": 1795400162.123456,
        "count": 7,
        "src_mac": "02:00:00:00:0a:01",
        "src_ip": "192.168.10.50",
        "dst_ip": "192.168.10.11",
        "dst_port": 6000,
        "system": "透析システム",
        "details": {"via_gateway": False},
        "samples": (
            {
                "ts": 1795400100.25,
                "kind": "attempt",
                "proto": "tcp",
                "src_ip": "192.168.10.50",
                "src_port": 51515,
                "dst_ip": "192.168.10.11",
                "dst_port": 6000,
                "flags": "S",
            },
        ),
    }
    fields.update(changes)
    return Alert(**fields)


def hostile_alert(canary: Path, uid: str = "hostile-1") -> Alert:
    """Values an attacker controls (names from packets or logs) that try every framing trick at once."""
    inject = f"$(touch {canary}) `touch {canary}`; touch {canary} #"
    return make_alert(
        uid,
        severity=Severity.CRITICAL,
        system=(
            f'透析"] [evil@1 x="y"] \\ ; rm -rf / # {inject}\n<13>1 2026-01-01T00:00:00Z fake app - - - forged'
            "\r\nBcc: victim@example.org\n<!channel> <https://evil|click>\u2028行"
        ),  # the system name reaches every output, the summaries included
        src_mac="02:00:00:00:0a:01\n",
        src_ip='192.168.10.50"]',
        details={"note": f"<script>{inject}</script>", "ポート": [6000, 445]},
    )


# -- certificates ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (Debian package openssl; scripts/test.sh installs it)")
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", d / "ca.key", "-out", d / "ca.pem", "-days", "2",
             "-subj", "/CN=mamori test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    _openssl("req", *ec, "-keyout", d / "server.key", "-out", d / "server.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature\n"
    )
    _openssl("x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
             "-CAcreateserial", "-out", d / "server.pem", "-days", "2", "-extfile", d / "ext.cnf")  # fmt: skip
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key")


# -- rsyslog ---------------------------------------------------------------------------------------------------

_TEMPLATE = (
    '{"input":"%inputname%","pri":"%pri%","app":"%app-name:::json%","host":"%hostname:::json%",'
    '"procid":"%procid:::json%","msgid":"%msgid:::json%","ts":"%timestamp:::date-rfc3339%",'
    '"sd":%$!rfc5424-sd%,"msg":"%msg:::json%","raw":"%rawmsg:::json%"}\n'
)


@dataclass
class Rsyslog:
    udp: int
    tcp: int
    tls: int
    out: Path

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        lines = self.out.read_bytes().split(b"\n")[:-1]  # the last piece may be a line rsyslog is still writing
        return [json.loads(line) for line in lines if line.strip()]

    def received(self, uid: str, count: int = 1) -> list[dict[str, Any]]:
        """The messages about alert ``uid``, once ``count`` of them arrived (and a moment for any extra one)."""

        def mine() -> list[dict[str, Any]]:
            return [r for r in self.records() if r["app"] == "mamori-test" and uid in r["raw"]]

        wait_for(lambda: len(mine()) >= count, what=f"{count} message(s) about {uid} at rsyslog")
        time.sleep(0.1)
        return mine()


@pytest.fixture(scope="module")
def rsyslog(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    daemon = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not Path(daemon).exists():
        pytest.skip("rsyslogd not installed (Debian package rsyslog; scripts/test.sh installs it)")
    if not glob.glob(RSYSLOG_GTLS):
        pytest.skip("rsyslog's GnuTLS driver not installed (Debian package rsyslog-gnutls)")
    d = tmp_path_factory.mktemp("rsyslog")
    r = Rsyslog(free_port(socket.SOCK_DGRAM), free_port(), free_port(), d / "received.jsonl")
    template = _TEMPLATE.replace("\\", "\\\\").replace('"', '\\"')
    conf = f"""
global(workDirectory="{d}" maxMessageSize="64k"
       defaultNetstreamDriverCAFile="{pki.ca}" defaultNetstreamDriverCertFile="{pki.cert}"
       defaultNetstreamDriverKeyFile="{pki.key}")
module(load="imudp")
module(load="imtcp")
module(load="mmpstrucdata")
template(name="jsonl" type="string" string="{template}")
ruleset(name="remote") {{
  action(type="mmpstrucdata")
  action(type="omfile" file="{r.out}" template="jsonl")
}}
input(type="imudp" name="udp" address="127.0.0.1" port="{r.udp}" ruleset="remote")
input(type="imtcp" name="tcp" address="127.0.0.1" port="{r.tcp}" ruleset="remote")
input(type="imtcp" name="tls" address="127.0.0.1" port="{r.tls}" ruleset="remote"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
"""
    (d / "rsyslog.conf").write_text(conf)
    log = (d / "rsyslogd.log").open("wb")
    proc = subprocess.Popen(
        [daemon, "-n", "-f", str(d / "rsyslog.conf"), "-i", str(d / "rsyslogd.pid")], stdout=log, stderr=log
    )
    try:
        probe = b'<14>1 - - probe - - [probe@32473 n="1"] ready'

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"rsyslogd exited {proc.returncode}: {(d / 'rsyslogd.log').read_text()}")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.sendto(probe, ("127.0.0.1", r.udp))
            time.sleep(0.05)
            return any(rec["app"] == "probe" for rec in r.records())

        wait_for(ready, what="rsyslogd to start")
        for port in (r.tcp, r.tls):
            wait_for(functools.partial(_accepts, port), what=f"rsyslogd to listen on {port}")
        yield r
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def syslog_settings(target: str, **more: Any) -> SyslogAction:
    values = {"name": "siem", "type": "syslog", "target": target, "app_name": "mamori-test", "facility": 4}
    return SyslogAction.model_validate({**values, **more})


def test_syslog_udp_tcp_tls_reach_rsyslog(rsyslog: Rsyslog, pki: Pki) -> None:
    targets = {
        "udp": f"udp://127.0.0.1:{rsyslog.udp}",
        "tcp": f"tcp://127.0.0.1:{rsyslog.tcp}",
        "tls": f"tls://localhost:{rsyslog.tls}",
    }
    for transport, target in targets.items():
        action = build_action(syslog_settings(target, ca_file=pki.ca))
        try:
            uid = f"syslog-{transport}"
            alert = make_alert(uid, severity=Severity.HIGH)
            outcome = action.deliver(Notification(alert, "new"))
            assert outcome.ok, outcome.detail
            assert transport.upper() in outcome.detail
            [rec] = rsyslog.received(uid)
            assert rec["input"] == transport
            assert rec["pri"] == str(4 * 8 + 3)  # facility 4 (auth), severity 3 (error) for high
            assert rec["app"] == "mamori-test"
            assert rec["procid"] == str(os.getpid())
            assert rec["host"] == socket.gethostname()
            assert rec["msgid"] == "unregistered-terminal"
            assert rec["raw"].split(" ")[1] == "2026-11-23T02:16:02.123456Z"  # last_seen in UTC, microseconds
            assert rec["msg"] == BOM + f"{summary(alert, 'ja')} / {summary(alert, 'en')}"
            assert rec["sd"] == {
                "mamori@32473": {
                    "uid": uid,
                    "rule": "unregistered-terminal",
                    "severity": "high",
                    "event": "new",
                    "count": "7",
                    "src_mac": "02:00:00:00:0a:01",
                    "src_ip": "192.168.10.50",
                    "dst_ip": "192.168.10.11",
                    "dst_port": "6000",
                    "system": "透析システム",
                    "first_seen": "2026-11-23T02:15:00.250000+00:00",
                    "last_seen": "2026-11-23T02:16:02.123456+00:00",
                }
            }
        finally:
            action.close()


def test_syslog_severity_maps_to_pri(rsyslog: Rsyslog) -> None:
    action = build_action(syslog_settings(f"tcp://127.0.0.1:{rsyslog.tcp}", facility=10))
    expected = {Severity.CRITICAL: 2, Severity.HIGH: 3, Severity.MEDIUM: 4, Severity.LOW: 5, Severity.INFO: 6}
    try:
        for severity, code in expected.items():
            uid = f"pri-{severity.label}"
            assert action.deliver(Notification(make_alert(uid, severity=severity), "update")).ok
            [rec] = rsyslog.received(uid)
            assert rec["pri"] == str(10 * 8 + code)
            assert rec["sd"]["mamori@32473"]["event"] == "update"
    finally:
        action.close()


def test_syslog_tcp_connection_kept_and_reopened(rsyslog: Rsyslog, pki: Pki) -> None:
    for target in (f"tcp://127.0.0.1:{rsyslog.tcp}", f"tls://localhost:{rsyslog.tls}"):
        action = build_action(syslog_settings(target, ca_file=pki.ca))
        try:
            first = action.deliver(Notification(make_alert("keep-1"), "new"))
            second = action.deliver(Notification(make_alert("keep-2"), "new"))
            assert "new connection" in first.detail
            assert "connection kept open" in second.detail, second.detail
            action.close()  # as at shutdown; the next delivery opens a new connection
            third = action.deliver(Notification(make_alert("keep-3"), "new"))
            assert "new connection" in third.detail
            for uid in ("keep-1", "keep-2", "keep-3"):
                assert len(rsyslog.received(uid)) >= 1
        finally:
            action.close()


def test_syslog_tls_checks_certificate_and_host_name(rsyslog: Rsyslog, pki: Pki) -> None:
    # The server certificate names "localhost" only: 127.0.0.1 does not match it.
    wrong_name = build_action(syslog_settings(f"tls://127.0.0.1:{rsyslog.tls}", ca_file=pki.ca))
    with pytest.raises(DeliveryError, match="not accepted: IP address mismatch"):
        wrong_name.deliver(Notification(make_alert("tls-wrong-name"), "new"))
    # Without ca_file, the system's store is used, which does not know the test CA.
    unknown_ca = build_action(syslog_settings(f"tls://localhost:{rsyslog.tls}"))
    with pytest.raises(DeliveryError, match=r"unable to get local issuer certificate.*system's CA store"):
        unknown_ca.deliver(Notification(make_alert("tls-unknown-ca"), "new"))
    time.sleep(0.2)
    assert not [r for r in rsyslog.records() if "tls-wrong-name" in r["raw"] or "tls-unknown-ca" in r["raw"]]


def test_syslog_hostile_values_stay_in_one_message(rsyslog: Rsyslog, pki: Pki, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    targets = {
        "udp": f"udp://127.0.0.1:{rsyslog.udp}",
        "tcp": f"tcp://127.0.0.1:{rsyslog.tcp}",
        "tls": f"tls://localhost:{rsyslog.tls}",
    }
    for transport, target in targets.items():
        action = build_action(syslog_settings(target, ca_file=pki.ca))
        uid = f"hostile-{transport}"
        alert = hostile_alert(canary, uid)
        try:
            assert action.deliver(Notification(alert, "new")).ok
            records = rsyslog.received(uid)
        finally:
            action.close()
        assert len(records) == 1, records  # no second, forged message
        rec = records[0]
        assert rec["msgid"] == "unregistered-terminal" and rec["pri"] == str(4 * 8 + 2)
        params = rec["sd"]["mamori@32473"]  # one SD element, parsed by rsyslog's mmpstrucdata
        assert set(rec["sd"]) == {"mamori@32473"}
        assert params["system"] == one_line(alert.system or "")
        assert params["src_ip"] == '192.168.10.50"]'
        assert params["src_mac"] == "02:00:00:00:0a:01\ufffd"
        assert params["uid"] == uid and params["count"] == "7"
        assert rec["msg"] == BOM + one_line(f"{summary(alert, 'ja')} / {summary(alert, 'en')}").replace(
            "\u2028", "\ufffd"
        )
        assert "#012" not in rec["raw"] and "#015" not in rec["raw"]  # rsyslog's marks for received CR/LF
    assert not [r for r in rsyslog.records() if r["app"] in ("fake", "evil")]
    assert not canary.exists()


def test_syslog_unreachable_is_a_failed_attempt() -> None:
    action = build_action(syslog_settings(f"tcp://127.0.0.1:{free_port()}", timeout=1))
    with pytest.raises(DeliveryError, match="cannot connect"):
        action.deliver(Notification(make_alert(), "new"))


class FrameReceiver:
    """A bare syslog receiver (TCP or TLS 1.3, RFC 6587 octet counting) that can drop a connection on purpose."""

    def __init__(self, context: ssl.SSLContext | None, close_after_first: bool = False) -> None:
        self.frames: list[tuple[int, bytes]] = []  # (connection number, message)
        self.connections = 0
        self.closed = threading.Event()
        self._context = context
        self._close_after_first = close_after_first
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._read, args=(conn, self.connections), daemon=True).start()

    def _read(self, conn: socket.socket, number: int) -> None:
        with conn:
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            stream = conn.makefile("rb")
            while True:
                length = b""
                while (c := stream.read(1)) not in (b" ", b""):
                    length += c
                if not length:
                    break
                self.frames.append((number, stream.read(int(length))))
                if self._close_after_first and number == 1:
                    break
            if self._context is not None:
                try:  # send close_notify; do not wait long for the client's
                    conn.settimeout(0.2)
                    conn.unwrap()  # type: ignore[attr-defined]
                except OSError:
                    pass
        self.closed.set()

    def close(self) -> None:
        self._listener.close()


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls13"])
def test_syslog_stream_reconnects_after_the_receiver_closes(pki: Pki, tls: bool) -> None:
    context = None
    if tls:
        context = pki.server_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_3  # sends session tickets after the handshake
    receiver = FrameReceiver(context, close_after_first=True)
    target = f"{'tls://localhost' if tls else 'tcp://127.0.0.1'}:{receiver.port}"
    action = build_action(syslog_settings(target, ca_file=pki.ca))
    try:
        assert "new connection" in action.deliver(Notification(make_alert("r-1"), "new")).detail
        receiver.closed.wait(5)
        time.sleep(0.05)
        second = action.deliver(Notification(make_alert("r-2"), "new"))
        assert "new connection" in second.detail, second.detail
        third = action.deliver(Notification(make_alert("r-3"), "new"))
        assert "connection kept open" in third.detail, third.detail
        wait_for(lambda: len(receiver.frames) == 3, timeout=5, what="three frames")
    finally:
        action.close()
        receiver.close()
    assert [number for number, _ in receiver.frames] == [1, 2, 2]
    for (_, frame), uid in zip(receiver.frames, ("r-1", "r-2", "r-3"), strict=True):
        assert frame.startswith(b"<35>1 ") and f'uid="{uid}"'.encode() in frame


# -- e-mail ----------------------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message and the logins it accepted."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        if address.startswith("nobody@"):
            return "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return f"250 2.0.0 Ok: queued as TEST{len(self.messages):04d}"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (login, password) == ("alerts", "s3cret-pass")
        if ok:
            self.logins.append((mechanism, login))
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@pytest.fixture
def smtp_server(pki: Pki) -> Iterator[Callable[..., tuple[Mailbox, int]]]:
    controllers_mod = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is a test dependency")
    started: list[Any] = []

    def start(mode: str) -> tuple[Mailbox, int]:
        box = Mailbox()
        port = free_port()
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": port, "server_hostname": "mx.test"}
        if mode == "starttls":
            kwargs |= {"tls_context": pki.server_context(), "require_starttls": True}
            kwargs |= {"authenticator": box.authenticate, "auth_require_tls": True}
        elif mode == "implicit":
            kwargs |= {"ssl_context": pki.server_context(), "authenticator": box.authenticate}
        controller = controllers_mod.Controller(box, **kwargs)
        controller.start()
        started.append(controller)
        return box, port

    yield start
    for controller in started:
        controller.stop()


def email_settings(smtp: str, **more: Any) -> EmailAction:
    values: dict[str, Any] = {"name": "mail", "type": "email", "smtp": smtp, "to": ["soc@example.org"]}
    values.update(more)
    return EmailAction.model_validate(values)


def received_mail(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_email_starttls_with_login(smtp_server: Any, pki: Pki, tmp_path: Path) -> None:
    box, port = smtp_server("starttls")
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret-pass\n", encoding="utf-8")
    secret.chmod(0o600)
    settings = email_settings(
        f"smtp://localhost:{port}",
        to=["soc@example.org", "nobody@example.org", "it@example.org"],
        username="alerts",
        password_file=str(secret),
        ca_file=str(pki.ca),
        **{"from": "sensor@hospital.example"},
    )
    outcome = build_action(settings).deliver(Notification(make_alert("mail-1"), "new"))
    assert outcome.ok, outcome.detail
    assert outcome.detail.startswith("250 2.0.0 Ok: queued as TEST0001")
    assert "refused recipients: nobody@example.org: 550 5.1.1" in outcome.detail
    assert box.logins and box.logins[0][1] == "alerts"
    [(sender, recipients, raw)] = box.messages
    assert sender == "sensor@hospital.example"
    assert recipients == ["soc@example.org", "it@example.org"]
    mail = received_mail(raw)
    assert mail["Subject"] == (
        "[mamori] [high] unregistered-terminal: 未登録端末 192.168.10.50 (02:00:00:00:0a:01) が 透析システム "
        "(192.168.10.11:6000) に接続しようとしました。7 回"
    )
    assert mail["From"] == "sensor@hospital.example"
    assert mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_content()
    ja, en = body.index("mamori がアラートを検知しました（新規）"), body.index("mamori raised an alert (new)")
    assert ja < en
    for text in (
        "未登録端末 192.168.10.50 (02:00:00:00:0a:01) が 透析システム (192.168.10.11:6000) に接続しようとしました",
        "Unregistered terminal 192.168.10.50 (02:00:00:00:0a:01) tried to connect to 透析システム",
        "対応: 送信元の MAC・IP と時刻から",  # what to do, from the rule catalogue
        "What to do: Find where the terminal is plugged in",
        "送信元: 02:00:00:00:0a:01 / 192.168.10.50",
        "Target: 192.168.10.11:6000",
        "System: 透析システム",
        "件数: 7",
        "2026-11-23T02:16:02.123456+00:00",
        "接続の試み TCP、192.168.10.50:51515 → 192.168.10.11:6000、SYN",
    ):
        assert text in body, text


def test_email_implicit_tls_and_default_sender(smtp_server: Any, pki: Pki) -> None:
    box, port = smtp_server("implicit")
    action = build_action(email_settings(f"smtps://localhost:{port}", ca_file=str(pki.ca)))
    outcome = action.deliver(Notification(make_alert("mail-2", severity=Severity.MEDIUM), "update"))
    assert outcome.ok and outcome.detail == "250 2.0.0 Ok: queued as TEST0001"
    [(sender, _, raw)] = box.messages
    assert sender == f"mamori@{socket.gethostname()}"
    assert received_mail(raw)["Subject"].startswith("[mamori] [medium] unregistered-terminal: ")
    assert "（更新）" in received_mail(raw).get_content()


def test_email_refuses_server_without_starttls(smtp_server: Any, pki: Pki) -> None:
    box, port = smtp_server("plain")
    action = build_action(email_settings(f"smtp://127.0.0.1:{port}", ca_file=str(pki.ca)))
    with pytest.raises(DeliveryError, match="does not offer STARTTLS; not sending in clear"):
        action.deliver(Notification(make_alert(), "new"))
    assert box.messages == []
    # smtp+plain:// is the explicit choice of a local relay without TLS.
    plain = build_action(email_settings(f"smtp+plain://127.0.0.1:{port}"))
    assert plain.deliver(Notification(make_alert(), "new")).ok
    assert len(box.messages) == 1


def test_email_checks_certificate(smtp_server: Any, pki: Pki) -> None:
    _, port = smtp_server("implicit")
    action = build_action(email_settings(f"smtps://localhost:{port}"))
    with pytest.raises(DeliveryError, match=r"not accepted: unable to get local issuer.*set ca_file"):
        action.deliver(Notification(make_alert(), "new"))
    box, port = smtp_server("starttls")
    starttls = build_action(email_settings(f"smtp://127.0.0.1:{port}", ca_file=str(pki.ca)))
    with pytest.raises(DeliveryError, match="not accepted: IP address mismatch"):  # the certificate names localhost
        starttls.deliver(Notification(make_alert(), "new"))
    assert box.messages == []


def test_email_password_file_rules(smtp_server: Any, pki: Pki, tmp_path: Path) -> None:
    box, port = smtp_server("starttls")
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret-pass\n", encoding="utf-8")
    secret.chmod(0o644)
    common = {"username": "alerts", "password_file": str(secret), "ca_file": str(pki.ca)}
    action = build_action(email_settings(f"smtp://localhost:{port}", **common))
    with pytest.raises(DeliveryError, match=r"may be read by other users \(mode 0644\).*chmod 600"):
        action.deliver(Notification(make_alert(), "new"))
    secret.chmod(0o600)
    secret.write_text("wrong\n", encoding="utf-8")
    with pytest.raises(DeliveryError, match="login as 'alerts' refused: 535"):
        action.deliver(Notification(make_alert(), "new"))
    plain = build_action(email_settings(f"smtp+plain://127.0.0.1:{port}", **common))
    with pytest.raises(DeliveryError, match="never sent without TLS"):
        plain.deliver(Notification(make_alert(), "new"))
    assert box.messages == []


def test_email_hostile_values_cannot_add_headers_or_lines(smtp_server: Any, pki: Pki, tmp_path: Path) -> None:
    box, port = smtp_server("implicit")
    alert = hostile_alert(tmp_path / "pwned")
    assert build_action(email_settings(f"smtps://localhost:{port}", ca_file=str(pki.ca))).deliver(
        Notification(alert, "new")
    )
    [(_, recipients, raw)] = box.messages
    assert recipients == ["soc@example.org"]
    mail = received_mail(raw)
    assert mail.get_all("Bcc") is None
    assert len(mail.get_all("Subject") or []) == 1
    subject = mail["Subject"]
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("[mamori] [critical] unregistered-terminal: 未登録端末 192.168.10.50")
    assert "(02:00:00:00:0a:01\ufffd)" in subject  # the line break inside the MAC is replaced
    body = mail.get_content()
    assert one_line(summary(alert, "en")) in body
    assert f"System: {one_line(alert.system or '')}" in body
    assert "\nBcc:" not in body and "\n<13>1" not in body
    assert not (tmp_path / "pwned").exists()


# -- webhook ---------------------------------------------------------------------------------------------------


@dataclass
class Hook:
    """An HTTP(S) server in a thread that records each POST and answers from a script of statuses."""

    url: str
    requests: list[dict[str, Any]]
    answers: list[tuple[int, dict[str, str], bytes]]


@pytest.fixture
def webhook_server(pki: Pki) -> Iterator[Callable[..., Hook]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(tls: bool = False, answers: list[tuple[int, dict[str, str], bytes]] | None = None) -> Hook:
        hook = Hook("", [], list(answers or []))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, headers, answer = hook.answers.pop(0) if hook.answers else (200, {}, b"ok")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            server.socket = pki.server_context().wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        scheme, host = ("https", "localhost") if tls else ("http", "127.0.0.1")
        hook.url = f"{scheme}://{host}:{server.server_address[1]}/hooks/mamori"
        return hook

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def webhook_settings(url: str, **more: Any) -> WebhookAction:
    return WebhookAction.model_validate({"name": "hook", "type": "webhook", "url": url, **more})


def test_webhook_json_over_https_with_headers(webhook_server: Any, pki: Pki, tmp_path: Path) -> None:
    hook = webhook_server(tls=True, answers=[(202, {}, b'{"accepted": true}')])
    token = tmp_path / "hook-token"
    token.write_text("Bearer t0ken\n", encoding="utf-8")
    token.chmod(0o600)
    settings = webhook_settings(
        hook.url, ca_file=str(pki.ca), headers={"X-Source": "mamori"}, header_files={"Authorization": str(token)}
    )
    alert = make_alert("hook-1")
    outcome = build_action(settings).deliver(Notification(alert, "new"))
    assert outcome.ok and outcome.detail == 'HTTP 202 Accepted: {"accepted": true}'
    [request] = hook.requests
    assert request["path"] == "/hooks/mamori"
    assert request["headers"]["Authorization"] == "Bearer t0ken"  # read from its file
    assert request["headers"]["X-Source"] == "mamori"
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(request["body"]) == {"event": "new", **json.loads(json.dumps(alert_to_dict(alert)))}


def test_webhook_teams_and_slack_bodies(webhook_server: Any) -> None:
    hook = webhook_server()
    alert = make_alert("hook-2", severity=Severity.CRITICAL)
    for fmt in ("teams", "slack"):
        assert build_action(webhook_settings(hook.url, format=fmt)).deliver(Notification(alert, "update")).ok
    teams, slack = (json.loads(r["body"]) for r in hook.requests)
    assert teams["type"] == "message"
    [attachment] = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    texts = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]  # Markdown: [ and ( escaped
    assert texts[0] == r"mamori \[critical\] unregistered-terminal \(更新 / update\)"
    assert escape.markdown(summary(alert, "ja")) in texts and escape.markdown(summary(alert, "en")) in texts
    facts = {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["送信元 / Source"] == "02:00:00:00:0a:01 / 192.168.10.50"
    assert facts["宛先 / Target"] == "192.168.10.11:6000"
    assert facts["件数 / Count"] == "7"
    assert slack["text"] == "mamori [critical] unregistered-terminal (更新 / update)"
    assert slack["blocks"][1]["text"]["text"] == f"{summary(alert, 'ja')}\n{summary(alert, 'en')}"
    assert slack["blocks"][0]["text"]["text"] == "mamori [critical] unregistered-terminal (更新 / update)"
    system = {"type": "plain_text", "text": "システム / System: 透析システム", "emoji": False}
    assert system in slack["blocks"][2]["fields"]


def test_webhook_redirect_and_client_error_are_failed_attempts(webhook_server: Any) -> None:
    hook = webhook_server(answers=[(302, {"Location": "https://elsewhere.example/x"}, b""), (404, {}, b"no hook")])
    action = build_action(webhook_settings(hook.url))
    moved = action.deliver(Notification(make_alert(), "new"))
    assert (
        not moved.ok and "HTTP 302" in moved.detail and "https://elsewhere.example/… not followed" in moved.detail
    )  # redacted: it may be a secret URL
    missing = action.deliver(Notification(make_alert(), "new"))
    assert (
        not missing.ok
        and missing.detail == "HTTP 404 Not Found: request refused (check url, headers and format): no hook"
    )
    assert len(hook.requests) == 2  # the redirect was not followed


def test_webhook_checks_certificate(webhook_server: Any, pki: Pki) -> None:
    hook = webhook_server(tls=True)
    with pytest.raises(DeliveryError, match=r"unable to get local issuer certificate.*set ca_file"):
        build_action(webhook_settings(hook.url)).deliver(Notification(make_alert(), "new"))
    by_ip = hook.url.replace("localhost", "127.0.0.1")
    with pytest.raises(DeliveryError, match="IP address mismatch"):
        build_action(webhook_settings(by_ip, ca_file=str(pki.ca))).deliver(Notification(make_alert(), "new"))
    assert hook.requests == []


def test_failing_endpoint_retried_through_dispatcher(webhook_server: Any) -> None:
    hook = webhook_server(answers=[(500, {}, b"database down"), (503, {}, b"busy"), (200, {}, b"done")])
    settings = webhook_settings(hook.url, retries=3, backoff="50ms")
    started = time.monotonic()
    deliveries = dispatch(settings, make_alert("retry-1"))
    assert [(d.attempt, d.ok, d.final) for d in deliveries] == [(1, False, False), (2, False, False), (3, True, True)]
    assert deliveries[0].detail == "HTTP 500 Internal Server Error: database down"
    assert deliveries[1].detail == "HTTP 503 Service Unavailable: busy"
    assert deliveries[2].detail == "HTTP 200 OK: done"
    assert {(d.alert_uid, d.action, d.action_type, d.event, d.alert_count) for d in deliveries} == {
        ("retry-1", "hook", "webhook", "new", 7)
    }
    assert len(hook.requests) == 3
    assert time.monotonic() - started < 5


def test_endpoint_that_never_answers_is_recorded_as_failed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:  # listens, never accepts or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        settings = webhook_settings(url, retries=1, backoff="50ms", timeout="300ms")
        started = time.monotonic()
        deliveries = dispatch(settings, make_alert("silent-1"))
    assert [(d.attempt, d.ok, d.final) for d in deliveries] == [(1, False, False), (2, False, True)]
    assert all(d.detail == "DeliveryError: no answer within 0.3 s" for d in deliveries)
    assert time.monotonic() - started < 5


def test_webhook_hostile_values_arrive_as_data(webhook_server: Any, tmp_path: Path) -> None:
    hook = webhook_server()
    alert = hostile_alert(tmp_path / "pwned")
    for fmt in ("json", "teams", "slack"):
        assert build_action(webhook_settings(hook.url, format=fmt)).deliver(Notification(alert, "new")).ok
    plain, teams, slack = (json.loads(r["body"]) for r in hook.requests)
    assert plain["system"] == alert.system and plain["summary_en"] == summary(alert, "en")  # verbatim, as data
    assert plain["note"] == alert.details["note"] and plain["ポート"] == [6000, 445]
    facts = {f["title"]: f["value"] for b in teams["attachments"][0]["content"]["body"] if b["type"] == "FactSet"
             for f in b["facts"]}  # fmt: skip
    assert facts["システム / System"].startswith(r'透析"\] \[evil@1 x="y"\] \\ ; rm -rf / # $\(touch')
    assert "<!channel>" not in json.dumps(slack, ensure_ascii=False)
    assert "&lt;!channel&gt; &lt;https://evil|click&gt;" in slack["blocks"][1]["text"]["text"]
    assert not (tmp_path / "pwned").exists()
