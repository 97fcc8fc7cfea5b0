"""LAN threats in the database: the installation's salt for password tags, and the logins seen in clear text,
read back as checklist evidence (docs/design.md §10, "LAN threats")."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass

from mamori.errors import StorageError
from mamori.model import CleartextLogin
from mamori.storage.store import Store

__all__ = ["CleartextLoginTable", "LoginSummary", "installation_salt"]

_SALT = "password-tag-salt"


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def installation_salt(store: Store) -> bytes:
    """The salt of this installation's password tags: made (32 random bytes) the first time, kept in the database,
    so that tags from different runs and from the sensor and the collector can be compared."""
    from django.db import DatabaseError, IntegrityError, transaction

    from mamori.storage.models import InstallationSecret

    rows = InstallationSecret.objects.using(store.alias)
    try:
        row = rows.filter(name=_SALT).first()
        if row is None:
            try:
                with transaction.atomic(using=store.alias):
                    row = rows.create(name=_SALT, value=os.urandom(32))
            except IntegrityError:  # made by another process meanwhile
                row = rows.get(name=_SALT)
    except DatabaseError as exc:
        raise StorageError(f"cannot read the installation's salt in {store.path}: {exc}") from exc
    return bytes(row.value)


@dataclass(frozen=True)
class LoginSummary:
    """One row of the evidence: a (method, client, server, account, password tag) seen, with times and count."""

    protocol: str
    client_ip: str
    server_ip: str
    server_port: int
    account: str
    password_tag: str
    first_seen: float
    last_seen: float
    logins: int


class CleartextLoginTable:
    def __init__(self, store: Store) -> None:
        from mamori.storage.models import CleartextLoginRecord

        self.store = store
        self.alias = store.alias
        self._Row = CleartextLoginRecord

    def save(self, logins: Sequence[CleartextLogin], *, origin: str = "sensor") -> None:
        """Count the logins into their rows (made on first sight)."""
        from django.db import DatabaseError, transaction
        from django.db.models import F
        from django.db.models.functions import Greatest

        try:
            with transaction.atomic(using=self.alias):
                for login in logins:
                    ident = {
                        "protocol": login.protocol,
                        "client_ip": login.client_ip,
                        "server_ip": login.server_ip,
                        "server_port": login.server_port,
                        "account": login.account[:256],
                        "password_tag": login.password_tag or "",
                    }
                    rows = self._Row.objects.using(self.alias).filter(**ident)
                    seen = _utc(login.ts)
                    if not rows.update(logins=F("logins") + 1, last_seen=Greatest(F("last_seen"), seen)):
                        self._Row.objects.using(self.alias).create(
                            **ident,
                            client_mac=login.client_mac or "",
                            first_seen=seen,
                            last_seen=seen,
                            logins=1,
                            origin=origin,
                        )
        except DatabaseError as exc:
            raise StorageError(f"cannot record cleartext logins in {self.store.path}: {exc}") from exc

    def since(self, since: float) -> list[LoginSummary]:
        """Rows seen since ``since``, by method, server and account."""
        from django.db import DatabaseError

        try:
            rows = list(
                self._Row.objects.using(self.alias)
                .filter(last_seen__gte=_utc(since))
                .order_by("protocol", "server_ip", "server_port", "account", "id")
            )
        except DatabaseError as exc:
            raise StorageError(f"cannot read cleartext logins in {self.store.path}: {exc}") from exc
        return [
            LoginSummary(
                protocol=r.protocol,
                client_ip=r.client_ip,
                server_ip=r.server_ip,
                server_port=r.server_port,
                account=r.account,
                password_tag=r.password_tag,
                first_seen=r.first_seen.timestamp(),
                last_seen=r.last_seen.timestamp(),
                logins=r.logins,
            )
            for r in rows
        ]
