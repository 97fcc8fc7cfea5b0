"""The asset ledger from observation (2-①) and the checklist's confirmed answers, in the database.

Devices come from the sensor's sightings (merged on the alert writer's thread: earliest first seen, latest last
seen, addresses and services added up to a cap); a person confirms or retires each on the dashboard; a comparison
of the ledger with reality is recorded with its counts. Answers to checklist items are append-only rows: the
newest of a form and item is the answer, the older ones its history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mamori.errors import StorageError
from mamori.model import DeviceSighting
from mamori.storage.store import Store

__all__ = ["Answer", "AnswerTable", "Asset", "AssetTable", "Comparison"]

_CHUNK = 500
MAX_IPS = 16
MAX_SERVICES = 64


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


@dataclass(frozen=True)
class Asset:
    mac: str
    ips: tuple[str, ...]
    services: tuple[str, ...]
    many_ips: bool
    first_seen: float
    last_seen: float
    status: str  # unreviewed | confirmed | retired
    name: str = ""
    note: str = ""
    reviewed_by: str = ""
    reviewed_at: float | None = None


@dataclass(frozen=True)
class Comparison:
    ts: float
    user: str
    devices: int
    unknown: int
    missing: int
    note: str = ""


@dataclass(frozen=True)
class Answer:
    form: str
    item: str
    answer: str  # yes | no
    checked_on: dt.date
    target_on: dt.date | None
    answered_by: str
    answered_at: float
    proposed: str = ""
    note: str = ""
    evidence: tuple[dict[str, Any], ...] = field(default_factory=tuple)


class AssetTable:
    def __init__(self, store: Store) -> None:
        from mamori.storage.models import AssetComparison, AssetRecord

        self.store = store
        self.alias = store.alias
        self._Asset = AssetRecord
        self._Comparison = AssetComparison

    def save(self, sightings: Sequence[DeviceSighting]) -> None:
        """Merge sightings into the ledger (one transaction)."""
        from django.db import DatabaseError, transaction

        try:
            with transaction.atomic(using=self.alias):
                for begin in range(0, len(sightings), _CHUNK):
                    self._merge(sightings[begin : begin + _CHUNK])
        except DatabaseError as exc:
            raise StorageError(f"cannot write the asset ledger in {self.store.path}: {exc}") from exc

    def _merge(self, sightings: Sequence[DeviceSighting]) -> None:
        manager = self._Asset.objects.using(self.alias)
        latest = {s.mac: s for s in sightings}
        existing = {r.mac: r for r in manager.filter(mac__in=list(latest))}
        new_rows, changed = [], []
        for mac, s in latest.items():
            row = existing.get(mac)
            if row is None:
                new_rows.append(
                    self._Asset(
                        mac=mac,
                        ips=list(s.ips[:MAX_IPS]),
                        services=list(s.services[:MAX_SERVICES]),
                        many_ips=s.many_ips or len(s.ips) > MAX_IPS,
                        first_seen=_utc(s.first_seen),
                        last_seen=_utc(s.last_seen),
                    )
                )
                continue
            row.first_seen = min(row.first_seen, _utc(s.first_seen))
            row.last_seen = max(row.last_seen, _utc(s.last_seen))
            ips = list(row.ips)
            for ip in s.ips:
                if ip not in ips:
                    if len(ips) < MAX_IPS:
                        ips.append(ip)
                    else:
                        row.many_ips = True
            row.ips = ips
            services = list(row.services)
            services += [x for x in s.services if x not in services][: max(0, MAX_SERVICES - len(services))]
            row.services = services
            row.many_ips = row.many_ips or s.many_ips
            changed.append(row)
        manager.bulk_create(new_rows, batch_size=_CHUNK)
        manager.bulk_update(changed, ["first_seen", "last_seen", "ips", "services", "many_ips"], batch_size=_CHUNK)

    def assets(self, *, include_retired: bool = True) -> list[Asset]:
        from django.db import DatabaseError

        try:
            rows = self._Asset.objects.using(self.alias).order_by("mac")
            if not include_retired:
                rows = rows.exclude(status=self._Asset.Status.RETIRED)
            return [_asset(r) for r in rows.iterator(chunk_size=5000)]
        except DatabaseError as exc:
            raise StorageError(f"cannot read the asset ledger in {self.store.path}: {exc}") from exc

    def review(self, mac: str, status: str, user: str, *, name: str = "", note: str = "", now: float) -> Asset:
        """Confirm (with a name) or retire a device, or put it back to unreviewed. Raises KeyError if unknown."""
        if status not in self._Asset.Status.values:
            raise ValueError(f"unknown status {status!r}")
        row = self._Asset.objects.using(self.alias).filter(mac=mac).first()
        if row is None:
            raise KeyError(mac)
        row.status = status
        if name:
            row.name = name[:200]
        row.note = note[:2000]
        row.reviewed_by = user[:150]
        row.reviewed_at = _utc(now)
        row.save(using=self.alias)
        return _asset(row)

    def record_comparison(self, user: str, *, devices: int, unknown: int, missing: int, note: str, now: float) -> None:
        self._Comparison.objects.using(self.alias).create(
            ts=_utc(now), user=user[:150], devices=devices, unknown=unknown, missing=missing, note=note[:2000]
        )

    def last_comparison(self) -> Comparison | None:
        row = self._Comparison.objects.using(self.alias).order_by("-ts", "-id").first()
        if row is None:
            return None
        return Comparison(row.ts.timestamp(), row.user, row.devices, row.unknown, row.missing, row.note)


def _asset(r: Any) -> Asset:
    return Asset(
        mac=r.mac,
        ips=tuple(r.ips or ()),
        services=tuple(r.services or ()),
        many_ips=r.many_ips,
        first_seen=r.first_seen.timestamp(),
        last_seen=r.last_seen.timestamp(),
        status=r.status,
        name=r.name,
        note=r.note,
        reviewed_by=r.reviewed_by,
        reviewed_at=r.reviewed_at.timestamp() if r.reviewed_at else None,
    )


class AnswerTable:
    def __init__(self, store: Store) -> None:
        from mamori.storage.models import ChecklistAnswer

        self.store = store
        self.alias = store.alias
        self._Answer = ChecklistAnswer

    def record(self, answer: Answer) -> None:
        from django.db import DatabaseError

        try:
            self._Answer.objects.using(self.alias).create(
                form=answer.form[:200],
                item=answer.item[:16],
                answer=answer.answer,
                checked_on=answer.checked_on,
                target_on=answer.target_on,
                answered_by=answer.answered_by[:150],
                answered_at=_utc(answer.answered_at),
                proposed=answer.proposed,
                note=answer.note[:4000],
                evidence=list(answer.evidence),
            )
        except DatabaseError as exc:
            raise StorageError(f"cannot record the answer in {self.store.path}: {exc}") from exc

    def current(self, form: str) -> dict[str, Answer]:
        """The newest answer of each item of ``form``."""
        out: dict[str, Answer] = {}
        for r in self._Answer.objects.using(self.alias).filter(form=form).order_by("answered_at", "id"):
            out[r.item] = Answer(
                form=r.form,
                item=r.item,
                answer=r.answer,
                checked_on=r.checked_on,
                target_on=r.target_on,
                answered_by=r.answered_by,
                answered_at=r.answered_at.timestamp(),
                proposed=r.proposed,
                note=r.note,
                evidence=tuple(r.evidence or ()),
            )
        return out

    def forms(self) -> list[str]:
        return sorted(set(self._Answer.objects.using(self.alias).values_list("form", flat=True)))
