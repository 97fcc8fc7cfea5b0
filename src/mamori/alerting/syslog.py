"""``syslog``: RFC 5424 messages over UDP (RFC 5426), TCP (RFC 6587 octet counting) or TLS (RFC 5425).

One message per notification::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [mamori@32473 uid=".." rule=".." ...] BOM summary_ja / summary_en

PRI is the configured facility and the alert's severity; TIMESTAMP the alert's ``last_seen`` in UTC; MSGID the rule
id. Values that come from packets or logs (system names, summaries...) may be hostile: control characters (CR, LF,
NUL...) are replaced by U+FFFD in every field, so a value can never end the message or start a forged one, and the
structured-data values are escaped as RFC 5424 §6.3.3 requires. A TCP or TLS connection is kept open between
messages and opened again after a failure. Syslog has no acknowledgement: a message accepted by the kernel (UDP) or
written to the connection (TCP, TLS) counts as delivered.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import select
import socket
import ssl
from urllib.parse import urlsplit

from mamori import escape
from mamori.alerting.base import DeliveryError, Notification, Outcome
from mamori.config import SyslogAction as SyslogSettings
from mamori.model import Alert, Severity
from mamori.rules import render

__all__ = ["SD_ID", "SyslogAction", "format_message"]

# The SD-ID of mamori's structured data. 32473 is the private enterprise number that RFC 5612 reserves for
# documentation and examples; a site that forwards to a SIEM expecting a registered number can map it there.
SD_ID = "mamori@32473"

# RFC 5424 §6.2.1: syslog severity codes.
_SEVERITY_CODE = {
    Severity.CRITICAL: 2,  # critical
    Severity.HIGH: 3,  # error
    Severity.MEDIUM: 4,  # warning
    Severity.LOW: 5,  # notice
    Severity.INFO: 6,  # informational
}
_BOM = "\ufeff"
_NILVALUE = "-"
_VALUE_LIMIT = 512  # characters per structured-data value
_MSG_LIMIT = 2000  # characters of MSG

_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")


def _header_field(value: str, limit: int) -> str:
    """A header field (HOSTNAME, APP-NAME, PROCID, MSGID): 1 to ``limit`` printable US-ASCII characters, or '-'."""
    text = _NOT_PRINTUSASCII.sub("_", value)[:limit]
    return text or _NILVALUE


def _timestamp(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_message(note: Notification, *, facility: int, app_name: str, hostname: str, procid: int | str) -> bytes:
    """The RFC 5424 message for ``note`` (without transport framing), UTF-8 encoded."""
    alert: Alert = note.alert
    pri = facility * 8 + _SEVERITY_CODE[alert.severity]
    params = {"event": note.event, **render.plain_fields(alert)}
    sd = " ".join(f'{name}="{escape.sd_param(value)}"' for name, value in params.items() if value is not None)
    header = " ".join(
        (
            f"<{pri}>1",
            _timestamp(alert.last_seen),
            _header_field(hostname, 255),
            _header_field(app_name, 48),
            _header_field(str(procid), 128),
            _header_field(alert.rule, 32),
        )
    )
    msg = escape.one_line(f"{render.summary(alert, 'ja')} / {render.summary(alert, 'en')}", _MSG_LIMIT)
    # A lone surrogate (bytes decoded with surrogateescape) cannot be encoded: it becomes '?'.
    return f"{header} [{SD_ID} {sd}] {_BOM}{msg}".encode("utf-8", errors="replace")


class SyslogAction:
    """Sends each notification as one syslog message to ``target`` (udp://, tcp:// or tls://host:port)."""

    type = "syslog"

    def __init__(self, settings: SyslogSettings, *, hostname: str | None = None, procid: int | None = None) -> None:
        self.name = settings.name
        self.settings = settings
        parts = urlsplit(settings.target)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port or 514
        self._hostname = hostname if hostname is not None else socket.gethostname()
        self._procid = procid if procid is not None else os.getpid()
        self._conn: socket.socket | None = None  # the kept TCP or TLS connection
        self._peer = ""

    # -- Action protocol ---------------------------------------------------------------------------------------

    def deliver(self, note: Notification) -> Outcome:
        message = format_message(
            note,
            facility=self.settings.facility,
            app_name=self.settings.app_name,
            hostname=self._hostname,
            procid=self._procid,
        )
        if self._scheme == "udp":
            return self._send_udp(message)
        # RFC 6587 §3.4.1 octet counting (also RFC 5425 §4.3): "LENGTH SP MESSAGE".
        return self._send_stream(b"%d " % len(message) + message)

    def tick(self, now: float) -> None:
        return None

    def close(self) -> None:
        self._drop_connection(graceful=True)

    # -- transports --------------------------------------------------------------------------------------------

    def _send_udp(self, message: bytes) -> Outcome:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(self._host, self._port, type=socket.SOCK_DGRAM)[0]
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(self.settings.timeout)
                sock.connect(address)
                sent = sock.send(message)
                peer = sock.getpeername()
        except OSError as exc:
            raise DeliveryError(f"cannot send by UDP to {self._host}:{self._port}: {exc}") from exc
        return Outcome(True, f"sent {sent} bytes by UDP to {peer[0]}:{peer[1]} (UDP has no acknowledgement)")

    def _send_stream(self, frame: bytes) -> Outcome:
        conn = self._conn
        reused = conn is not None and self._still_open(conn)
        if conn is None or not reused:
            self._drop_connection(graceful=False)
            conn = self._conn = self._connect()
        try:
            conn.sendall(frame)
        except OSError as first:
            self._drop_connection(graceful=False)
            if not reused:
                raise DeliveryError(f"sending to {self._peer} failed: {first}") from first
            # The kept connection had broken since the last message: open a new one and send once more.
            conn = self._conn = self._connect()
            try:
                conn.sendall(frame)
            except OSError as second:
                self._drop_connection(graceful=False)
                raise DeliveryError(f"sending to {self._peer} failed: {second}") from second
        how = "connection kept open" if reused else "new connection"
        return Outcome(True, f"sent {len(frame)} bytes by {self._scheme.upper()} to {self._peer} ({how})")

    def _connect(self) -> socket.socket:
        timeout = self.settings.timeout
        context = _tls_context(self.settings) if self._scheme == "tls" else None
        try:
            sock = socket.create_connection((self._host, self._port), timeout=timeout)
        except OSError as exc:
            raise DeliveryError(f"cannot connect to {self._host}:{self._port}: {exc}") from exc
        address = sock.getpeername()
        self._peer = f"{address[0]}:{address[1]}"
        if context is None:
            return sock
        try:
            tls = context.wrap_socket(sock, server_hostname=self._host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise DeliveryError(
                f"TLS certificate of {self._host}:{self._port} not accepted: {exc.verify_message}"
                + ("" if self.settings.ca_file else " (checked against the system's CA store; set ca_file?)")
            ) from exc
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise DeliveryError(f"TLS handshake with {self._host}:{self._port} failed: {exc}") from exc
        self._peer += f" {tls.version()}"
        return tls

    def _still_open(self, sock: socket.socket) -> bool:
        """False when the receiver closed the kept connection (a syslog receiver never sends anything else)."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return True
            sock.setblocking(False)
            try:
                sock.recv(1)
            finally:
                sock.settimeout(self.settings.timeout)
        except ssl.SSLWantReadError:
            return True  # only TLS records without data (e.g. TLS 1.3 session tickets)
        except (OSError, ValueError):
            return False
        return False  # end of stream, or data a syslog receiver should not send: start afresh

    def _drop_connection(self, *, graceful: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if graceful and isinstance(conn, ssl.SSLSocket):
                conn.settimeout(min(1.0, self.settings.timeout))
                conn.unwrap()  # send close_notify, so the receiver sees an orderly end
        except (OSError, ValueError):
            pass
        finally:
            conn.close()


def _tls_context(settings: SyslogSettings) -> ssl.SSLContext:
    """Certificates checked against ``ca_file`` when given, else the system's CA store; the host name checked."""
    cafile = str(settings.ca_file) if settings.ca_file else None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"cannot load the CA certificates of ca_file {cafile}: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
