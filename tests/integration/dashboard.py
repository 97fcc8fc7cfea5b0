"""A real dashboard for the web tests: the installed `mamori web` command in a subprocess, on a free port.

Shared by test_web_browser.py and test_web_security.py. Accounts are made with `mamori user add`, the password
on standard input (not a terminal), as an operator's script would.
"""

from __future__ import annotations

import contextlib
import functools
import html.parser
import http.client
import http.cookiejar
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.conftest import MAMORI, run_mamori

__all__ = ["Client", "Dashboard", "add_user", "demo_site", "form_fields", "free_port", "start_dashboard"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_site(folder: Path) -> Path:
    """`mamori demo --no-web`: the demo site, capture and database with its seven alerts. Returns the site file."""
    run_mamori("demo", "--dir", str(folder), "--no-web", timeout=120)
    return folder / "mamori-demo.yaml"


def add_user(config: Path, name: str, role: str, password: str) -> None:
    result = subprocess.run(
        [MAMORI, "user", "add", "--config", str(config), name, "--role", role],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(f"mamori user add {name} exited {result.returncode}\n{result.stderr}\n{result.stdout}")


@dataclass
class Dashboard:
    base: str
    config: Path
    process: subprocess.Popen[bytes]
    log: Path
    cafile: Path | None = None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.cafile is None:
            return None
        return ssl.create_default_context(cafile=str(self.cafile))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_dashboard(
    config: Path,
    *,
    https: bool = False,
    cafile: Path | None = None,
    timeout: float = 30,
    host: str = "127.0.0.1",
    prefix: Sequence[str] = (),
) -> Dashboard:
    """Start `mamori web --config CONFIG --listen <host>:<free port>` and wait until the login page answers (asked
    for at ``host``, or at 127.0.0.1 when it listens on every address).

    ``prefix``: a command that runs it (an `unshare` that hides folders)."""
    port = free_port()
    log = config.parent / f"web-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*prefix, MAMORI, "web", "--config", str(config), "--listen", f"{host}:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    # The certificate names localhost (and 127.0.0.1): HTTPS clients connect to that name.
    name = "localhost" if https else "127.0.0.1" if host == "0.0.0.0" else host
    dashboard = Dashboard(f"{'https' if https else 'http'}://{name}:{port}", config, process, log, cafile)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"mamori web exited {process.returncode}:\n{dashboard.output()}")
        try:
            status, _headers, _body = Client(dashboard).get("/login/")
            if status == 200:
                return dashboard
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            dashboard.stop()
            raise AssertionError(f"mamori web did not answer within {timeout} s:\n{dashboard.output()}")
        time.sleep(0.1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class _Inputs(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name"):
            self.fields.setdefault(str(values["name"]), values.get("value") or "")


def form_fields(page: str) -> dict[str, str]:
    """The first value of each named <input> of a page (the CSRF token among them)."""
    parser = _Inputs()
    parser.feed(page)
    return parser.fields


def csrf_token(page: str) -> str:
    fields = form_fields(page)
    token = fields.get("csrfmiddlewaretoken") or fields.get("csrf_token")
    if not token:
        raise AssertionError("no CSRF token in the page")
    return token


class _FromAddress(urllib.request.HTTPHandler):
    """Plain HTTP from a chosen local address (127.0.0.2 is another computer to the dashboard on 127.0.0.1)."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(http.client.HTTPConnection, source_address=(self.source, 0)), req)


@dataclass
class Client:
    """An HTTP client with a cookie jar that does not follow redirects: (status, headers, body) of each answer.
    ``source``: the local address it connects from (plain HTTP only)."""

    dashboard: Dashboard
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)
    source: str | None = None

    def __post_init__(self) -> None:
        handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()]
        if self.source is not None:
            handlers.append(_FromAddress(self.source))
        context = self.dashboard.ssl_context()
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def request(
        self, method: str, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        if data is not None and "csrfmiddlewaretoken" in data:
            # Django's field name, and the name the issue gives it (a form may come to use either)
            data = {**data, "csrf_token": data["csrfmiddlewaretoken"]}
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        headers = dict(headers or {})
        if method == "POST":
            headers.setdefault("Origin", self.dashboard.base)  # as a browser sends it with a form
        url = self.dashboard.base + path  # http(s)://127.0.0.1 or localhost: the test's own server
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        if body is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            with contextlib.closing(error):
                return error.code, error.headers, error.read()

    def get(self, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, str]) -> tuple[int, http.client.HTTPMessage, bytes]:
        return self.request("POST", path, data)

    def token(self, path: str = "/login/") -> str:
        """A CSRF token from a form of ``path`` (which also sets the CSRF cookie)."""
        status, _headers, body = self.get(path)
        assert status == 200, (path, status)
        return csrf_token(body.decode())

    def login(self, username: str, password: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        token = self.token("/login/")
        return self.post("/login/", {"username": username, "password": password, "csrfmiddlewaretoken": token})
