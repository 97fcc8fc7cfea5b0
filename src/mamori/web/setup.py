"""Django settings built from mamori's settings file, and the WSGI application (DESIGN.md §5).

Called once per process by the CLI before anything else touches Django. The secret key is generated on first use
and kept in a file only its owner can read; there is no default secret and no default password anywhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from mamori.config import Settings
from mamori.config.web import parse_listen
from mamori.errors import MamoriError

__all__ = ["django_settings", "mamori_settings", "secret_key", "setup_django", "wsgi_application"]

PACKAGE = Path(__file__).resolve().parent


def secret_key(settings: Settings) -> str:
    """The key that signs sessions and CSRF tokens: read from its file, created (mode 0600) on first use."""
    path = settings.web.secret_key_file or settings.data_dir / "web-secret.key"
    try:
        text = path.read_text(encoding="ascii").strip()
        if len(text) >= 50:
            return text
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise MamoriError(f"cannot read the web secret key {path}: {exc.strerror}") from exc
    key = secrets.token_urlsafe(64)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
    except OSError as exc:
        raise MamoriError(f"cannot create the web secret key {path}: {exc.strerror}") from exc
    return key


def _allowed_hosts(settings: Settings) -> list[str]:
    host, _port = parse_listen(settings.web.listen)
    names = {"localhost", "127.0.0.1", "[::1]", host if ":" not in host else f"[{host}]"}
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a listen address from the settings, compared, not bound here
        names.update({socket.gethostname(), socket.getfqdn()})
        with contextlib.suppress(OSError):
            names.update(str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None))
    names.update(settings.web.allowed_hosts)
    return sorted(n for n in names if n)


def django_settings(settings: Settings, *, debug: bool = False) -> dict[str, Any]:
    from mamori.storage.setup import sqlite_settings

    web = settings.web
    https = web.tls is not None
    return {
        "DEBUG": debug,
        "SECRET_KEY": secret_key(settings),
        "ALLOWED_HOSTS": _allowed_hosts(settings),
        "DATABASES": {"default": sqlite_settings(settings.database_path.resolve())},
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "axes",
            "mamori.storage",
            "mamori.web",
        ],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "mamori.web.middleware.ContentSecurityPolicyMiddleware",
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "mamori.web.middleware.CsrfFieldMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "mamori.web.middleware.UserLanguageMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
            "mamori.web.middleware.LoginRequiredMiddleware",
            "axes.middleware.AxesMiddleware",
        ],
        "AUTHENTICATION_BACKENDS": ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"],
        "PASSWORD_HASHERS": [
            "django.contrib.auth.hashers.Argon2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ],
        "AUTH_PASSWORD_VALIDATORS": [
            {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
            {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
            {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
            {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
        ],
        "ROOT_URLCONF": "mamori.web.urls",
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.template.context_processors.i18n",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                        "mamori.web.context.mamori",
                    ],
                },
            }
        ],
        "STATIC_URL": "/static/",
        "STATIC_ROOT": None,
        "WHITENOISE_USE_FINDERS": True,
        "WHITENOISE_AUTOREFRESH": False,
        "USE_TZ": True,
        "TIME_ZONE": _local_zone(),
        "USE_I18N": True,
        "LANGUAGE_CODE": web.language,
        "LANGUAGES": [("ja", "日本語"), ("en", "English")],
        "LOCALE_PATHS": [str(PACKAGE / "locale")],
        "LOGIN_URL": "/login/",
        "LOGIN_REDIRECT_URL": "/",
        "SESSION_ENGINE": "django.contrib.sessions.backends.db",
        "SESSION_COOKIE_AGE": int(web.session_age),
        "SESSION_SAVE_EVERY_REQUEST": True,  # the age counts from the last activity
        "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_SECURE": https,
        "SESSION_COOKIE_NAME": "mamori_session",
        "CSRF_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SAMESITE": "Strict",
        "CSRF_COOKIE_SECURE": https,
        "CSRF_COOKIE_NAME": "mamori_csrf",
        "CSRF_FAILURE_VIEW": "mamori.web.views.account.csrf_failure",
        "LANGUAGE_COOKIE_SAMESITE": "Lax",
        "LANGUAGE_COOKIE_SECURE": https,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_HSTS_SECONDS": 31536000 if https else 0,
        "X_FRAME_OPTIONS": "DENY",
        "AXES_FAILURE_LIMIT": web.lockout.failures,
        "AXES_COOLOFF_TIME": web.lockout.cooloff / 3600.0,
        # A user name is locked from the address that failed, not everywhere (mamori.web.lockout throttles an
        # address that fails over many user names).
        "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]],
        "AXES_RESET_ON_SUCCESS": True,
        "AXES_LOCKOUT_CALLABLE": "mamori.web.views.account.locked_out",
        "AXES_VERBOSE": False,
        "AXES_ENABLE_ACCESS_FAILURE_LOG": True,  # the failed logins the security page lists
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "MESSAGE_STORAGE": "django.contrib.messages.storage.session.SessionStorage",
        "LOGGING_CONFIG": None,
        "MAMORI": settings,
    }


def _local_zone() -> str:
    """The machine's zone name for display (Asia/Tokyo at a Japanese hospital); UTC if it cannot be told."""
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            return link.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return os.environ.get("TZ") or "UTC"


def setup_django(settings: Settings, *, debug: bool = False, migrate: bool = True) -> None:
    """Configure Django for the dashboard (once per process) and bring the database up to date."""
    import django
    from django.conf import settings as django_conf

    from mamori.storage import check_database_path

    check_database_path(settings.database_path)  # one line naming the file and the reason, not a traceback
    if not django_conf.configured:
        django_conf.configure(**django_settings(settings, debug=debug))
        django.setup()
    if migrate:
        from django.core.management import call_command
        from django.db import DatabaseError

        try:
            call_command("migrate", verbosity=0, interactive=False)
        except DatabaseError as exc:
            path = settings.database_path
            raise MamoriError(
                f"データベース {path} を使えません: 開けないか更新できません（{exc}） / "
                f"cannot use the database {path}: cannot open or upgrade it ({exc})"
            ) from exc


def mamori_settings() -> Settings:
    """The mamori settings the dashboard was started with (kept in Django's settings as ``MAMORI``)."""
    from django.conf import settings as django_conf

    value = getattr(django_conf, "MAMORI", None)
    if not isinstance(value, Settings):
        raise RuntimeError("the dashboard was not set up with mamori.web.setup.setup_django")
    return value


def wsgi_application() -> Any:
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()
