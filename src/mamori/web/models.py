"""The dashboard's own table: each user's preferences. The audit log is storage's (``mamori.storage.audit``): the
sensor writes its blocks there too."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mamori.storage.models import AuditEntry

__all__ = ["AuditEntry", "SiteRole", "UserPreference"]


class UserPreference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mamori_preference")
    language = models.CharField(max_length=8, default="ja")

    class Meta:
        db_table = "mamori_user_preference"


class SiteRole(models.Model):
    """On the central server: a user bound to a site with a role there (``admin`` or ``viewer``). A user with any
    binding sees only the sites bound; a user without one has the role of their group on every site (a group
    administrator or viewer, as on a sensor). docs/design.md §10, central: roles per site."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mamori_sites")
    site = models.CharField(max_length=64)
    role = models.CharField(max_length=16, choices=[("admin", "admin"), ("viewer", "viewer")])

    class Meta:
        db_table = "mamori_user_site"
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="mamori_user_site_key")]
