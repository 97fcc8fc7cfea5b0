"""Django settings for the type checker only (django-stubs' mypy plugin needs a settings module to import).

At run time Django is configured by :mod:`mamori.storage.setup` from the mamori settings file.
"""

INSTALLED_APPS = ["mamori.storage"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
