"""What every template knows: the user's role, the site's name, the language."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from mamori.web.apps import dashboard
from mamori.web.roles import ADMIN, role_of


def mamori(request: HttpRequest) -> dict[str, Any]:
    role = role_of(request.user)
    parts = dashboard()
    return {
        "role": role,
        "is_admin": role == ADMIN,
        "site_name": parts.site.name or "mamori",
        "language": getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE),
        "https": parts.web.tls is not None,
    }
