"""A new user's first hour: the README's first command (`mamori demo`) and what a new installation meets first.

The demo runs as the installed command, in a private mount namespace where Debian's fonts are hidden (a tmpfs over
/usr/share/fonts), as on a machine that has never installed one: the monthly PDF must still be Japanese.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import mamori.reports.monthly
from tests.integration.conftest import MAMORI, run_mamori
from tests.integration.dashboard import Client, Dashboard, add_user, demo_site, free_port, start_dashboard

SYSTEM_FONTS = Path("/usr/share/fonts")
PACKAGE_FONTS = Path(mamori.reports.monthly.__file__).resolve().parent / "fonts"


def _can_hide_folders() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare") is not None


def hiding(*folders: Path) -> list[str]:
    """A command prefix: run in a new mount namespace where each of ``folders`` is an empty tmpfs."""
    if not _can_hide_folders():
        if os.environ.get("CI") == "true":
            raise AssertionError("hiding folders needs root and unshare (util-linux)")
        pytest.skip("hiding folders needs root and unshare (util-linux)")
    mounts = " && ".join(f"mount -t tmpfs -o size=1m mamori-test {shlex.quote(str(f))}" for f in folders)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$@"', "sh"]


def pdf_text(pdf: bytes, folder: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("pdftotext (poppler-utils) is missing")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = folder / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


@dataclass
class Demo:
    dashboard: Dashboard
    password: str


def start_demo(folder: Path, *, prefix: Sequence[str] = (), timeout: float = 120) -> Demo:
    """`mamori demo --dir FOLDER --listen 127.0.0.1:<free port>`; waits for the printed password and the login page."""
    port = free_port()
    log = folder.parent / f"{folder.name}-demo-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*prefix, MAMORI, "demo", "--dir", str(folder), "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    dashboard = Dashboard(f"http://127.0.0.1:{port}", folder / "mamori-demo.yaml", process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"mamori demo exited {process.returncode}:\n{dashboard.output()}")
        lines = [line for line in dashboard.output().splitlines() if "パスワード / password:" in line]
        if lines:
            try:
                status, _headers, _body = Client(dashboard).get("/login/")
                if status == 200:
                    return Demo(dashboard, lines[0].split("password:")[1].split()[0])
            except OSError:
                pass
        if time.monotonic() > deadline:
            dashboard.stop()
            raise AssertionError(f"mamori demo did not answer within {timeout} s:\n{dashboard.output()}")
        time.sleep(0.2)


@pytest.fixture
def bare_demo(tmp_path: Path) -> Iterator[Demo]:
    demo = start_demo(tmp_path / "demo", prefix=hiding(SYSTEM_FONTS))
    yield demo
    demo.dashboard.stop()


def _yesterdays_month() -> str:
    return (dt.date.today() - dt.timedelta(days=1)).strftime("%Y-%m")  # the demo's morning is yesterday's


def test_the_demo_monthly_pdf_is_japanese_without_a_system_font(bare_demo: Demo, tmp_path: Path) -> None:
    client = Client(bare_demo.dashboard)
    status, _headers, _body = client.login("demo", bare_demo.password)
    assert status == 302
    status, headers, pdf = client.get(f"/reports/monthly.pdf?month={_yesterdays_month()}")
    assert status == 200, pdf[:2000].decode(errors="replace")
    assert headers["Content-Type"] == "application/pdf"
    assert b"IPAexGothic" in pdf  # embedded: the shipped font, since the system's are hidden
    text = pdf_text(pdf, tmp_path)
    assert "月次報告" in text
    assert "ポートスキャン" in text  # a high alert's summary, in Japanese
    assert "センサーの稼働" in text


def test_a_missing_font_is_a_japanese_page_with_the_fix(tmp_path: Path) -> None:
    config = demo_site(tmp_path / "demo")
    add_user(config, "kanri", "admin", "Kanri-pass-2026!")
    server = start_dashboard(config, prefix=hiding(SYSTEM_FONTS, PACKAGE_FONTS))
    try:
        client = Client(server)
        client.login("kanri", "Kanri-pass-2026!")
        status, headers, body = client.get(f"/reports/monthly.pdf?month={_yesterdays_month()}")
    finally:
        server.stop()
    page = body.decode()
    assert status == 500
    assert headers["Content-Type"].startswith("text/html")
    assert "月次報告には日本語フォントが必要です" in page
    assert "pip install --force-reinstall mamori" in page
    assert "fonts-ipaexfont-gothic" in page
    assert "Traceback" not in server.output()


# -- an unusable database path (item 7) ------------------------------------------------------------------------

SITE = """\
storage: {{path: {db}}}
systems:
  - name: 透析システム
    servers: [192.168.70.11]
    ports: [6000]
