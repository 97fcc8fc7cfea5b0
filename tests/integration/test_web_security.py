"""The dashboard's defences, against the real `mamori web` server over HTTP and HTTPS.

Nothing answers without a session; a viewer changes nothing; forms without the right CSRF token are refused; the
session cookie is HttpOnly, SameSite=Strict, and Secure under HTTPS (with HSTS); repeated failed logins lock the
user name from that address, even for the right password (other addresses: test_web_lockout.py); passwords are
stored as argon2 hashes; there is no default account.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import secrets
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import run_mamori
from tests.integration.dashboard import Client, Dashboard, add_user, csrf_token, demo_site, start_dashboard

ADMIN = ("kanri", "Kanri-pass-2026!")
VIEWER = ("etsuran", "Etsuran-pass-2026!")
VICTIM = ("kensa", "Kensa-pass-2026!")  # locked by the lockout test; nobody else uses it
FAILURES = 3  # web.lockout.failures in the test's settings
ALERT_ACTIONS = ("acknowledge", "resolve", "false_positive", "reopen")


@dataclass
class Site:
    dashboard: Dashboard
    database: Path
    uid: str  # an open alert
    registrable: str  # an unregistered terminal's alert (the vendor laptop on the dialysis system)

    def rows(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            return db.execute(sql, args).fetchall()

    def client(self) -> Client:
        return Client(self.dashboard)

    def logged_in(self, account: tuple[str, str]) -> Client:
        client = self.client()
        status, headers, _body = client.login(*account)
        assert status == 302, f"login of {account[0]} answered {status}"
        assert headers["Location"] == "/"
        return client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("web-security")
    config = demo_site(folder)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["web"] = {**settings.get("web", {}), "lockout": {"failures": FAILURES, "cooloff": "1h"}}
    config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    add_user(config, ADMIN[0], "admin", ADMIN[1])
    add_user(config, VIEWER[0], "viewer", VIEWER[1])
    add_user(config, VICTIM[0], "viewer", VICTIM[1])
    dashboard = start_dashboard(config)
    database = folder / "mamori.db"
    with sqlite3.connect(database) as db:
        (uid,) = db.execute("SELECT uid FROM mamori_alert WHERE rule = 'port-scan'").fetchone()
        (registrable,) = db.execute(
            "SELECT uid FROM mamori_alert WHERE rule = 'unregistered-terminal' AND src_mac = '02:66:00:00:be:ef' "
            "AND system = '透析システム'"
        ).fetchone()
    yield Site(dashboard, database, uid, registrable)
    dashboard.stop()


def routes() -> list[str]:
    """Every address of mamori/web/urls.py (read from its source, so a new page is checked without listing it)."""
    spec = importlib.util.find_spec("mamori.web.urls")
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    found = [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "path"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]
    assert len(found) >= 15, found
    return ["/" + str(route) for route in found]


PUBLIC = {"/login/", "/lang/"}  # the login page and the language switch answer everyone; /static/ too


def _url(route: str, site: Site) -> str:
    return re.sub(r"<(?:str:)?uid>", site.uid, route)


def _cookies(headers: object) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the raw header, with its attributes)."""
    found: dict[str, str] = {}
    for value in headers.get_all("Set-Cookie") or []:  # type: ignore[attr-defined]
        name = value.strip().split("=", 1)[0]
        found[name] = value
    return found


def _attributes(cookie: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}


def _samesite(cookie: str) -> str:
    match = re.search(r"samesite=(\w+)", cookie, re.I)
    return match.group(1) if match else ""


# -- without a session --------------------------------------------------------------------------------------------


def test_every_address_needs_a_session(site: Site) -> None:
    client = site.client()
    token = client.token()  # a valid CSRF token and cookie: what is refused below is the missing session
    checked = []
    for route in routes():
        if route in PUBLIC:
            continue
        url = _url(route, site)
        for method in ("GET", "POST"):
            data = {"csrfmiddlewaretoken": token, "action": "acknowledge", "comment": "x"} if method == "POST" else None
            status, headers, body = client.request(method, url, data)
            if route.startswith("/api/"):
                assert status == 401, (method, url, status)
                assert b"authentication required" in body
            else:
                assert status == 302, (method, url, status)
                assert headers["Location"].startswith("/login/?next="), (method, url, headers["Location"])
            checked.append(f"{method} {url}")
    assert len(checked) >= 30
    assert site.rows("SELECT count(*) FROM mamori_alert WHERE status != 'open'") == [(0,)]
    assert site.rows("SELECT count(*) FROM mamori_alert_handling") == [(0,)]
    # what is public needs no session, and shows nothing of the hospital's
    assert client.get("/login/")[0] == 200
    assert client.get("/static/mamori/mamori.css")[0] == 200
    assert client.get("/lang/")[0] == 405  # POST only


