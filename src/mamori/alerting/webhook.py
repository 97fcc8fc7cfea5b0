"""``webhook``: an HTTP(S) POST of the alert as JSON (plain, Microsoft Teams or Slack).

``format: json`` posts ``{"event": ..., **alert_to_dict(alert)}``, values verbatim; ``teams`` posts an Adaptive
Card in the message wrapper that Teams' incoming webhooks and Workflows accept; ``slack`` posts ``text`` and
``blocks`` for a Slack incoming webhook. In the two chat formats, values are shown on one line (control characters
become U+FFFD) and cannot format the message: Slack shows them in ``plain_text`` objects (its mrkdwn has no escape
for ``*bold*``), with ``&``, ``<`` and ``>`` escaped as Slack requires, so a value cannot mention ``@channel`` or
forge a link; the fallback ``text`` carries only mamori's own title. Teams reads every TextBlock and fact as
Markdown: its special characters are escaped with a backslash (CommonMark), so ``[text](url)`` stays text.

A 2xx answer is a delivery (detail: the status and the first 200 characters of the answer). Redirects are not
followed: a 3xx is a failed attempt naming the ``Location`` (fix the url). Every other status, a timeout or a
connection error is a failed attempt, and the dispatcher retries failed attempts up to ``retries`` times with
back-off: that is what 429 and 5xx need; for other 4xx the detail says the request itself was refused.
Certificates are checked against ``ca_file`` when given, else the system's CA store, with the host name. Proxies
come from the service's environment (``https_proxy``, ``no_proxy``), as for any urllib client.

The URL of a Slack or Teams webhook is its secret: messages and records show it as ``https://host/…abcd``. A token
header (``Authorization: Bearer ...``) is read from its file in ``header_files`` at each delivery, as the e-mail
action reads its password, and is never shown either.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from mamori import escape
from mamori.alerting.base import DeliveryError, Notification, Outcome, read_secret
from mamori.config import WebhookAction as WebhookSettings
from mamori.config import redact_url
from mamori.model import Alert, iso_time
from mamori.rules import render
from mamori.rules.render import alert_to_dict

__all__ = ["WebhookAction", "payload"]

_ANSWER_READ = 65536  # bytes of the answer read at most
_ANSWER_SHOWN = 200  # characters of it recorded
_SLACK_TEXT = 3000  # characters of a section's text, as sent (escapes included)
_SLACK_FIELD = 2000  # characters of a field's text
_SLACK_HEADER = 150  # characters of a header's plain_text
_EVENT = {"new": ("新規", "new"), "update": ("更新", "update")}


def _facts(alert: Alert) -> list[tuple[str, str]]:
    """(bilingual label, value) pairs shown in the chat formats."""
    source = " / ".join(v for v in (alert.src_mac, alert.src_ip) if v) or "-"
    target = "-" if alert.dst_ip is None else alert.dst_ip + (f":{alert.dst_port}" if alert.dst_port else "")
    rows = [
        ("ルール / Rule", alert.rule),
        ("重大度 / Severity", alert.severity.label),
        ("件数 / Count", str(alert.count)),
        ("最初 / First seen", iso_time(alert.first_seen)),
        ("最後 / Last seen", iso_time(alert.last_seen)),
        ("送信元 / Source", source),
        ("宛先 / Target", target),
        ("システム / System", alert.system or "-"),
        ("ID", alert.uid),
    ]
    return [(label, escape.one_line(value)) for label, value in rows]


def _title(note: Notification) -> str:
    ja, en = _EVENT.get(note.event, (note.event, note.event))
    alert = note.alert
    return escape.one_line(f"mamori [{alert.severity.label}] {alert.rule} ({ja} / {en})", 150)


def _teams(note: Notification) -> dict[str, Any]:
    alert = note.alert
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": escape.markdown(_title(note)),
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "color": "Attention" if alert.severity.label in ("high", "critical") else "Default",
            },
            {"type": "TextBlock", "text": escape.markdown(render.summary(alert, "ja")), "wrap": True},
            {"type": "TextBlock", "text": escape.markdown(render.summary(alert, "en")), "wrap": True, "isSubtle": True},
            {"type": "FactSet", "facts": [{"title": k, "value": escape.markdown(v)} for k, v in _facts(alert)]},
        ],
    }
    return {
        "type": "message",
        "summary": _title(note),
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def _slack(note: Notification) -> dict[str, Any]:
    alert = note.alert
    half = _SLACK_TEXT // 2
    ja = escape.slack(render.summary(alert, "ja"), half - 1)
    en = escape.slack(render.summary(alert, "en"), half - 1)
    summary = f"{ja}\n{en}"
    fields = [_plain(escape.slack(f"{k}: {v}", _SLACK_FIELD)) for k, v in _facts(alert)]
    return {
        "text": escape.slack(_title(note), _SLACK_HEADER),
        "blocks": [
            {"type": "header", "text": _plain(escape.slack(_title(note), _SLACK_HEADER))},
            {"type": "section", "text": _plain(summary)},
            {"type": "section", "fields": fields[:10]},  # Slack allows at most 10 fields in a section
        ],
    }


def payload(note: Notification, fmt: str) -> dict[str, Any]:
    """The JSON document posted for ``note`` in format ``fmt`` (json, teams or slack)."""
    if fmt == "teams":
        return _teams(note)
    if fmt == "slack":
        return _slack(note)
    return {"event": note.event, **alert_to_dict(note.alert)}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers, not instructions: a POST with an alert is never re-sent elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _answer(data: bytes, scrub: Callable[[str], str]) -> str:
    """The start of the far end's answer; scrubbed before it is cut (an echo of the request holds the secrets)."""
    return escape.one_line(scrub(data.decode("utf-8", errors="replace").strip()), _ANSWER_SHOWN)