"""


def _bad_databases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each unusable path with the reason its message must give."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    text = tmp_path / "notes.db"
    text.write_text("これは SQLite ではありません / not a database\n", encoding="utf-8")
    return {
        "proc": (Path("/proc/x/mamori.db"), "cannot create its folder /proc/x"),
        "folder": (folder, "it is a folder, not a file"),
        "text": (text, "it is not an SQLite database"),
    }


@pytest.mark.parametrize("kind", ["proc", "folder", "text"])
def test_every_command_names_an_unusable_database_in_one_line(tmp_path: Path, shared_data: Path, kind: str) -> None:
    db, reason = _bad_databases(tmp_path)[kind]
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(db=db), encoding="utf-8")
    capture = shared_data / "pcap" / "lab" / "nmap_sS_1-1000.pcap"
    logs = shared_data / "evtx" / "deepbluecli" / "evtx"
    before = db.read_bytes() if db.is_file() else None
    commands = [
        ["check"],
        ["analyze", str(capture)],
        ["evtx", "analyze", str(logs)],
        ["user", "list"],
        ["web", "--listen", f"127.0.0.1:{free_port()}"],
        ["alerts"],
        ["terminals", "list"],
        ["deliveries"],
        ["watch", "--interface", "lo"],
    ]
    for command in commands:
        result = run_mamori(*command, "--config", str(config), check=False, timeout=60)
        shown = " ".join(command)
        assert result.returncode == 2, (shown, result.returncode, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, (shown, result.stderr)
        assert f"データベース {db} を使えません" in lines[0], (shown, lines[0])
        assert f"cannot use the database {db}: {reason}" in lines[0], (shown, lines[0])
        assert "Traceback" not in result.stdout + result.stderr
        assert "no alerts" not in result.stdout and "no deliveries" not in result.stdout, shown
    if before is not None:
        assert db.read_bytes() == before  # the file that is not a database is left as it was


def test_check_accepts_a_database_still_to_be_made(tmp_path: Path) -> None:
    db = tmp_path / "new" / "folder" / "mamori.db"
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(db=db), encoding="utf-8")
    result = run_mamori("check", "--config", str(config))
    assert f"database: {db}" in result.stdout
    assert not db.parent.exists()  # checking made nothing
    assert run_mamori("alerts", "--config", str(config)).stdout.strip() == "アラートはありません / no alerts"


# -- a wrong interface name (item 8) -----------------------------------------------------------------------------


def in_new_network() -> list[str]:
    """A command prefix: run in a new network namespace that has only `lo` and a veth pair, `mirror0`-`mirror1`."""
    if not _can_hide_folders():
        if os.environ.get("CI") == "true":
            raise AssertionError("a network namespace needs root and unshare (util-linux)")
        pytest.skip("a network namespace needs root and unshare (util-linux)")
    return [
        "unshare",
        "--net",
        "sh",
        "-c",
        'ip link add mirror0 type veth peer name mirror1 && exec "$@"',
        "sh",
    ]


def test_a_wrong_interface_says_it_does_not_exist_and_lists_the_real_ones(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(db=tmp_path / "mamori.db") + "capture: {interfaces: [eth1]}\n", encoding="utf-8")
    watch = subprocess.run(
        [*in_new_network(), MAMORI, "watch", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert watch.returncode == 2, watch.stderr
    error = watch.stderr.splitlines()[-1]
    assert error == (
        "error: インタフェース eth1 はこの機械にありません（あるもの: lo, mirror0, mirror1） / "
        "interface 'eth1' does not exist on this machine (it has: lo, mirror0, mirror1)"
    )
    assert "pcap_t" not in watch.stderr
    check = subprocess.run(
        [*in_new_network(), MAMORI, "check", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr  # a warning: the file may be checked away from the sensor
    assert "warning: インタフェース eth1 はこの機械にありません（あるもの: lo, mirror0, mirror1）" in check.stderr
    assert "interface 'eth1' does not exist on this machine (it has: lo, mirror0, mirror1)" in check.stderr
    config.write_text(SITE.format(db=tmp_path / "mamori.db") + "capture: {interfaces: [mirror0]}\n", encoding="utf-8")
    check = subprocess.run(
        [*in_new_network(), MAMORI, "check", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0
    assert "warning" not in check.stderr


# -- mamori check, filters, accounts (item 9) ----------------------------------------------------------------------

MANY_PROBLEMS = """\
systems:
  - name: 透析システム
    servers: [10.0.0.1]
    ports: [6000]
    terminals:
      - {name: pc-1, mac: "02:00:00:00:00:01"}
      - {name: pc-2, mac: 02-00-00-00-00-01}
  - name: 透析システム
    servers: [10.0.0.1]
    ports: [6000, 70000]
    severity: urgent