def test_a_login_redirect_never_leaves_the_dashboard(site: Site) -> None:
    client = site.client()
    token = client.token()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        status, headers, _body = client.post(
            "/login/", {"username": ADMIN[0], "password": ADMIN[1], "next": target, "csrfmiddlewaretoken": token}
        )
        assert status == 302
        assert headers["Location"] == "/", target
        client = site.client()
        token = client.token()


# -- a viewer -----------------------------------------------------------------------------------------------------


def test_a_viewer_reads_but_changes_nothing(site: Site) -> None:
    viewer = site.logged_in(VIEWER)
    for url in (
        "/",
        "/alerts/",
        f"/alerts/{site.uid}/",
        "/terminals/",
        "/reports/",
        "/api/overview/",
        "/alerts/export/?format=csv",
        "/terminals/export/?format=xlsx",
    ):
        assert viewer.get(url)[0] == 200, url
    token = viewer.token("/alerts/")
    terminal = {"system": "透析システム", "name": "viewer-pc", "mac": "02:00:00:00:99:01", "ip": "192.168.10.99"}
    posts: list[tuple[str, dict[str, str]]] = [
        *[(f"/alerts/{site.uid}/action/", {"action": a, "comment": "viewer"}) for a in ALERT_ACTIONS],
        (f"/alerts/{site.registrable}/register/", {"name": "viewer-registered"}),
        ("/terminals/edit/", terminal),
        ("/terminals/retire/", {"system": "透析システム", "mac": "02:10:00:00:02:01"}),
        ("/terminals/import/", {}),
        ("/terminals/import/", {"step": "confirm", "accept": "0"}),
    ]
    for url, data in posts:
        status, _headers, _body = viewer.post(url, {**data, "csrfmiddlewaretoken": token})
        assert status == 403, (url, data, status)
    for url in (
        "/admin/audit/",
        "/admin/security/",
        "/terminals/edit/",
        "/terminals/import/",
        f"/alerts/{site.registrable}/register/",
    ):
        assert viewer.get(url)[0] == 403, url
    assert site.rows("SELECT count(*) FROM mamori_alert WHERE status != 'open'") == [(0,)]
    assert site.rows("SELECT count(*) FROM mamori_alert_handling") == [(0,)]
    assert site.rows("SELECT count(*) FROM mamori_terminal") == [(0,)]
    assert site.rows("SELECT count(*) FROM mamori_audit WHERE user = ? AND action != 'login'", VIEWER[0]) == [(0,)]


# -- CSRF ---------------------------------------------------------------------------------------------------------


def _forged(token: str) -> str:
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in token)


def test_the_login_form_needs_its_csrf_token(site: Site) -> None:
    client = site.client()
    token = client.token()
    credentials = {"username": ADMIN[0], "password": ADMIN[1]}
    for data in ({**credentials, "csrfmiddlewaretoken": _forged(token)}, credentials):
        status, headers, body = client.post("/login/", data)
        assert status == 403
        assert "mamori_session" not in _cookies(headers)
        assert "フォームの有効期限切れ" in body.decode()  # the dashboard's own page, in Japanese
    fresh = site.client()  # a token without its cookie
    status, _headers, _body = fresh.post("/login/", {**credentials, "csrfmiddlewaretoken": token})
    assert status == 403
    status, _headers, _body = client.request(
        "POST", "/login/", {**credentials, "csrfmiddlewaretoken": token}, headers={"Origin": "http://evil.example"}
    )
    assert status == 403  # a form posted from another site


