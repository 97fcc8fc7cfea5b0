"""What every template knows: the user's role, the site's name, the language."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from mamori.web.apps import dashboard
from mamori.web.roles import ADMIN, SITE, role_of, scope_of


def mamori(request: HttpRequest) -> dict[str, Any]:
    role = role_of(request.user)
    parts = dashboard()
    bound = scope_of(request.user).sites if role == SITE else None
    return {
        "role": role,
        # a user bound to sites (the central server): the navigation shows only the pages of their sites' rows
        "site_bound": role == SITE,
        "site_roles": sorted((bound or {}).items()),
        "is_admin": role == ADMIN,
        "site_name": parts.site.name or "mamori",
        "language": getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE),
        "https": parts.web.tls is not None,
    }
