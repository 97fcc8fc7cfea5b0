"""The audit log (監査ログ, ``mamori_audit``) outside the dashboard: the sensor writes here each block it makes,
records in dry run, refuses, fails, or lifts (by its timer, a registration, a stop or a person's request), so the
administrators' audit page lists them beside what people did. The dashboard writes its own entries through
``mamori.web.audit`` (the request gives the user and address)."""

from __future__ import annotations

from typing import Any

from mamori.errors import StorageError
from mamori.storage.store import Store

__all__ = ["SENSOR", "AuditLog"]

SENSOR = "(sensor)"  # the user column of what the sensor did by itself; "(cli)" is the command line's


class AuditLog:
    """Entries of the audit log on a store."""

    def __init__(self, store: Store) -> None:
        from mamori.storage.models import AuditEntry

        self.store = store
        self._Entry = AuditEntry

    def _rows(self) -> Any:
        return self._Entry.objects.using(self.store.alias)

    def write(self, user: str, action: str, target: str = "", detail: str = "", ip: str = "") -> None:
        """One entry, now; the fields cut to their columns' sizes (a detail is text of any length)."""
        from django.db import DatabaseError

        try:
            self._rows().create(user=user[:150], action=action[:64], target=target[:255], detail=detail, ip=ip[:45])
        except DatabaseError as exc:
            raise StorageError(f"cannot write the audit log in {self.store.path}: {exc}") from exc

    def recent(self, action_prefix: str = "", limit: int = 500) -> list[dict[str, Any]]:
        """The newest entries (whose action starts with ``action_prefix``), newest first, as plain values."""
        rows = self._rows().filter(action__startswith=action_prefix).order_by("-ts", "-id")[:limit]
        return [
            {"ts": r.ts.timestamp(), "user": r.user, "action": r.action, "target": r.target, "detail": r.detail,
             "ip": r.ip}
            for r in rows
        ]  # fmt: skip