def test_changes_need_the_csrf_token_of_the_session(site: Site) -> None:
    client = site.client()
    before_login = client.token()
    admin = site.logged_in(ADMIN)
    token = admin.token("/alerts/")
    terminal = {"system": "透析システム", "name": "forged-pc", "mac": "02:00:00:00:99:02"}
    for url, data in ((f"/alerts/{site.uid}/action/", {"action": "acknowledge"}), ("/terminals/edit/", terminal)):
        for bad in ({"csrfmiddlewaretoken": _forged(token)}, {}, {"csrfmiddlewaretoken": before_login}):
            status, _headers, _body = admin.post(url, {**data, **bad})
            assert status == 403, (url, bad, status)
        status, _headers, _body = admin.request(
            "POST", url, {**data, "csrfmiddlewaretoken": token}, headers={"Origin": "http://evil.example"}
        )
        assert status == 403, url
    assert site.rows("SELECT status FROM mamori_alert WHERE uid = ?", site.uid) == [("open",)]
    assert site.rows("SELECT count(*) FROM mamori_terminal WHERE name = 'forged-pc'") == [(0,)]
    # The login rotates the token: the one from before it no longer works, the one from after it does.
    status, headers, _body = admin.post(
        f"/alerts/{site.uid}/action/", {"action": "reopen", "csrfmiddlewaretoken": token}
    )
    assert status == 302
    assert headers["Location"] == f"/alerts/{site.uid}/"


# -- cookies and sessions -----------------------------------------------------------------------------------------


def test_session_cookie_is_httponly_and_samesite_strict(site: Site) -> None:
    client = site.client()
    token = client.token()
    status, headers, _body = client.post(
        "/login/", {"username": ADMIN[0], "password": ADMIN[1], "csrfmiddlewaretoken": token}
    )
    assert status == 302
    cookies = _cookies(headers)
    session = cookies["mamori_session"]
    assert "httponly" in _attributes(session)
    assert _samesite(session).lower() == "strict"
    assert "secure" not in _attributes(session)  # plain HTTP: a Secure cookie would never come back
    assert "max-age" not in _attributes(session)  # gone when the browser closes...
    csrf = cookies["mamori_csrf"]  # rotated at login
    assert "httponly" in _attributes(csrf)
    assert _samesite(csrf).lower() == "strict"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in headers
    key = re.search(r"mamori_session=([^;]+)", session)
    assert key is not None
    ((expires,),) = site.rows("SELECT expire_date FROM django_session WHERE session_key = ?", key.group(1))
    left = time.mktime(time.strptime(str(expires)[:19], "%Y-%m-%d %H:%M:%S")) - time.mktime(time.gmtime())
    assert 8 * 3600 - 120 < left <= 8 * 3600 + 5  # ...and on the server after web.session_age (8h) idle

    status, headers, _body = client.post("/logout/", {"csrfmiddlewaretoken": client.token("/")})
    assert status == 302
    assert client.get("/")[0] == 302  # logged out: the session no longer opens anything
    assert site.rows("SELECT count(*) FROM django_session WHERE session_key = ?", key.group(1)) == [(0,)]


# -- lockout ------------------------------------------------------------------------------------------------------


def test_repeated_failures_lock_the_account_even_for_the_right_password(site: Site) -> None:
    client = site.client()
    answers = []
    for attempt in range(FAILURES):
        token = client.token()
        status, _headers, body = client.post(
            "/login/", {"username": VICTIM[0], "password": f"wrong-{attempt}", "csrfmiddlewaretoken": token}
        )
        answers.append((status, "ロックされています" in body.decode()))
    assert answers == [(200, False)] * (FAILURES - 1) + [(403, True)]
    for _ in range(2):
        status, headers, body = client.login(*VICTIM)  # the right password, too late
        assert status == 403
        assert "ロックされています" in body.decode()
        assert "mamori_session" not in _cookies(headers)
    assert site.logged_in(VIEWER)  # the lock is the user name's from this address: others still log in here

    admin = site.logged_in(ADMIN)
    status, _headers, body = admin.get("/admin/security/")
    assert status == 200
    page = body.decode()
    locked = page.split("<h2>", 2)[1]  # the first section: the user names locked, with their address
    assert "ロック中のユーザー名" in locked
    assert VICTIM[0] in locked and "127.0.0.1" in locked
    assert site.rows("SELECT count(*) FROM mamori_audit WHERE action = 'lockout' AND target = ?", VICTIM[0])[0][0] >= 1

    run_mamori("user", "unlock", "--config", str(site.dashboard.config), VICTIM[0])
    status, _headers, _body = site.client().login(*VICTIM)
    assert status == 302  # unlocked by an administrator on the server


# -- stored passwords and the first account -----------------------------------------------------------------------