"""


def test_check_reports_every_problem_in_one_pass_sorted_in_both_languages(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(MANY_PROBLEMS, encoding="utf-8")
    result = run_mamori("check", "--config", str(config), check=False)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines == [
        f"{config}:7:27: systems[0].terminals[1].mac: MAC 02:00:00:00:00:01 はシステム '透析システム' に 2 回登録"
        "されています（terminals[0]） / MAC 02:00:00:00:00:01 is registered twice in system '透析システム' "
        "(terminals[0])",
        f"{config}:8:11: systems[1].name: システム名 '透析システム' は 2 回使われています（systems[0]） / "
        "system name '透析システム' is used twice (systems[0])",
        f"{config}:10:12: systems[1].ports: 10.0.0.1 tcp/6000 はすでにシステム '透析システム' のものです / "
        "10.0.0.1 tcp/6000 already belongs to system '透析システム'",
        f"{config}:10:19: systems[1].ports[1]: 65535 以下にしてください / must be at most 65535",
        f"{config}:11:15: systems[1].severity: 次のどれかを書いてください: 'info', 'low', 'medium', 'high' or "
        "'critical' / expected one of 'info', 'low', 'medium', 'high' or 'critical'",
        "問題 5 件 / 5 problem(s)",
    ]


def test_check_says_use_spaces_for_a_tab_and_warns_about_an_empty_file(tmp_path: Path) -> None:
    config = tmp_path / "tab.yaml"
    config.write_text("systems:\n  - name: A\n\tservers: [10.0.0.1]\n    ports: [80]\n", encoding="utf-8")
    result = run_mamori("check", "--config", str(config), check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"{config}:3:2: 字下げにタブは使えません。空白を使ってください / use spaces, not tabs, to indent"
    )
    for text in ("", "site: {name: 試験病院}\n"):
        config = tmp_path / "empty.yaml"
        config.write_text(text, encoding="utf-8")
        result = run_mamori("check", "--config", str(config))
        assert "warning: " in result.stderr
        assert "nothing would be monitored" in result.stderr
        assert "何も監視されません" in result.stderr


def test_unknown_filter_values_and_accounts_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(db=tmp_path / "mamori.db"), encoding="utf-8")
    result = run_mamori("alerts", "--config", str(config), "--rule", "nosuchrule", check=False)
    assert result.returncode == 2
    assert "ルール 'nosuchrule' はありません" in result.stderr
    assert "unknown rule 'nosuchrule'; known: unregistered-terminal, port-scan, syn-flood" in result.stderr
    assert "no alerts" not in result.stdout
    result = run_mamori("alerts", "--config", str(config), "--system", "眼科システム", check=False)
    assert result.returncode == 2
    assert "unknown system '眼科システム'; known: 透析システム" in result.stderr
    known = run_mamori("alerts", "--config", str(config), "--system", "透析システム", "--rule", "port-scan")
    assert known.stdout.strip() == "アラートはありません / no alerts"
    result = run_mamori("user", "unlock", "--config", str(config), "nobody", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: 利用者 'nobody' はいません（利用者はまだいません） / no user 'nobody' (there are no users yet)"
    )
    add_user(config, "kanri", "admin", "Kanri-pass-2026!")
    result = run_mamori("user", "unlock", "--config", str(config), "nobody", check=False)
    assert result.returncode == 2
    assert "no user 'nobody' (the users: kanri)" in result.stderr
    assert "unlocked kanri" in run_mamori("user", "unlock", "--config", str(config), "kanri").stdout


# -- mamori demo: a busy port, a quiet terminal (item 11) -----------------------------------------------------------


def test_demo_on_a_busy_port_says_so_before_anything_and_suggests_listen(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_mamori(
            "demo", "--dir", str(tmp_path / "demo"), "--listen", f"127.0.0.1:{port}", check=False, timeout=120
        )
    assert result.returncode == 2
    assert result.stdout == ""  # no URL, no password, no alerts: nothing that would then fail
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"error: 127.0.0.1:{port} で待ち受けられません（ほかのプログラムが使っています） / "
        f"cannot listen on 127.0.0.1:{port} (another program is listening there)"
    )
    assert "choose another address with --listen" in lines[1]
    assert lines[2].strip().startswith("mamori demo --listen 127.0.0.1:")
    suggested = int(lines[2].rsplit(":", 1)[1])
    assert suggested != port
    assert not (tmp_path / "demo").exists()


def test_logging_in_to_the_demo_leaves_its_terminal_quiet(tmp_path: Path) -> None:
    demo = start_demo(tmp_path / "demo")
    try:
        before = len(demo.dashboard.output().splitlines())
        for _ in range(3):
            client = Client(demo.dashboard)
            status, _headers, _body = client.login("demo", demo.password)
            assert status == 302
            for path in ("/", "/alerts/", "/favicon.ico"):
                status, headers, _body = client.get(path)
                assert status in (200, 301), (path, status)
            status, headers, _body = client.get("/favicon.ico")
            assert status == 301
            location = headers["Location"]
            assert location.endswith(".svg")
            status, headers, icon = client.get(location)
            assert status == 200 and icon.startswith(b"<svg")
        time.sleep(0.5)
        added = demo.dashboard.output().splitlines()[before:]
    finally:
        demo.dashboard.stop()
    assert added == [], added  # no django-axes INFO lines, no "Not Found: /favicon.ico"
