"""``email``: a plain-text mail per notification, in Japanese then English, sent by SMTP.

``smtp://host:587`` requires STARTTLS (a server that does not offer it is refused, the message is not sent in
clear); ``smtps://host:465`` is TLS from the first byte; ``smtp+plain://host:25`` sends without TLS and is meant for
a relay on the same machine or a trusted segment (a password is never sent over it). Certificates are checked
against ``ca_file`` when given, else the system's CA store, with the host name.

The password is read from ``password_file`` at each delivery (never from the settings file). A password file that
its group or others may read is refused: the attempt fails with a message saying how to fix it (``chmod 600``).
The recorded detail is the server's answer to the message (``250 2.0.0 Ok: queued as ...``), with the recipients it
refused, if any.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mamori import escape
from mamori.alerting.base import (
    DeliveryError,
    Notification,
    Outcome,
    PermanentDeliveryError,
    read_secret,
)
from mamori.config import EmailAction as EmailSettings
from mamori.model import Alert, iso_time
from mamori.rules import render

__all__ = ["EmailAction", "build_message", "read_password"]

_DEFAULT_PORTS = {"smtp": 587, "smtps": 465, "smtp+plain": 25}
_SUBJECT_LIMIT = 200
_SAMPLES_SHOWN = 5
_EVENT_JA = {"new": "新規", "update": "更新"}


def read_password(path: Path) -> str:
    """The first line of ``path``. Refuses a file its group or others may read (DeliveryError saying so)."""
    return read_secret(path, "password_file")


def _local(ts: float, tz: dt.tzinfo | None) -> str:
    moment = dt.datetime.fromtimestamp(ts, tz=dt.UTC).astimezone(tz)
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname() or ''}".rstrip() + f" ({iso_time(ts)})"


def _target(alert: Alert) -> str:
    if alert.dst_ip is None:
        return "-"
    return f"{alert.dst_ip}:{alert.dst_port}" if alert.dst_port is not None else alert.dst_ip


def _facts(alert: Alert, tz: dt.tzinfo | None) -> list[tuple[str, str, str]]:
    """(Japanese label, English label, value) for the body."""
    source = " / ".join(v for v in (alert.src_mac, alert.src_ip) if v) or "-"
    rows = [
        ("ルール", "Rule", alert.rule),  # the title in each language comes with the meaning, below
        ("重大度", "Severity", alert.severity.label),
        ("件数", "Count", str(alert.count)),
        ("最初", "First seen", _local(alert.first_seen, tz)),
        ("最後", "Last seen", _local(alert.last_seen, tz)),
        ("送信元", "Source", source),
        ("宛先", "Target", _target(alert)),
        ("システム", "System", alert.system or "-"),
        ("アラート ID", "Alert ID", alert.uid),
    ]
    return [(ja, en, escape.one_line(value, 1000)) for ja, en, value in rows]


def _details(alert: Alert, lang: str) -> list[str]:
    """The rule's details, a line each, in words."""
    return [f"{label}: {escape.one_line(value, 1000)}" for label, value in render.detail_rows(alert, lang)]


def _samples(alert: Alert, lang: str, tz: dt.tzinfo | None) -> list[str]:
    """The first samples in words, one a line."""
    lines = []
    for sample in alert.samples[:_SAMPLES_SHOWN]:
        ts = sample.get("ts")
        when = _local(ts, tz).split(" (")[0] if isinstance(ts, int | float) else ""
        lines.append("  - " + escape.one_line(f"{when} {render.describe_sample(sample, lang)}".strip(), 1000))
    return lines


def _guidance(alert: Alert, lang: str) -> list[str]:
    """The rule's title, what the alert means and what to do, from the catalogue."""
    rule = render.rule_of(alert)
    if rule is None:
        return []
    if lang == "ja":
        return [f"【{rule.title.ja}】", f"意味: {rule.meaning.ja}", f"対応: {rule.response.ja}", ""]
    return [f"[{rule.title.en}]", f"Meaning: {rule.meaning.en}", f"What to do: {rule.response.en}", ""]


def body_text(note: Notification, tz: dt.tzinfo | None = None) -> str:
    """The mail body: Japanese, then English. ``tz``: the time zone for local times (default: the machine's)."""
    alert = note.alert
    facts = _facts(alert, tz)
    shown = min(len(alert.samples), _SAMPLES_SHOWN)
    ja = [
        f"mamori がアラートを検知しました（{_EVENT_JA.get(note.event, note.event)}）。",
        "",
        escape.one_line(render.summary(alert, "ja"), 2000),
        "",
        *_guidance(alert, "ja"),
        *(f"{label}: {value}" for label, _, value in facts),
        *_details(alert, "ja"),
    ]
    if alert.samples:
        ja += ["", f"観測の見本（最初の {shown} 件）:", *_samples(alert, "ja", tz)]
    en = [
        f"mamori raised an alert ({note.event}).",
        "",
        escape.one_line(render.summary(alert, "en"), 2000),
        "",
        *_guidance(alert, "en"),
        *(f"{label}: {value}" for _, label, value in facts),
        *_details(alert, "en"),
    ]
    if alert.samples:
        en += ["", f"Sample observations (first {shown}):", *_samples(alert, "en", tz)]
    return "\n".join([*ja, "", "-" * 40, "", *en, ""])


