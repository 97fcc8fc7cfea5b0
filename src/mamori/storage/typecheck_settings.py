"""Django settings for the type checker only (django-stubs' mypy plugin needs a settings module to import).

At run time Django is configured once per process by :func:`mamori.storage.setup.configure_django`, called by the
composition root (``mamori.cli``) with the store's settings and, when the web is served, the dashboard's
(:mod:`mamori.web.setup`). No SECRET_KEY here: a key written in a module ships in the wheel, known
to everyone; the dashboard's key is generated on first use and kept in a file only its owner can read.
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
