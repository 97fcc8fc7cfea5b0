"""The composition root configures Django once per run, with the address actually served.

`mamori web` and `mamori demo` run for real (their HTTP server, their database) under a small launcher that
records every configuration of Django (each call of ``django.conf.settings.configure``, passed through unchanged)
before it hands over to mamori's own entry point.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import run_mamori
from tests.integration.dashboard import Client, free_port, start_dashboard

LAUNCHER = '''
"""argv: the mamori console script (named for the record), then mamori's own arguments."""
import json, os, sys

from django.conf import LazySettings, global_settings

record = os.environ["MAMORI_TEST_CONFIGURE_LOG"]
configure = LazySettings.configure


def recording(self, default_settings=global_settings, **options):
    with open(record, "a", encoding="utf-8") as out:
        out.write(json.dumps({key: options.get(key) for key in ("ALLOWED_HOSTS", "INSTALLED_APPS")}) + "\\n")
    return configure(self, default_settings, **options)


LazySettings.configure = recording
from mamori.cli.main import main

main(sys.argv[2:])
'''


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    """The command prefix that runs mamori under the launcher, and the file of recorded configurations."""
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER, encoding="utf-8")
    log = tmp_path / "configure.jsonl"
    monkeypatch.setenv("MAMORI_TEST_CONFIGURE_LOG", str(log))
    return [sys.executable, str(launcher)], log


def _configurations(log: Path) -> list[dict[str, list[str]]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def _site(tmp_path: Path) -> Path:
    config = tmp_path / "site.yaml"
    config.write_text(
        "site: {name: テスト病院}\nstorage: {path: mamori.db}\nweb: {secret_key_file: web-secret.key}\n",
        encoding="utf-8",
    )
    return config


def _machine_name() -> str:
    name = socket.gethostname()
    assert name not in ("localhost", "127.0.0.1", ""), "the test needs a machine name other than the loopback's"
    return name


@pytest.mark.parametrize(
    ("host", "name_allowed"),
    [("0.0.0.0", True), ("127.0.0.1", False)],
)
def test_web_configures_django_once_for_the_address_served(
    tmp_path: Path, recorded: tuple[list[str], Path], host: str, name_allowed: bool
) -> None:
    """web.listen says 127.0.0.1:8080 (the default); `--listen` decides the host names, in the one configuration
    of the run: the machine's name is a host to answer for on every address, not on the loopback alone."""
    prefix, log = recorded
    name = _machine_name()
    dashboard = start_dashboard(_site(tmp_path), host=host, prefix=prefix)
    try:
        status, _headers, _body = Client(dashboard).request("GET", "/login/", headers={"Host": name})
    finally:
        dashboard.stop()
    configurations = _configurations(log)
    assert len(configurations) == 1, configurations
    (configured,) = configurations
    assert "mamori.web" in configured["INSTALLED_APPS"]
    assert (name in configured["ALLOWED_HOSTS"]) is name_allowed
    assert status == (200 if name_allowed else 400)  # Django refuses a Host it was not told about


def test_demo_answers_on_the_address_given_with_listen(tmp_path: Path, recorded: tuple[list[str], Path]) -> None:
    """`mamori demo --listen 127.0.0.2:PORT`: the demo's site file says nothing of that address; the dashboard
    must answer requests for it all the same (it answered 400 Bad Request: its host names came from the file)."""
    prefix, log = recorded
    port = free_port()
    out = tmp_path / "demo.log"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [*prefix, "mamori", "demo", "--dir", str(tmp_path / "demo"), "--listen", f"127.0.0.2:{port}"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        status = _first_answer(f"http://127.0.0.2:{port}/login/", process, out)
    finally:
        process.terminate()
        process.wait(30)
    assert status == 200, out.read_text(encoding="utf-8", errors="replace")
    configurations = _configurations(log)
    assert len(configurations) == 1, configurations
    assert "127.0.0.2" in configurations[0]["ALLOWED_HOSTS"]
    assert re.search(r"password: \S+", out.read_text(encoding="utf-8"))


def _first_answer(url: str, process: subprocess.Popen[bytes], out: Path, timeout: float = 90) -> int:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mamori demo exited {process.returncode}:\n{out.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"mamori demo did not answer within {timeout} s:\n{out.read_text(errors='replace')}")


def test_analyze_configures_django_for_the_store_alone(
    tmp_path: Path, recorded: tuple[list[str], Path], lab_pcaps: Path
) -> None:
    """`analyze` pays nothing for the dashboard: one configuration, with the store's app only."""
    prefix, log = recorded
    site = tmp_path / "lab.yaml"
    site.write_text(
        "storage: {path: mamori.db}\nsystems:\n  - name: 透析システム\n    servers: [{ip: 10.231.0.2}]\n"
        "    ports: [6000]\n",
        encoding="utf-8",
    )
    capture = lab_pcaps / "nmap_sS_1-1000.pcap"
    result = subprocess.run(
        [*prefix, "mamori", "analyze", "--config", str(site), str(capture), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert _configurations(log) == [{"ALLOWED_HOSTS": None, "INSTALLED_APPS": ["mamori.storage"]}]
    assert run_mamori("alerts", "--config", str(site), "--json").stdout.strip()  # the alerts went to the store
