"""The dashboard's own tables: the audit log of admin actions and each user's preferences."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Something an administrator did (or tried): who, what, on what, from where, when."""

    ts = models.DateTimeField(auto_now_add=True)
    user = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=255, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    ip = models.CharField(max_length=45, blank=True, default="")

    class Meta:
        db_table = "mamori_audit"
        indexes = [models.Index(fields=["ts"], name="mamori_audit_ts")]


class UserPreference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mamori_preference")
    language = models.CharField(max_length=8, default="ja")

    class Meta:
        db_table = "mamori_user_preference"