def _with_answer(status: str, answer: str) -> str:
    return f"{status}: {answer}" if answer else status


class WebhookAction:
    """POSTs each notification to ``url``."""

    type = "webhook"

    def __init__(self, settings: WebhookSettings, *, proxies: Mapping[str, str] | None = None) -> None:
        self.name = settings.name
        self.settings = settings
        self._proxies = dict(proxies) if proxies is not None else None  # None: from the environment

    def deliver(self, note: Notification) -> Outcome:
        """POST ``note``. No message, record or log line ever holds the URL (for Slack and Teams it is the secret)
        or a header read from ``header_files``: they are replaced by their redacted forms."""
        secrets: list[str] = []
        try:
            secrets = [read_secret(path, f"header_files[{name}]") for name, path in self.settings.header_files.items()]
            outcome = self._post(
                note,
                dict(zip(self.settings.header_files, secrets, strict=True)),
                lambda text: self._scrub(text, secrets),
            )
        except DeliveryError as exc:
            raise type(exc)(self._scrub(str(exc), secrets)) from None
        except Exception as exc:  # anything else the HTTP stack raises: its text may quote the request
            raise DeliveryError(self._scrub(f"{type(exc).__name__}: {exc}", secrets)) from None
        return Outcome(outcome.ok, self._scrub(outcome.detail, secrets), outcome.retry)

    def _scrub(self, text: str, secrets: list[str]) -> str:
        text = self.settings.redact(text)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "(hidden)")
        return text

    def _post(self, note: Notification, secret_headers: dict[str, str], scrub: Callable[[str], str]) -> Outcome:
        settings = self.settings
        body = json.dumps(payload(note, settings.format), ensure_ascii=False, default=str).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "mamori",
            **settings.headers,
            **secret_headers,
        }
        request = urllib.request.Request(settings.url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only, checked by the settings
        where = redact_url(settings.url)
        try:
            with self._opener().open(request, timeout=settings.timeout) as response:
                answer = _answer(response.read(_ANSWER_READ), scrub)
                return Outcome(True, _with_answer(f"HTTP {response.status} {response.reason}", answer))
        except urllib.error.HTTPError as exc:
            return self._refused(exc, scrub)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                hint = "" if settings.ca_file else " (checked against the system's CA store; set ca_file?)"
                raise DeliveryError(f"TLS certificate not accepted: {reason.verify_message}{hint}") from exc
            if isinstance(reason, TimeoutError):
                raise DeliveryError(f"no answer within {settings.timeout:g} s") from exc
            raise DeliveryError(f"cannot reach {where}: {reason}") from exc
        except TimeoutError as exc:
            raise DeliveryError(f"no answer within {settings.timeout:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc

    def tick(self, now: float) -> None:
        return None

    def close(self) -> None:
        return None

    def _opener(self) -> urllib.request.OpenerDirector:
        cafile = str(self.settings.ca_file) if self.settings.ca_file else None
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"cannot load the CA certificates of ca_file {cafile}: {exc}") from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return urllib.request.build_opener(
            urllib.request.ProxyHandler(self._proxies),
            urllib.request.HTTPSHandler(context=context),
            _NoRedirect(),
        )

    @staticmethod
    def _refused(exc: urllib.error.HTTPError, scrub: Callable[[str], str]) -> Outcome:
        try:
            answer = _answer(exc.read(_ANSWER_READ), scrub)
        except (OSError, http.client.HTTPException):
            answer = ""
        status = f"HTTP {exc.code} {exc.reason}"
        if 300 <= exc.code < 400:
            location = redact_url(escape.one_line(exc.headers.get("Location", "?"), 500))  # it may be a secret URL too
            detail = f"{status}: redirect to {location} not followed (set url to the final address)"
            return Outcome(False, detail, retry=False)
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            detail = _with_answer(f"{status}: request refused (check url, headers and format)", answer)
            return Outcome(False, detail, retry=False)  # the same request would be refused again
        return Outcome(False, _with_answer(status, answer))
