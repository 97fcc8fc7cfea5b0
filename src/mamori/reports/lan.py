"""Checklist evidence from the logins seen in clear text (docs/design.md §10, "LAN threats"): the cleartext
protocols in use (item 2-⑫: services that should not be offered) and the passwords used on several servers (item
2-⑧: no password reuse). Reads through storage only; the checklist report and the dashboard call
:func:`lan_evidence`."""

from __future__ import annotations

from dataclasses import dataclass

from mamori.storage.lan import CleartextLoginTable, LoginSummary

__all__ = ["CleartextUse", "LanEvidence", "PasswordReuse", "lan_evidence"]


@dataclass(frozen=True)
class CleartextUse:
    """A method in clear text used with one server port: who used it, as which accounts, when last."""

    protocol: str
    server_ip: str
    server_port: int
    clients: tuple[str, ...]
    accounts: tuple[str, ...]
    logins: int
    last_seen: float


@dataclass(frozen=True)
class PasswordReuse:
    """One password (known only by its tag) seen on several servers, with the accounts that sent it."""

    password_tag: str
    servers: tuple[str, ...]
    accounts: tuple[str, ...]
    last_seen: float


@dataclass(frozen=True)
class LanEvidence:
    in_use: tuple[CleartextUse, ...]  # 2-⑫
    reuse: tuple[PasswordReuse, ...]  # 2-⑧
    since: float

    @property
    def cleartext_ok(self) -> bool:
        return not self.in_use

    @property
    def reuse_ok(self) -> bool:
        return not self.reuse


def lan_evidence(table: CleartextLoginTable, since: float) -> LanEvidence:
    rows = table.since(since)
    return LanEvidence(in_use=_in_use(rows), reuse=_reuse(rows), since=since)


def _in_use(rows: list[LoginSummary]) -> tuple[CleartextUse, ...]:
    groups: dict[tuple[str, str, int], list[LoginSummary]] = {}
    for row in rows:
        groups.setdefault((row.protocol, row.server_ip, row.server_port), []).append(row)
    return tuple(
        CleartextUse(
            protocol=protocol,
            server_ip=server,
            server_port=port,
            clients=tuple(sorted({r.client_ip for r in group})),
            accounts=tuple(sorted({r.account for r in group if r.account})),
            logins=sum(r.logins for r in group),
            last_seen=max(r.last_seen for r in group),
        )
        for (protocol, server, port), group in sorted(groups.items())
    )


def _reuse(rows: list[LoginSummary]) -> tuple[PasswordReuse, ...]:
    by_tag: dict[str, list[LoginSummary]] = {}
    for row in rows:
        if row.password_tag:
            by_tag.setdefault(row.password_tag, []).append(row)
    out = []
    for tag, group in sorted(by_tag.items()):
        servers = sorted({r.server_ip for r in group})
        if len(servers) < 2:
            continue
        out.append(
            PasswordReuse(
                password_tag=tag,
                servers=tuple(servers),
                accounts=tuple(sorted({r.account for r in group if r.account})),
                last_seen=max(r.last_seen for r in group),
            )
        )
    return tuple(out)
