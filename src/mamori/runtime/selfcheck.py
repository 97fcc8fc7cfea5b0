"""The self-check's results into the store: the findings for the dashboard, and one ``self-check`` alert per episode
of problems (continued while the problems last, so an hourly timer makes one alert, not one an hour)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Sequence

from mamori.model import Alert, Severity
from mamori.rules.system import SelfCheckDetails
from mamori.runtime.doctor import PROBLEM, Finding
from mamori.storage import Store
from mamori.storage.selfcheck import record_self_check

__all__ = ["ORIGIN", "record_doctor"]

ORIGIN = "doctor"
_CONTINUE = 3 * 24 * 3600.0  # an open self-check alert seen within this is the same episode


def record_doctor(store: Store, findings: Sequence[Finding], now: float) -> Alert | None:
    """Store ``findings``; when some are problems, open or continue the ``self-check`` alert and return it."""
    record_self_check(store, [f.as_dict() for f in findings], now)
    failing = tuple(dict.fromkeys(f.check for f in findings if f.status == PROBLEM))
    if not failing:
        return None
    machine = socket.gethostname()
    details = SelfCheckDetails(
        checks=failing, problems=sum(1 for f in findings if f.status == PROBLEM), machine=machine
    )
    previous = [a for a in store.recent_open_alerts(now - _CONTINUE, origin=ORIGIN) if a.rule == "self-check"]
    if previous:
        last = previous[-1]
        alert = Alert(
            uid=last.uid,
            rule="self-check",
            key=last.key,
            severity=Severity.HIGH,
            first_seen=last.first_seen,
            last_seen=now,
            count=last.count + 1,
            details=details,
        )
    else:
        alert = Alert(
            uid=uuid.uuid4().hex,
            rule="self-check",
            key=f"self-check:{machine}",
            severity=Severity.HIGH,
            first_seen=now,
            last_seen=now,
            count=1,
            details=details,
        )
    store.upsert_alerts([alert], origin=ORIGIN)
    return alert
