"""``zabbix``: each alert becomes a value of a Zabbix trapper item; a heartbeat tells Zabbix the sensor is alive.

Values go through the official ``zabbix_utils`` Sender (the Zabbix sender protocol, as ``zabbix_sender`` speaks it)
to ``<key_prefix>.alert[<rule>]`` of the host named ``host``; the template printed by ``mamori zabbix-template``
(:mod:`mamori.alerting.zabbix_template`) has those items and the triggers that turn values into problems. The value
is one line (see :func:`zabbix_value`). A value the server did not accept (``failed``: no such host or item, host
disabled, encryption refused) or a server that cannot be reached is a failed attempt, retried by the dispatcher.

TLS with a pre-shared key (``tls_psk_identity``/``tls_psk_file``, the host's "PSK" encryption in Zabbix) needs
OpenSSL's PSK callbacks in Python: the standard ``ssl`` module has them from Python 3.13; on 3.11 and 3.12 they
come from the ``sslpsk3`` package (a compiled extension: ``pip install 'mamori[zabbix-psk]'``). Without either,
building the action fails with that explanation rather than sending unencrypted.
"""

from __future__ import annotations

import logging
import re
import ssl
import stat
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zabbix_utils import Sender
from zabbix_utils.exceptions import ProcessingError

from mamori import escape
from mamori.alerting.base import Notification, Outcome
from mamori.alerting.zabbix_template import SEPARATOR, alert_key, heartbeat_key
from mamori.config import ZabbixAction as ZabbixSettings
from mamori.model import Alert, Severity
from mamori.rules import render

__all__ = ["ZabbixAction", "psk_support", "read_psk", "zabbix_value"]

log = logging.getLogger(__name__)

_VALUE_LIMIT = 4000  # characters; Zabbix text items hold 64 KB, the line is meant to be read
_MEMORY = 10_000  # alerts remembered per action (severity sent, first value not yet through), oldest dropped
_PSK_RE = re.compile(r"^[0-9a-fA-F]{32,512}$")


def zabbix_value(alert: Alert, event: str) -> str:
    """The trapper value of one notification, e.g.
    ``high|new|port-scan|<uid>|count=1003|src_mac=..|src_ip=..|dst=10.0.0.2|system=..|<summary_ja> / <summary_en>``.

    The first three fields are what the template's triggers match (severity, event: new/escalated/update, rule);
    absent optional fields are left out.
    """
    fields = [alert.severity.label, event, alert.rule, escape.zabbix_field(alert.uid), f"count={alert.count}"]
    if alert.src_mac:
        fields.append(f"src_mac={escape.zabbix_field(alert.src_mac)}")
    if alert.src_ip:
        fields.append(f"src_ip={escape.zabbix_field(alert.src_ip)}")
    if alert.dst_ip:
        dst = alert.dst_ip if alert.dst_port is None else f"{alert.dst_ip}:{alert.dst_port}"
        if ":" in alert.dst_ip and alert.dst_port is not None:
            dst = f"[{alert.dst_ip}]:{alert.dst_port}"
        fields.append(f"dst={escape.zabbix_field(dst)}")
    elif alert.dst_port is not None:
        fields.append(f"dst_port={alert.dst_port}")
    if alert.system:
        fields.append(f"system={escape.zabbix_field(alert.system)}")
    ja, en = render.summary(alert, "ja"), render.summary(alert, "en")
    fields.append(f"{escape.zabbix_field(ja)} / {escape.zabbix_field(en)}")
    value = SEPARATOR.join(fields)
    return value if len(value) <= _VALUE_LIMIT else value[: _VALUE_LIMIT - 1] + "…"


# -- TLS-PSK ------------------------------------------------------------------------------------------------------


def psk_support() -> tuple[type[ssl.SSLContext] | None, str]:
    """The SSLContext class that can do TLS-PSK here, and how (or None and why not)."""
    if hasattr(ssl.SSLContext, "set_psk_client_callback"):
        return ssl.SSLContext, "Python's ssl module"
    try:
        from sslpsk3 import SSLPSKContext
    except ImportError:
        return None, (
            "TLS-PSK needs Python 3.13 or later, or the sslpsk3 package on this Python "
            "(pip install 'mamori[zabbix-psk]'; it compiles against OpenSSL)"
        )
    return SSLPSKContext, "sslpsk3"


def read_psk(path: Path) -> bytes:
    """The key in a Zabbix PSK file: 32 to 512 hex digits (as written by ``openssl rand -hex 32``)."""
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the PSK file: {exc}") from None
    if not _PSK_RE.match(text) or len(text) % 2:
        raise ValueError(f"{path}: a PSK file holds one key of 32 to 512 hex digits (e.g. from openssl rand -hex 32)")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: the PSK file can be read by other users; chmod 600 it", path)
    return bytes.fromhex(text)


