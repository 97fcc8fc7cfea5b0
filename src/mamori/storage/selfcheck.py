"""The last self-check's findings (``mamori doctor``), kept for the dashboard: each run replaces the table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from mamori.errors import StorageError
from mamori.storage.store import Store

__all__ = ["read_self_check", "record_self_check"]


def record_self_check(store: Store, findings: Sequence[Mapping[str, str]], at: float) -> None:
    """Replace the stored findings by ``findings`` (dicts with check, target, status, found_ja, found_en, fix_ja,
    fix_en), all checked at ``at`` (POSIX seconds)."""
    from django.db import DatabaseError, transaction

    from mamori.storage.models import SelfCheckRecord

    when = dt.datetime.fromtimestamp(at, tz=dt.UTC)
    fields = ("target", "status", "found_ja", "found_en", "fix_ja", "fix_en")
    try:
        with transaction.atomic(using=store.alias):
            SelfCheckRecord.objects.using(store.alias).all().delete()
            SelfCheckRecord.objects.using(store.alias).bulk_create(
                [
                    SelfCheckRecord(checked_at=when, item=str(f["check"]), **{k: str(f.get(k, "")) for k in fields})
                    for f in findings
                ]
            )
    except DatabaseError as exc:
        raise StorageError(f"cannot write the self-check to {store.path}: {exc}") from exc


def read_self_check(store: Store) -> list[dict[str, str]]:
    from mamori.storage.models import SelfCheckRecord

    return [
        {
            "check": r.item,
            "target": r.target,
            "status": r.status,
            "found_ja": r.found_ja,
            "found_en": r.found_en,
            "fix_ja": r.fix_ja,
            "fix_en": r.fix_en,
            "checked_at": r.checked_at.isoformat(),
        }
        for r in SelfCheckRecord.objects.using(store.alias).order_by("id")
    ]
