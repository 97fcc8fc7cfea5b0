"""The dashboard's own table: each user's preferences. The audit log is storage's (``mamori.storage.audit``): the
sensor writes its blocks there too."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mamori.storage.models import AuditEntry

__all__ = ["AuditEntry", "UserPreference"]


class UserPreference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mamori_preference")
    language = models.CharField(max_length=8, default="ja")

    class Meta:
        db_table = "mamori_user_preference"