def test_passwords_are_stored_as_argon2_hashes(site: Site) -> None:
    rows = site.rows("SELECT username, password FROM auth_user ORDER BY username")
    assert {name for name, _ in rows} == {ADMIN[0], VIEWER[0], VICTIM[0]}  # and no other account
    for _name, stored in rows:
        assert str(stored).startswith("argon2$argon2id$"), stored
    for path in site.database.parent.glob("mamori.db*"):  # the database, its WAL and shared memory
        data = path.read_bytes()
        for _name, password in (ADMIN, VIEWER, VICTIM):
            assert password.encode() not in data, path


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "web.crt", folder / "web.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_fresh_database_has_no_account_and_https_cookies_are_secure(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    config = tmp_path / "site.yaml"
    config.write_text(
        "site: {name: テスト病院}\n"
        "storage: {path: mamori.db}\n"
        f"web: {{secret_key_file: web-secret.key, tls: {{cert: '{cert}', key: '{key}'}}}}\n",
        encoding="utf-8",
    )
    dashboard = start_dashboard(config, https=True, cafile=cert)
    try:
        assert f"mamori user add --config {config} NAME --role admin" in dashboard.output()
        with sqlite3.connect(f"file:{tmp_path / 'mamori.db'}?mode=ro", uri=True) as db:
            assert db.execute("SELECT count(*) FROM auth_user").fetchone() == (0,)
        client = Client(dashboard)
        status, _headers, body = client.get("/login/")
        assert status == 200
        assert "mamori user add" in body.decode()  # the login page says how the first account is made
        for name, password in (("admin", "admin"), ("admin", "password"), ("mamori", "mamori"), ("demo", "demo")):
            assert client.login(name, password)[0] == 200  # refused: no default account

        add_user(config, ADMIN[0], "admin", ADMIN[1])
        client = Client(dashboard)
        status, headers, body = client.get("/login/")
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
        csrf = _cookies(headers)["mamori_csrf"]
        assert {"secure", "httponly"} <= _attributes(csrf)
        status, headers, _body = client.post(
            "/login/", {"username": ADMIN[0], "password": ADMIN[1], "csrfmiddlewaretoken": csrf_token(body.decode())}
        )
        assert status == 302
        cookies = _cookies(headers)
        assert {"secure", "httponly"} <= _attributes(cookies["mamori_session"])
        assert _samesite(cookies["mamori_session"]).lower() == "strict"
        assert {"secure", "httponly"} <= _attributes(cookies["mamori_csrf"])
        assert "Strict-Transport-Security" in headers
        assert client.get("/")[0] == 200

        plain = Dashboard(dashboard.base.replace("https://", "http://"), config, dashboard.process, dashboard.log)
        with pytest.raises(OSError):  # no plain HTTP on the HTTPS port (the connection is dropped)
            Client(plain).get("/login/")
    finally:
        dashboard.stop()


# -- where it listens ---------------------------------------------------------------------------------------------


def _plain_config(folder: Path) -> Path:
    config = folder / "site.yaml"
    config.write_text(
        "site: {name: テスト病院}\nstorage: {path: mamori.db}\nweb: {secret_key_file: web-secret.key}\n",
        encoding="utf-8",
    )
    return config


def test_host_names_follow_the_listen_option(tmp_path: Path) -> None:
    """web.listen says 127.0.0.1:8080 (the default); --listen 127.0.0.2:PORT must answer requests for that address
    (Django refuses a Host it was not told about), and a loopback address needs no warning."""
    dashboard = start_dashboard(_plain_config(tmp_path), host="127.0.0.2")
    try:
        status, _headers, _body = Client(dashboard).get("/login/")  # Host: 127.0.0.2:PORT
        assert status == 200
        assert "without TLS" not in dashboard.output()
    finally:
        dashboard.stop()


def test_listening_beyond_loopback_without_tls_warns(tmp_path: Path) -> None:
    dashboard = start_dashboard(_plain_config(tmp_path), host="0.0.0.0")  # the case under test
    try:
        output = dashboard.output()
        assert "warning: the dashboard listens on 0.0.0.0:" in output
        assert "without TLS: passwords and session cookies cross the network in clear; set web.tls" in output
        assert "TLS なしでこの機械の外に公開しています" in output
        status, _headers, _body = Client(dashboard).request("GET", "/login/", headers={"Host": socket.gethostname()})
        assert status == 200  # the machine's own name is allowed when it listens on every address
    finally:
        dashboard.stop()
