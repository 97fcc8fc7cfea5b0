"""Login, logout, language, and the answers to a forged form or a locked account."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mamori.web import lockout
from mamori.web.audit import audit
from mamori.web.middleware import LANGUAGE_COOKIE
from mamori.web.models import UserPreference
from mamori.web.roles import role_of

__all__ = ["csrf_failure", "locked_out", "login_view", "logout_view", "set_language"]


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def login_view(request: HttpRequest) -> HttpResponse:
    """The login form posts ``username``, ``password`` and the hidden ``csrf_token``."""
    error = ""
    username = ""
    if request.method == "POST":
        username = (request.POST.get("username") or "").strip()[:150]
        if lockout.is_throttled(request):  # an address that failed over many accounts: no more tries for now
            return _throttled(request, username)
        password = request.POST.get("password") or ""
        user = authenticate(request, username=username, password=password)
        if isinstance(user, HttpResponse):  # axes answers a locked account with a response
            return user
        if user is None and lockout.is_throttled(request):  # this failure reached the address limit
            return _throttled(request, username)
        if user is not None and role_of(user) is not None:
            login(request, user)
            audit(request, "login", username)
            response: HttpResponse = redirect(_safe_next(request))
            preference = UserPreference.objects.filter(user=user).first()
            if preference is not None:
                response.set_cookie(LANGUAGE_COOKIE, preference.language, samesite="Lax", secure=request.is_secure())
            return response
        error = _("The user name or password is not correct.")
    return render(request, "mamori/login.html", {"error": error, "username": username, "next": _safe_next(request)})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit(request, "logout", request.user.get_username())
    logout(request)
    return redirect("/login/")


@require_POST
def set_language(request: HttpRequest) -> HttpResponseRedirect:
    """Switch between Japanese and English; kept in the user's preferences (and a cookie for the login page)."""
    language = request.POST.get("language")
    response = HttpResponseRedirect(_safe_next(request, request.headers.get("referer", "/")))
    if language in ("ja", "en"):
        if request.user.is_authenticated:
            UserPreference.objects.update_or_create(user=request.user, defaults={"language": language})
        response.set_cookie(LANGUAGE_COOKIE, language, samesite="Lax", secure=request.is_secure())
    return response


def locked_out(
    request: HttpRequest, credentials: dict[str, Any] | None = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """django-axes calls this when an account is locked after repeated failures."""
    username = str((credentials or {}).get("username") or request.POST.get("username") or "")[:150]
    # One entry per lockout (a user name from an address), not one per attempt made while it lasts.
    from django.utils import timezone

    from mamori.storage.models import AuditEntry
    from mamori.web.apps import dashboard
    from mamori.web.audit import client_ip

    recent = timezone.now() - dt.timedelta(seconds=dashboard().web.lockout.cooloff)
    ip = client_ip(request)
    if not AuditEntry.objects.filter(action="lockout", target=username, ip=ip, ts__gte=recent).exists():
        AuditEntry.objects.create(user=username, action="lockout", target=username, detail="", ip=ip)
    return render(
        request,
        "mamori/login.html",
        {
            "error": _(
                "This account is locked on this computer after repeated failed logins. Try again later or ask an "
                "administrator to unlock it."
            ),
            "username": username,
            "locked": True,
        },
        status=403,
    )


def _throttled(request: HttpRequest, username: str) -> HttpResponse:
    lockout.note_throttle(request)
    return render(
        request,
        "mamori/login.html",
        {
            "error": _(
                "Too many failed logins from this computer. Logins from it are stopped for a while; try again later "
                "or ask an administrator."
            ),
            "username": username,
            "locked": True,
        },
        status=429,
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(
        request,
        "mamori/error.html",
        {
            "title": _("The form has expired"),
            "message": _(
                "The form could not be accepted (its security token is missing or wrong). "
                "Reload the page and try again."
            ),
        },
        status=403,
    )


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "mamori/error.html",
        {"title": _("Not allowed"), "message": _("Your role does not allow this. Ask an administrator.")},
        status=403,
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "mamori/error.html",
        {"title": _("Not found"), "message": _("There is no such page or record.")},
        status=404,
    )
