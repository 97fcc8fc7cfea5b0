"""The Action protocol, the notification an action delivers, and what actions share (outcomes, secrets). The
action types are listed in ``mamori.alerting.registry``."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mamori.model import Alert

__all__ = [
    "Action",
    "DeliveryError",
    "Notification",
    "Outcome",
    "PermanentDeliveryError",
    "read_secret",
]


@dataclass(frozen=True)
class Notification:
    """An alert to deliver. ``event``: ``new`` (the first time this action hears of it) or ``update`` (it grew)."""

    alert: Alert
    event: str


@dataclass(frozen=True)
class Outcome:
    """What the far end answered. ``detail`` is recorded for the operator (exit code and output, HTTP status...).
    ``retry=False`` says that trying again cannot help (a refused request, a rejected login): no retries."""

    ok: bool
    detail: str
    retry: bool = True


class DeliveryError(Exception):
    """A delivery failed in a way worth retrying (the far end is down, timed out)."""


class PermanentDeliveryError(DeliveryError):
    """A delivery failed in a way retrying cannot mend (a rejected login, a settings mistake)."""


def read_secret(path: Path, what: str) -> str:
    """The first line of ``path`` (a password, a token). Refuses a file its group or others may read, saying how to
    fix it; the secret itself is never part of a message."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            raise DeliveryError(
                f"{what} {path} may be read by other users (mode {stat.S_IMODE(mode):04o}); "
                f"not used: run  chmod 600 {path}  (and chown it to the user mamori runs as)"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeliveryError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise DeliveryError(f"{what} {path} is not UTF-8 text") from None
    return text.splitlines()[0] if text else ""


class Action(Protocol):
    """Delivers notifications somewhere. ``deliver`` runs on the action's own thread and may block up to the
    action's timeout; it returns an Outcome or raises (any exception is a failed attempt, retried with back-off)."""

    name: str
    type: str

    def deliver(self, note: Notification) -> Outcome: ...

    def tick(self, now: float) -> None:
        """Called about once a second on the action's thread (heartbeats); most actions do nothing."""

    def close(self) -> None: ...