def build_message(
    note: Notification,
    settings: EmailSettings,
    *,
    sender: str,
    hostname: str,
    tz: dt.tzinfo | None = None,
    now: float | None = None,
) -> EmailMessage:
    """The message for ``note``: Subject ``<prefix> [<severity>] <rule>: <summary_ja>`` and a UTF-8 text body."""
    alert = note.alert
    subject = f"{settings.subject_prefix} [{alert.severity.label}] {alert.rule}: {render.summary(alert, 'ja')}"
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = escape.one_line(subject, _SUBJECT_LIMIT)
    message["From"] = sender
    message["To"] = ", ".join(settings.to)
    message["Date"] = formatdate(now, localtime=True)
    message["Message-ID"] = make_msgid("mamori", domain=hostname or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    # base64 passes any relay (with or without 8BITMIME) and keeps the Japanese text intact.
    message.set_content(body_text(note, tz), charset="utf-8", cte="base64")
    return message


class EmailAction:
    """Mails each notification to ``to`` through the SMTP server ``smtp``."""

    type = "email"

    def __init__(self, settings: EmailSettings, *, hostname: str | None = None, tz: dt.tzinfo | None = None) -> None:
        self.name = settings.name
        self.settings = settings
        parts = urlsplit(settings.smtp)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port or _DEFAULT_PORTS[parts.scheme]
        self._hostname = hostname if hostname is not None else socket.gethostname()
        self._tz = tz
        self._sender = settings.sender or f"mamori@{self._hostname}"

    def deliver(self, note: Notification) -> Outcome:
        password = self._password()
        message = build_message(note, self.settings, sender=self._sender, hostname=self._hostname, tz=self._tz)
        data = message.as_bytes(policy=SMTP_POLICY)
        smtp = self._session()
        try:
            if self.settings.username is not None and password is not None:
                self._login(smtp, self.settings.username, password)
            return self._send(smtp, data)
        finally:
            _quit(smtp)

    def tick(self, now: float) -> None:
        return None

    def close(self) -> None:
        return None

    # -- steps ---------------------------------------------------------------------------------------------------

    def _password(self) -> str | None:
        settings = self.settings
        if settings.username is None and settings.password_file is None:
            return None
        if settings.username is None or settings.password_file is None:
            raise PermanentDeliveryError("username and password_file go together (a login needs both)")
        if self._scheme == "smtp+plain":
            raise PermanentDeliveryError(
                "a password is never sent without TLS: use smtp:// (STARTTLS) or smtps:// to log in"
            )
        return read_password(settings.password_file)

    def _context(self) -> ssl.SSLContext:
        cafile = str(self.settings.ca_file) if self.settings.ca_file else None
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"cannot load the CA certificates of ca_file {cafile}: {exc}") from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _session(self) -> smtplib.SMTP:
        """A connected, greeted session; TLS in place for smtp:// and smtps://."""
        timeout = self.settings.timeout
        where = f"{self._host}:{self._port}"
        context = None if self._scheme == "smtp+plain" else self._context()
        try:
            if self._scheme == "smtps":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self._host, self._port, local_hostname=self._hostname, timeout=timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(self._host, self._port, local_hostname=self._hostname, timeout=timeout)
        except ssl.SSLCertVerificationError as exc:
            raise self._not_accepted(exc) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"cannot connect to SMTP server {where}: {exc}") from exc
        try:
            smtp.ehlo()
            if self._scheme == "smtp":
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"SMTP server {where} does not offer STARTTLS; not sending in clear "
                        "(use smtps:// for TLS on connect, or smtp+plain:// only for a local relay)"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
        except ssl.SSLCertVerificationError as exc:
            smtp.close()
            raise self._not_accepted(exc) from exc
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _not_accepted(self, exc: ssl.SSLCertVerificationError) -> DeliveryError:
        hint = "" if self.settings.ca_file else " (checked against the system's CA store; set ca_file?)"
        return DeliveryError(f"TLS certificate of {self._host}:{self._port} not accepted: {exc.verify_message}{hint}")

    @staticmethod
    def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
        try:
            smtp.login(username, password)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(
                f"login as {username!r} refused: {exc.smtp_code} {_reply(exc.smtp_error)}"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"the server does not offer a login (AUTH) to {username!r}") from exc
        except UnicodeEncodeError as exc:  # smtplib sends the credentials as ASCII only
            raise PermanentDeliveryError(
                "the user name and password must be ASCII characters (smtplib's limit)"
            ) from exc

    def _send(self, smtp: smtplib.SMTP, data: bytes) -> Outcome:
        code, reply = smtp.mail(self._sender)
        if code != 250:
            smtp.rset()
            raise DeliveryError(f"sender {self._sender} refused: {code} {_reply(reply)}")
        refused: dict[str, Any] = {}
        for address in self.settings.to:
            code, reply = smtp.rcpt(address)
            if code not in (250, 251):
                refused[address] = f"{code} {_reply(reply)}"
        if len(refused) == len(self.settings.to):
            smtp.rset()
            raise DeliveryError("every recipient refused: " + "; ".join(f"{a}: {r}" for a, r in refused.items()))
        code, reply = smtp.data(data)
        if code != 250:
            raise DeliveryError(f"message refused: {code} {_reply(reply)}")
        detail = f"{code} {_reply(reply)}"
        if refused:
            detail += "; refused recipients: " + "; ".join(f"{a}: {r}" for a, r in refused.items())
        return Outcome(True, detail)


def _reply(reply: bytes | str) -> str:
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply
    return escape.one_line(text.replace("\n", " "), 500)


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye; the message is already accepted or refused, so an error here changes nothing."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
