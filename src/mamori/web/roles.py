"""Roles: ``admin`` may change anything, ``viewer`` may only look. Kept as Django groups of those names."""

from __future__ import annotations

from typing import Any

__all__ = ["ADMIN", "ROLES", "VIEWER", "is_admin", "role_of"]

ADMIN = "admin"
VIEWER = "viewer"
ROLES = (ADMIN, VIEWER)


def role_of(user: Any) -> str | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    names = {g.name for g in user.groups.all()}
    if ADMIN in names:
        return ADMIN
    if VIEWER in names:
        return VIEWER
    return None


def is_admin(user: Any) -> bool:
    return role_of(user) == ADMIN
