"""Every page needs a login (and a role); the user's language applies to every page they see; every answer carries
the Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import translation

from mamori.web.roles import SITE, role_of

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "ContentSecurityPolicyMiddleware",
    "CsrfFieldMiddleware",
    "LoginRequiredMiddleware",
    "UserLanguageMiddleware",
    "site_page",
]

_PUBLIC = ("/login/", "/static/", "/lang/")
# What a user bound to sites may open on the central server: the pages whose rows carry a site and are filtered by
# it. The others (the central box's own ledger, assets, zones, exposure, backups, blocks, maintenance plans, the
# administration) hold no site's rows or another site's: they answer 404 as if absent (docs/design.md §10).
_SITE_PAGES = ("/alerts/", "/incidents/", "/checklist/", "/reports/", "/api/overview/", "/logout/")
_SITE_EXACT = ("/", "/favicon.ico")
LANGUAGE_COOKIE = "mamori_lang"
# Every script, style and image is a file of the dashboard's own (no CDN, no inline script or style attribute):
# whatever an attacker gets into a page through a name from the network cannot run.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class LoginRequiredMiddleware:
    """No page or API answers without a session of a user with a role: pages redirect to the login page, the API
    answers 401 (no session) or 403 (no role)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path.startswith(_PUBLIC):
            return self.get_response(request)
        user = request.user
        api = path.startswith("/api/")
        if not user.is_authenticated:
            if api:
                return JsonResponse({"error": "authentication required"}, status=401)
            return redirect(f"{settings.LOGIN_URL}?next={request.get_full_path()}")
        if role_of(user) is None:
            if api:
                return JsonResponse({"error": "no role"}, status=403)
            return HttpResponse(status=403)
        if role_of(user) == SITE and path not in _SITE_EXACT and not path.startswith(_SITE_PAGES):
            raise Http404
        return self.get_response(request)


def site_page(path: str) -> bool:
    """A page a user bound to sites may open (the navigation shows only these to them)."""
    return path in _SITE_EXACT or path.startswith(_SITE_PAGES)


class UserLanguageMiddleware:
    """Japanese unless the user chose English (kept in their preferences; a cookie before they log in)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = settings.LANGUAGE_CODE
        user = request.user
        if user.is_authenticated:
            preference = getattr(user, "mamori_preference", None)
            if preference is not None:
                language = preference.language
        elif request.COOKIES.get(LANGUAGE_COOKIE) in ("ja", "en"):
            language = request.COOKIES[LANGUAGE_COOKIE]
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response


class CsrfFieldMiddleware:
    """Every form posts its CSRF token as ``csrf_token``; Django's check reads it from here (the header field it
    accepts besides its own ``csrfmiddlewaretoken``). The token is still checked against the cookie by Django."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and "HTTP_X_CSRFTOKEN" not in request.META:
            token = request.POST.get("csrf_token")
            if token:
                request.META["HTTP_X_CSRFTOKEN"] = token
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Sends the Content-Security-Policy header with every answer (Django 5.2 has no setting for it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
