"""The audit log: every change an administrator makes is written here, and shown to administrators."""

from __future__ import annotations

from django.http import HttpRequest

from mamori.storage.models import AuditEntry

__all__ = ["audit", "client_ip"]


def client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))[:45]


def audit(request: HttpRequest, action: str, target: str = "", detail: str = "") -> None:
    user = request.user.get_username() if request.user.is_authenticated else ""
    AuditEntry.objects.create(user=user, action=action, target=target[:255], detail=detail, ip=client_ip(request))
