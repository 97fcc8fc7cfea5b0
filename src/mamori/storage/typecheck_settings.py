"""Django settings for the type checker only (django-stubs' mypy plugin needs a settings module to import).

At run time Django is configured by :mod:`mamori.storage.setup` (storage alone) or :mod:`mamori.web.setup` (the
dashboard) from the mamori settings file.
"""

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "mamori.storage",
    "mamori.web",
]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
SECRET_KEY = "type-checking-only-not-used-at-run-time"  # noqa: S105 - never loaded by mamori at run time