def _psk_wrapper(identity: str, psk: bytes) -> Callable[[Any, Any], Any]:
    context_class, how = psk_support()
    if context_class is None:
        raise ValueError(how)
    context: Any = context_class(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # a PSK authenticates both ends; there is no certificate
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # PSK cipher suites as Zabbix offers them
    context.set_ciphers("PSK")
    context.set_psk_client_callback(lambda _hint: (identity, psk))

    def wrap(sock: Any, _tls: Any) -> Any:
        try:
            return context.wrap_socket(sock)
        except Exception:
            sock.close()
            raise

    return wrap


# -- the action ---------------------------------------------------------------------------------------------------


class ZabbixAction:
    type = "zabbix"

    def __init__(self, settings: ZabbixSettings, *, sender: Any = None) -> None:
        self.name = settings.name
        self.settings = settings
        if ":" in settings.server:
            raise ValueError(
                f"action {settings.name!r}: server {settings.server!r}: give a host name or an IPv4 address "
                "(zabbix_utils' sender does not take IPv6 literals)"
            )
        wrapper = None
        if settings.tls_psk_identity is not None and settings.tls_psk_file is not None:
            try:
                wrapper = _psk_wrapper(settings.tls_psk_identity, read_psk(settings.tls_psk_file))
            except ValueError as exc:
                raise ValueError(f"action {settings.name!r}: {exc}") from None
        self.encrypted = wrapper is not None
        self._sender = sender or Sender(
            server=settings.server, port=settings.port, timeout=settings.timeout, socket_wrapper=wrapper
        )
        self._where = f"{settings.server}:{settings.port}"
        self._sent_severity: OrderedDict[str, Severity] = OrderedDict()  # uid -> highest severity sent
        self._unsent_new: OrderedDict[str, None] = OrderedDict()  # uids whose first value has not got through
        self._next_heartbeat = 0.0
        self.last_heartbeat: Outcome | None = None  # what the server answered to the latest heartbeat

    def _event(self, note: Notification) -> str:
        """``new`` (also for an update of an alert whose ``new`` never got through), ``escalated`` (its severity
        rose since the last value this action sent) or ``update``."""
        uid = note.alert.uid
        if note.event == "new" or uid in self._unsent_new:
            return "new"
        before = self._sent_severity.get(uid)
        return "escalated" if before is not None and note.alert.severity > before else "update"

    @staticmethod
    def _bounded_put(memory: OrderedDict[str, Any], uid: str, value: Any) -> None:
        memory[uid] = value
        memory.move_to_end(uid)
        while len(memory) > _MEMORY:
            memory.popitem(last=False)

    def _remember(self, alert: Alert, event: str, ok: bool) -> None:
        if not ok:
            if event == "new":
                self._bounded_put(self._unsent_new, alert.uid, None)
            return
        self._unsent_new.pop(alert.uid, None)
        before = self._sent_severity.get(alert.uid, alert.severity)
        self._bounded_put(self._sent_severity, alert.uid, max(alert.severity, before))

    def _send(self, key: str, value: str, clock: int | None = None) -> Outcome:
        try:
            response = self._sender.send_value(self.settings.host, key, value, clock)
        except (ProcessingError, OSError, ValueError) as exc:
            return Outcome(False, f"{self._where}: {type(exc).__name__}: {exc}")
        detail = (
            f"{self._where} {key}: processed {response.processed}, failed {response.failed}, total {response.total}"
        )
        if response.failed or not response.processed:
            # Retried like an unreachable server: a host or template just added reaches the server's
            # configuration cache only after its next update (CacheUpdateFrequency), so a retry can succeed.
            detail += (
                f" (the server has no enabled trapper item {key} on host {self.settings.host!r} that takes this "
                "value: check the host name, that the template is linked and the host's encryption settings)"
            )
            return Outcome(False, detail)
        return Outcome(True, detail)

    def deliver(self, note: Notification) -> Outcome:
        alert = note.alert
        event = self._event(note)
        outcome = self._send(alert_key(self.settings.key_prefix, alert.rule), zabbix_value(alert, event))
        self._remember(alert, event, outcome.ok)
        return outcome

    def tick(self, now: float) -> None:
        """Send ``<prefix>.heartbeat`` (the Unix time) every ``heartbeat`` seconds; the first at once."""
        interval = self.settings.heartbeat
        if interval <= 0 or now < self._next_heartbeat:
            return
        self._next_heartbeat = now + interval
        outcome = self._send(heartbeat_key(self.settings.key_prefix), str(int(now)), int(now))
        was_ok = self.last_heartbeat is None or self.last_heartbeat.ok
        if not outcome.ok and was_ok:
            log.warning("action %s: heartbeat not accepted: %s", self.name, outcome.detail)
        elif outcome.ok and not was_ok:
            log.info("action %s: heartbeat accepted again", self.name)
        self.last_heartbeat = outcome

    def close(self) -> None:
        return None  # the sender opens one connection per value
