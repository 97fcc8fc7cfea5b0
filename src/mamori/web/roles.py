"""Roles: ``admin`` may change anything, ``viewer`` may only look. Kept as Django groups of those names.

On the central server a user may instead be bound to one or more sites, with ``admin`` or ``viewer`` on each
(``mamori.web.models.SiteRole``): such a user sees only those sites' rows, and acts only where they are admin.
A user in a group has that role on every site (the group administrator); bindings and a group are not mixed
(``mamori user`` sets one or the other). docs/design.md §10, central: roles per site.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ADMIN", "ROLES", "SITE", "VIEWER", "Scope", "chosen_site", "is_admin", "role_of", "scope_of"]

ADMIN = "admin"
VIEWER = "viewer"
SITE = "site"  # bound to sites: the role is per site (Scope)
ROLES = (ADMIN, VIEWER)


@dataclass(frozen=True)
class Scope:
    """What a user may see: every site (``sites`` None) or the sites bound, each with its role."""

    sites: dict[str, str] | None  # site -> admin | viewer; None: every site, with the group's role
    group_admin: bool = False

    @property
    def bound(self) -> bool:
        return self.sites is not None

    @property
    def visible(self) -> list[str] | None:
        """The sites whose rows may be shown (None: all)."""
        return None if self.sites is None else sorted(self.sites)

    def sees(self, site: str) -> bool:
        return self.sites is None or site in self.sites

    def may_act(self, site: str) -> bool:
        """May change this site's alerts (acknowledge, resolve, register a terminal)."""
        if self.sites is None:
            return self.group_admin
        return self.sites.get(site) == ADMIN


def _bindings(user: Any) -> dict[str, str]:
    cached = getattr(user, "_mamori_sites", None)
    if cached is None:
        cached = dict(user.mamori_sites.values_list("site", "role")) if getattr(user, "pk", None) else {}
        user._mamori_sites = cached
    return dict(cached)


def role_of(user: Any) -> str | None:
    """The group role (``admin``, ``viewer``), ``site`` for a user bound to sites, None for no role at all."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    names = {g.name for g in user.groups.all()}
    if ADMIN in names:
        return ADMIN
    if VIEWER in names:
        return VIEWER
    if _bindings(user):
        return SITE
    return None


def is_admin(user: Any) -> bool:
    """A group administrator (every site; on a sensor, the administrator)."""
    return role_of(user) == ADMIN


def scope_of(user: Any) -> Scope:
    role = role_of(user)
    if role == SITE:
        return Scope(_bindings(user))
    if role is None:
        return Scope({})  # nothing (the middleware refuses such a user anyway)
    return Scope(None, group_admin=role == ADMIN)


def chosen_site(scope: Scope, requested: str, known: list[str]) -> str | None:
    """The site a report or checklist is restricted to: ``requested`` (``?site=``) if the reader may see it; a
    reader bound to sites always gets one of theirs (the first when none is asked for); a group reader gets the
    whole database when none is asked for. A site the reader may not see, or that is not known, raises Http404."""
    from django.http import Http404

    if scope.sites is not None:
        if requested:
            if requested not in scope.sites:
                raise Http404
            return requested
        return min(scope.sites) if scope.sites else None
    if requested and requested not in known:
        raise Http404
    return requested or None
