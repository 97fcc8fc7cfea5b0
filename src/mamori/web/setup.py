"""The dashboard's Django settings, derived from the ``web:`` section and the address served, and its WSGI
application (docs/design.md §5).

The composition root (``mamori.cli``) passes these settings to :func:`mamori.storage.setup.configure_django`, the
one place Django is configured, once per run. The secret key is generated on first use and kept in a file only its
owner can read; there is no default secret and no default password anywhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mamori.config.web import WebSettings, parse_listen
from mamori.errors import MamoriError

__all__ = ["allowed_hosts", "django_settings", "secret_key", "wsgi_application"]

PACKAGE = Path(__file__).resolve().parent


def secret_key(path: Path) -> str:
    """The key that signs sessions and CSRF tokens: read from ``path``, created (mode 0600) on first use."""
    try:
        text = path.read_text(encoding="ascii").strip()
        if len(text) >= 50:
            return text
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise MamoriError(
            f"ダッシュボードの秘密鍵 {path} を読めません（{exc.strerror}） / "
            f"cannot read the web secret key {path}: {exc.strerror}"
        ) from exc
    key = secrets.token_urlsafe(64)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
    except OSError as exc:
        raise MamoriError(
            f"ダッシュボードの秘密鍵 {path} を作れません（{exc.strerror}） / "
            f"cannot create the web secret key {path}: {exc.strerror}"
        ) from exc
    return key


def allowed_hosts(listen: str, names: Iterable[str] = ()) -> list[str]:
    """The host names a request may give (Django's ALLOWED_HOSTS) for a dashboard served on ``listen``: the
    loopback names, the address itself, this machine's names and addresses when it listens on every address, and
    ``names`` (``web.allowed_hosts``)."""
    host, _port = parse_listen(listen)
    found = {"localhost", "127.0.0.1", "[::1]", host if ":" not in host else f"[{host}]"}
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a listen address compared, not bound here
        found.update({socket.gethostname(), socket.getfqdn()})
        with contextlib.suppress(OSError):
            found.update(str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None))
    found.update(names)
    return sorted(n for n in found if n)


def django_settings(
    web: WebSettings, *, listen: str, secret_key: str, time_zone: str, debug: bool = False
) -> dict[str, Any]:
    """Django's settings for the dashboard served on ``listen`` (the database is the store's: added by
    :func:`mamori.storage.setup.configure_django`)."""
    https = web.tls is not None
    return {
        "DEBUG": debug,
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": allowed_hosts(listen, web.allowed_hosts),
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
        "TIME_ZONE": time_zone,
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
    }


def wsgi_application() -> Any:
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()
