"""Setting a user's role: a group role (every site) or roles per site on the central server. Used by ``mamori user``
and the users page, so both check the same things (docs/design.md §10, central: roles per site)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mamori.errors import MamoriError
from mamori.web.roles import ROLES

__all__ = ["UnknownSite", "bind_sites", "describe_role", "known_site_names", "set_group_role", "unbind_sites"]


class UnknownSite(MamoriError):
    """A site the central server has not heard from (the message lists those it has)."""

    def __init__(self, site: str, known: list[str]) -> None:
        self.site, self.known = site, known
        if known:
            listed = ", ".join(known)
            text = (
                f"サイト {site!r} はありません（既知のサイト: {listed}） / "
                f"no site {site!r} (the sites the central server has heard from: {listed})"
            )
        else:
            text = (
                f"サイト {site!r} はありません: サイト別の役割は中央サーバで、そのサイトのセンサーから届いた後に"
                f"設定します / no site {site!r}: roles per site are set on the central server, once that site's "
                "sensor has been heard from (this database has heard from none)"
            )
        super().__init__(text)


def known_site_names() -> list[str]:
    from mamori.storage.models import CentralSite

    return list(CentralSite.objects.order_by("site").values_list("site", flat=True))


def _check(sites: Mapping[str, str] | list[str]) -> None:
    known = known_site_names()
    for site in sites:
        if site not in known:
            raise UnknownSite(site, known)


def set_group_role(account: Any, role: str) -> None:
    """Every site with ``role`` (the group administrator or viewer): the site bindings go."""
    from django.contrib.auth.models import Group

    from mamori.web.models import SiteRole

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    account.groups.remove(*Group.objects.filter(name__in=ROLES))
    account.groups.add(Group.objects.get_or_create(name=role)[0])
    SiteRole.objects.filter(user=account).delete()


def bind_sites(account: Any, sites: Mapping[str, str]) -> None:
    """Bind ``account`` to each site with its role (added or changed; other bindings kept). The group role goes: a
    user bound to sites sees only those."""
    from django.contrib.auth.models import Group

    from mamori.web.models import SiteRole

    _check(sites)
    for site, role in sites.items():
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        SiteRole.objects.update_or_create(user=account, site=site, defaults={"role": role})
    account.groups.remove(*Group.objects.filter(name__in=ROLES))


def unbind_sites(account: Any, sites: list[str]) -> int:
    """Remove these bindings; returns how many there were."""
    from mamori.web.models import SiteRole

    deleted, _ = SiteRole.objects.filter(user=account, site__in=sites).delete()
    return int(deleted)


def describe_role(account: Any) -> str:
    """``admin``, ``viewer``, ``hospital-a:admin,hospital-b:viewer``, or ``-`` (no role: cannot log in)."""
    from mamori.web.roles import SITE, role_of, scope_of

    role = role_of(account)
    if role == SITE:
        return ",".join(f"{site}:{r}" for site, r in sorted((scope_of(account).sites or {}).items()))
    return role or "-"
