"""A webhook's secrets stay secret: the URL of a Slack or Teams webhook (its path is the credential) and a token
header read from ``header_files``.

``mamori analyze --act`` runs real webhook actions on the alerts of a real nmap capture against three real HTTP
endpoints: one that is down, one that redirects to another secret URL, one that refuses the request and echoes the
request's headers in its answer. Neither secret may appear in the command's output and log, in the delivery
records (database file, ``mamori deliveries``), or on the alert page a viewer sees in a real browser; the host and
a hint do, so an operator can tell which action failed.
"""

from __future__ import annotations

import http.server
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mamori.config import WebhookAction
from tests.conftest import LAB_SITE
from tests.integration.conftest import run_mamori
from tests.integration.dashboard import add_user, free_port, start_dashboard

SECRET_PATH = "/services/T0HOSPITAL/B0MAMORI/sEcReTtOkEnXy12"  # noqa: S105 - made up, as a Slack webhook's URL
MOVED_PATH = "/services/T0HOSPITAL/B0NEW/mOvEdSeCrEtZw34"
TOKEN = "tok-ultra-secret-0042"  # noqa: S105 - made up for the test
VIEWER = ("etsuran", "Etsuran-pass-2026!")


class _Endpoint(http.server.BaseHTTPRequestHandler):
    """POST /moved: 302 to another secret URL; anything else: 403 with the request's headers echoed back."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", f"https://hooks.example.org{MOVED_PATH}")
            body = b""
        else:
            body = ("forbidden; you sent: " + "; ".join(f"{k}: {v}" for k, v in self.headers.items())).encode()
            self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def endpoint() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _config(folder: Path, port: int) -> Path:
    token_file = folder / "hook-token"
    token_file.write_text(f"Bearer {TOKEN}\n", encoding="utf-8")
    token_file.chmod(0o600)
    down = free_port()  # nothing listens there
    common = {"type": "webhook", "retries": 0, "rules": ["port-scan"], "format": "slack"}
    settings = yaml.safe_load(LAB_SITE)
    settings |= {
        "storage": {"path": "mamori.db"},
        "web": {"secret_key_file": "web-secret.key"},
        "actions": [
            {"name": "slack-down", "url": f"http://127.0.0.1:{down}{SECRET_PATH}", **common},
            {"name": "slack-moved", "url": f"http://127.0.0.1:{port}/moved{SECRET_PATH}", **common},
            {
                "name": "teams-refused",
                "url": f"http://127.0.0.1:{port}{SECRET_PATH}",
                "header_files": {"Authorization": str(token_file)},
                **common,
            },
        ],
    }
    config = folder / "site.yaml"
    config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return config


def _leaks(text: str) -> list[str]:
    pieces = (SECRET_PATH, "sEcReTtOkEn", MOVED_PATH, "mOvEdSeCrEt", TOKEN, "ultra-secret")
    return [secret for secret in pieces if secret in text]


@pytest.mark.slow
def test_webhook_url_and_token_never_shown(endpoint: int, lab_pcaps: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, endpoint)
    result = run_mamori(
        "analyze", "--config", str(config), "--act", str(lab_pcaps / "nmap_sS_1-1000.pcap"), check=False
    )
    assert result.returncode != 0  # the three actions failed, and the command says so
    output = result.stdout + result.stderr
    assert _leaks(output) == [], output
    for line in (
        "action slack-down (webhook) FAILED after 1 attempt(s): DeliveryError: cannot reach http://127.0.0.1:",
        "redirect to https://hooks.example.org/…Zw34 not followed",
        "action teams-refused (webhook) FAILED after 1 attempt(s): HTTP 403 Forbidden",
        "Authorization: (hidden)",
    ):
        assert line in output, (line, output)
    assert "/…Xy12" in output  # the host and the end: which action this is

    database = tmp_path / "mamori.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        details = [row[0] for row in db.execute("SELECT detail FROM mamori_delivery")]
        (uid,) = db.execute("SELECT uid FROM mamori_alert WHERE rule = 'port-scan'").fetchone()
    assert len(details) == 3 and _leaks("\n".join(details)) == [], details
    for path in tmp_path.glob("mamori.db*"):  # nothing in the file, its WAL or shared memory either
        assert _leaks(path.read_bytes().decode("latin-1")) == [], path
    listed = run_mamori("deliveries", "--config", str(config)).stdout
    assert _leaks(listed) == [] and listed.count("FAILED") == 3, listed

    # A record written before URLs were kept out of them is shown redacted too.
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO mamori_delivery (alert_uid, action, action_type, event, attempt, ts, ok, final, detail, "
            "alert_count) SELECT alert_uid, action, action_type, event, 2, ts, 0, 1, ?, alert_count "
            "FROM mamori_delivery WHERE action = 'slack-down'",
            (f"cannot reach http://127.0.0.1:9{SECRET_PATH}: old record",),
        )
    assert "old record" in run_mamori("deliveries", "--config", str(config)).stdout
    assert _leaks(run_mamori("deliveries", "--config", str(config), "--json").stdout) == []

    add_user(config, VIEWER[0], "viewer", VIEWER[1])
    dashboard = start_dashboard(config)
    try:
        from tests.integration.browser import chromium, log_in, open_page

        with chromium() as browser:
            page = open_page(browser, dashboard.base)
            log_in(page, VIEWER)
            page.wait_for_url(f"{dashboard.base}/")
            page.goto(f"/alerts/{uid}/")
            text = page.evaluate("document.body.innerText")
            html = page.content()
    finally:
        dashboard.stop()
    assert "slack-down" in text and "teams-refused" in text and "old record" in text
    assert "127.0.0.1:" in text and "/…Xy12" in text
    assert _leaks(html) == [], [line for line in html.splitlines() if _leaks(line)]


def test_settings_keep_tokens_out_of_the_file_and_urls_out_of_messages(tmp_path: Path) -> None:
    url = f"https://hooks.slack.com{SECRET_PATH}"
    with pytest.raises(ValueError, match="carries a credential: put its value in a file") as refused:
        WebhookAction.model_validate(
            {"name": "h", "type": "webhook", "url": url, "headers": {"Authorization": f"Bearer {TOKEN}"}}
        )
    assert "header_files" in str(refused.value)
    with pytest.raises(ValueError, match=r"ftp://hooks\.slack\.com/…Xy12: expected an http") as wrong:
        WebhookAction.model_validate({"name": "h", "type": "webhook", "url": url.replace("https", "ftp")})
    assert "sEcReTtOkEn" not in str(wrong.value).split("input_value")[0]  # pydantic's own echo aside
    action = WebhookAction.model_validate({"name": "h", "type": "webhook", "url": url})
    assert "sEcReTtOkEn" not in repr(action) and "sEcReTtOkEn" not in str(action)
    problem = run_mamori("analyze", "--config", str(_bad_config(tmp_path, url)), "x.pcap", check=False)
    assert problem.returncode != 0 and "expected an http" in problem.stderr
    assert "sEcReTtOkEn" not in problem.stdout + problem.stderr, problem.stderr


def _bad_config(folder: Path, url: str) -> Path:
    config = folder / "bad.yaml"
    config.write_text(
        yaml.safe_dump({"actions": [{"name": "h", "type": "webhook", "url": url.replace("https", "ftp")}]}),
        encoding="utf-8",
    )
    return config
