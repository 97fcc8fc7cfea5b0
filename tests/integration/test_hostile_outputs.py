"""Hostile text through every output, in one table: each string of HOSTILE reaches mamori as a computer name, a
user name, a service name and path (real Windows rules make the alerts and their summaries), a system name, a
handling comment, a terminal's name and a far end's answer; each output of OUTPUTS is read back the way its
reader would (pdftotext, csv, openpyxl, a real browser, a real SMTP server, rsyslog, an HTTP server, a CommonMark
parser for Teams) and must show the text as text: no markup, formula, mention, link, header or extra record.
The same strings as nmap's service, product, version and host name go through the exposure outputs, and as a
switch's port names and descriptions (ifName, ifDescr, ifAlias over SNMP) through the device-blocked alert's
outputs, the blocked-devices page, the audit page and the monthly PDF's section 6 (at the end).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import email
import email.policy
import io
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mamori.alerting import Notification, build_action
from mamori.alerting.zabbix import zabbix_value
from mamori.config import CleartextSettings, DetectionSettings, EmailAction, ScriptAction, SyslogAction, WebhookAction
from mamori.config.windows import WindowsSettings
from mamori.detection import Engine
from mamori.detection.windows.engine import WindowsEngine
from mamori.incidents import alert_keys
from mamori.model import Alert, Delivery, PacketData, Severity, Site, WindowsEvent
from mamori.reports.alert_format import alert_line
from mamori.rules.render import alert_to_dict, summary
from mamori.testing.winevents import ecs_line, event
from tests.integration.conftest import run_mamori
from tests.integration.dashboard import Client, Dashboard, add_user, csrf_token, start_dashboard
from tests.integration.test_actions import (  # noqa: F401 - fixtures: real rsyslog, SMTP and HTTP receivers
    Pki,
    Rsyslog,
    pki,
    rsyslog,
    smtp_server,
    webhook_server,
)

# What a packet, an event log or a far end can carry (names are free text in Windows and in syslog; an account sent
# in clear text, here an LDAP bind DN, is whatever the client typed).
HOSTILE: dict[str, str] = {
    "img": '<img src="/etc/passwd"/>',
    "tag": "<admin>",
    "entity": "&amp; &lt;b&gt; &#60;",
    "script": "<script>window.__pwned = 1</script>",
    "formula": "=cmd|'/c calc'!A1",
    "plus": "+1",
    "minus": "-1",
    "at": "@SUM(A1:A9)",
    "crlf": "kanri\r\nBcc: victim@example.org\r\n<13>1 2026-01-01T00:00:00Z evil app - - - forged",
    "long": "長い名前" + "A" * 20_000 + "末尾",
    "japanese": "山田　太郎＜管理者＞の端末・透析室",
    "control": "nul\x00bel\x07esc\x1b[31mdel\x7fnel\x85sep\u2028end",
    "chat": "<!channel> *bold* _it_ ~s~ `code` <https://evil.example|click> [here](https://evil.example) <at>all</at>",
    "sd": 'x"] [evil@1 a="b"] \\ ]',
}
OUTPUTS = (
    "pdf",
    "csv",
    "xlsx",
    "html",
    "email",
    "syslog",
    "webhook-json",
    "slack",
    "teams",
    "evtx-timeline",
    "zabbix",
    "cli-text",
    "script",
    "work-report-html",
    "work-report-pdf",
    "remote-access-csv",
    "remote-access-xlsx",
    "incident-html",
    "incident-json",
    "incident-text",
)
ADMIN = ("kanri", "Kanri-pass-2026!")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NOISE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ufffd\u2028\u2029…]")


def squash(text: str) -> str:
    """Text without what outputs may show differently: white space, control characters and their stand-ins."""
    return _NOISE.sub("", text)


def fragment(text: str) -> str:
    return squash(text)[:40]


def one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", "\ufffd", text)


# -- the alerts: real Windows rules over events carrying the hostile strings ---------------------------------------


def hostile_events(ts: float, case: str, record: int = 0) -> list[WindowsEvent]:
    """A service installed (computer, service name, service path) and a member added to the Administrators group
    (computer, user names), carrying the string of ``case``."""
    text = HOSTILE[case]
    return [
        event(
            ts,
            7045,
            {"ServiceName": text, "ImagePath": f"C:\\Windows\\Temp\\{text}.exe", "AccountName": "LocalSystem"},
            channel="System",
            provider="Service Control Manager",
            computer=text,
            record_id=record,
        ),
        event(
            ts + 1,
            4732,
            {
                "SubjectUserName": text,
                "MemberName": f"CN={text}",
                "TargetUserName": "Administrators",
                "TargetSid": "S-1-5-32-544",
            },
            computer=text,
            record_id=record + 1,
        ),
    ]


def _ber(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = (
        bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8)
    )
    return bytes([tag]) + length + content


def hostile_login(ts: float, case: str) -> PacketData:
    """An LDAP simple bind in clear text whose account (the bind DN) is the string of ``case``."""
    dn = HOSTILE[case].encode()
    bind = _ber(0x30, _ber(0x02, b"\x07") + _ber(0x60, _ber(0x02, b"\x03") + _ber(0x04, dn) + _ber(0x80, b"pw")))
    return PacketData(ts, "tcp", "02:00:00:00:77:01", "02:00:00:00:77:02", "10.0.0.9", "10.0.0.1", 40000, 389,
                      0x18, 1, 1, 64, bind)  # fmt: skip


def hostile_alerts(ts: float) -> dict[str, list[Alert]]:
    """Per case: the alerts of real Windows rules over its events and of the cleartext rule over a login naming it
    as the account, all high; the system name is the string too."""
    found: dict[str, list[Alert]] = {}
    for case, text in HOSTILE.items():
        uids = iter(f"case-{case}-{n}" for n in range(100))  # no uid is a part of another
        engine = WindowsEngine(WindowsSettings(), new_uid=lambda uids=uids: next(uids))  # type: ignore[misc]
        engine.feed(hostile_events(ts, case))
        alerts = [dataclasses.replace(a, system=text) for a in engine.collect_changes()]
        assert sorted(a.rule for a in alerts) == ["account-change", "service-installed"], alerts
        network = Engine(
            Site(),
            DetectionSettings(cleartext=CleartextSettings(enabled=True, protocols=("ldap",))),
            new_uid=lambda uids=uids: next(uids),  # type: ignore[misc]
        )
        network.feed([hostile_login(ts + 2, case)])
        (login,) = network.collect_changes()
        assert login.details["accounts"] == [text[:256].strip()]
        alerts.append(dataclasses.replace(login, system=text))
        assert all(a.severity.label == "high" for a in alerts)  # high: the monthly report lists them
        found[case] = alerts
    return found


def case_of(uid: str) -> str:
    return uid.removeprefix("case-").rsplit("-", 1)[0]


# -- the dashboard with these alerts, handled with hostile comments ------------------------------------------------


@dataclasses.dataclass
class World:
    alerts: dict[str, list[Alert]]
    dashboard: Dashboard
    month: str
    admin: Client

    def all_alerts(self) -> list[Alert]:
        return [a for alerts in self.alerts.values() for a in alerts]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from mamori.storage import Ledger, LedgerEntry, Store

    folder = tmp_path_factory.mktemp("hostile")
    ts = time.time() - 120
    alerts = hostile_alerts(ts)
    config = folder / "site.yaml"
    config.write_text(
        "site: {name: " + json.dumps(HOSTILE["img"] + HOSTILE["tag"] + HOSTILE["entity"]) + "}\n"
        "storage: {path: mamori.db}\n"
        "web: {secret_key_file: web-secret.key}\n"
        "systems:\n"
        f"  - name: {json.dumps(HOSTILE['img'])}\n"
        "    servers: [{ip: 10.0.0.1}]\n"
        "    ports: [445]\n",
        encoding="utf-8",
    )
    store = Store(folder / "mamori.db")
    every = [a for group in alerts.values() for a in group]
    store.upsert_alerts(every)
    store.record_deliveries(
        [Delivery(a.uid, "hook", "webhook", "new", 1, ts, False, True, HOSTILE[case_of(a.uid)], 1) for a in every]
    )
    terminals = [LedgerEntry(t, t, f"02:00:00:00:99:{i:02x}", None, note=t) for i, t in enumerate(HOSTILE.values())]
    Ledger(store).upsert(terminals, "web")
    from mamori.model import MaintenanceSession
    from mamori.storage import SessionTable

    # A remote-maintenance session per alert: the vendor, its account and target named by the hostile text.
    SessionTable(store).save(
        [
            MaintenanceSession(
                uid=f"s-{a.uid}",
                vendor=HOSTILE[case_of(a.uid)],
                source="10.9.0.21",
                start=ts + i,
                end=ts + i + 60,
                accounts=(HOSTILE[case_of(a.uid)],),
                targets=(HOSTILE[case_of(a.uid)][:255],),
                ports=(3389,),
                via=("vpn",),
                differences=("no-plan",),
                alert_uid=a.uid,
                ended=True,
            )
            for i, a in enumerate(every)
        ]
    )
    store.close()
    add_user(config, *ADMIN[:1], "admin", ADMIN[1])
    dashboard = start_dashboard(config)
    try:
        admin = Client(dashboard)
        assert admin.login(*ADMIN)[0] == 302
        for alert in every:  # the handling comment: what an administrator pastes from the logs
            token = csrf_token(admin.get(f"/alerts/{alert.uid}/")[2].decode())
            data = {"action": "resolve", "comment": HOSTILE[case_of(alert.uid)], "csrfmiddlewaretoken": token}
            status, _headers, _body = admin.post(f"/alerts/{alert.uid}/action/", data)
            assert status == 302, (alert.uid, status)
        month = dt.datetime.fromtimestamp(ts).strftime("%Y-%m")
        yield World(alerts, dashboard, month, admin)
    finally:
        dashboard.stop()


# -- the outputs: each gives back what its reader sees, per alert uid ---------------------------------------------


def _pdf(request: pytest.FixtureRequest) -> dict[str, str]:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is not installed")
    w: World = request.getfixturevalue("world")
    status, headers, body = w.admin.get(f"/reports/monthly.pdf?month={w.month}")
    assert status == 200, body[:500]
    assert headers["Content-Type"] == "application/pdf" and body.startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", "-", "-"], input=body, capture_output=True, check=True).stdout.decode()
    # One document: every alert's summary, system and comment must be in it, and the site's name in the title.
    assert fragment(HOSTILE["img"] + HOSTILE["tag"]) in squash(text.split("\n", 2)[0] + text.split("\n", 2)[1])
    return {a.uid: text for a in w.all_alerts()}


def _table_rows(request: pytest.FixtureRequest, fmt: str) -> dict[str, str]:
    w: World = request.getfixturevalue("world")
    status, _headers, body = w.admin.get(f"/alerts/export/?format={fmt}")
    assert status == 200, body[:500]
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(body)).worksheets[0]
        cells = [list(row) for row in sheet.iter_rows()]
        assert all(c.data_type in ("s", "n") for row in cells for c in row if c.value is not None)  # never "f"
        rows = [["" if c.value is None else str(c.value) for c in row] for row in cells]
    header, *data = rows
    for row in data:
        for cell in row:
            assert not cell.startswith(FORMULA_START), (fmt, cell[:80])  # a quote comes first: Excel shows text
    seen: dict[str, str] = {}
    for row in data:
        values = dict(zip(header, row, strict=True))
        uid = values["uid"]
        text = HOSTILE[case_of(uid)]
        comment = text.strip()[:2000]  # as the dashboard keeps a comment
        assert values["部門システム"] == _as_cell(text, fmt), (fmt, uid)
        assert values["コメント"] == _as_cell(comment, fmt), (fmt, uid)
        seen[uid] = "\n".join(row)
    return seen


def _as_cell(text: str, fmt: str) -> str:
    """What a CSV or XLSX cell holding ``text`` reads back as: quoted if it looks like a formula; in a workbook,
    control characters as U+FFFD and CR as LF."""
    shown = "'" + text if text.startswith(FORMULA_START) else text
    if fmt == "xlsx":
        shown = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", shown).replace("\r\n", "\n").replace("\r", "\n")
    return shown


def _csv(request: pytest.FixtureRequest) -> dict[str, str]:
    return _table_rows(request, "csv")


def _xlsx(request: pytest.FixtureRequest) -> dict[str, str]:
    return _table_rows(request, "xlsx")


INJECTED = "document.querySelectorAll('main img, main admin, main script, main a[href^=\"https://evil\"]').length"


@contextlib.contextmanager
def admin_page(base: str) -> Iterator[tuple[Any, list[str]]]:
    """Debian's chromium, logged in to the dashboard at ``base`` as the administrator, in Japanese; yields the page
    and the dialogs it opened (a script that ran would open one)."""
    from tests.integration.browser import chromium, log_in, open_page

    with chromium() as browser:
        page = open_page(browser, base)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        log_in(page, ADMIN)
        page.wait_for_url(f"{base}/")
        yield page, dialogs


def _html(request: pytest.FixtureRequest) -> dict[str, str]:
    w: World = request.getfixturevalue("world")
    seen: dict[str, str] = {}
    with admin_page(w.dashboard.base) as (page, dialogs):
        page.goto("/alerts/?status=resolved")
        listing = page.evaluate("document.body.innerText")
        assert page.evaluate(INJECTED) == 0
        listed = page.content()
        assert all(a.uid in listed for a in w.all_alerts())  # every alert is listed (page size 50)
        for alert in w.all_alerts():
            page.goto(f"/alerts/{alert.uid}/")
            assert page.evaluate(INJECTED) == 0, alert.uid
            assert page.evaluate("window.__pwned") is None
            seen[alert.uid] = listing + "\n" + page.evaluate("document.body.innerText")
        assert dialogs == []
    return seen


def _email(request: pytest.FixtureRequest) -> dict[str, str]:
    start = request.getfixturevalue("smtp_server")
    ca: Pki = request.getfixturevalue("pki")
    box, port = start("implicit")
    settings = EmailAction.model_validate(
        {"name": "mail", "type": "email", "smtp": f"smtps://localhost:{port}", "to": ["soc@example.org"],
         "ca_file": str(ca.ca)}
    )  # fmt: skip
    alerts = _alerts()
    action = build_action(settings)
    for alert in alerts:
        assert action.deliver(Notification(alert, "new")).ok
    seen: dict[str, str] = {}
    for (_sender, recipients, raw), alert in zip(box.messages, alerts, strict=True):
        assert recipients == ["soc@example.org"]
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        names = [name.lower() for name in mail]
        assert sorted(names) == sorted(
            ["subject", "from", "to", "date", "message-id", "auto-submitted", "content-type",
             "content-transfer-encoding", "mime-version"]
        ), names  # fmt: skip
        assert "\n" not in mail["Subject"] and "\r" not in mail["Subject"]
        body = mail.get_content()
        assert f"System: {one_line(alert.system or '')[:1000]}" in body or len(alert.system or "") >= 1000
        assert not re.search(r"^(Bcc|<13>1)", body, re.M)
        seen[alert.uid] = mail["Subject"] + "\n" + body
    return seen


def _syslog(request: pytest.FixtureRequest) -> dict[str, str]:
    receiver: Rsyslog = request.getfixturevalue("rsyslog")
    settings = SyslogAction.model_validate(
        {"name": "siem", "type": "syslog", "target": f"tcp://127.0.0.1:{receiver.tcp}", "app_name": "mamori-test"}
    )
    action = build_action(settings)
    alerts = _alerts()
    try:
        for alert in alerts:
            assert action.deliver(Notification(alert, "new")).ok
    finally:
        action.close()
    seen: dict[str, str] = {}
    for alert in alerts:
        [record] = receiver.received(alert.uid)  # one message each: nothing forged after a CR or LF
        params = record["sd"]["mamori@32473"]  # rsyslog parsed the SD element: quotes and ] were escaped
        assert set(record["sd"]) == {"mamori@32473"}
        system = one_line(alert.system or "")
        assert params["system"] == (system if len(system) <= 512 else system[:511] + "…")
        assert "#012" not in record["raw"] and "#015" not in record["raw"]
        seen[alert.uid] = params["system"] + "\n" + record["msg"]
    assert not [r for r in receiver.records() if r["app"] in ("evil", "app")]
    return seen


def _webhook(request: pytest.FixtureRequest, fmt: str) -> list[tuple[Alert, dict[str, Any]]]:
    hook = request.getfixturevalue("webhook_server")()
    action = build_action(
        WebhookAction.model_validate({"name": "hook", "type": "webhook", "url": hook.url, "format": fmt})
    )
    alerts = _alerts()
    for alert in alerts:
        assert action.deliver(Notification(alert, "new")).ok
    return [(alert, json.loads(r["body"])) for alert, r in zip(alerts, hook.requests, strict=True)]


def _webhook_json(request: pytest.FixtureRequest) -> dict[str, str]:
    seen: dict[str, str] = {}
    for alert, doc in _webhook(request, "json"):
        assert doc == {"event": "new", **json.loads(json.dumps(alert_to_dict(alert)))}  # verbatim, as JSON data
        seen[alert.uid] = doc["summary_ja"] + "\n" + str(doc["system"])
    return seen


def _texts(node: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every Slack text object of a message."""
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
            found.append(node)
        for value in node.values():
            _texts(value, found)
    elif isinstance(node, list):
        for value in node:
            _texts(value, found)
    return found


def _slack(request: pytest.FixtureRequest) -> dict[str, str]:
    seen: dict[str, str] = {}
    for alert, doc in _webhook(request, "slack"):
        assert fragment(HOSTILE[case_of(alert.uid)]) not in squash(doc["text"])  # the fallback: mamori's title
        texts = _texts(doc["blocks"], [])
        assert {t["type"] for t in texts} == {"plain_text"}  # no mrkdwn: *bold*, _it_, `code` stay text
        shown = []
        for t in texts:
            assert not re.search(r"[<>]|&(?!amp;|lt;|gt;)", t["text"]), t["text"][:200]  # no <!channel>, no link
            shown.append(t["text"].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
        seen[alert.uid] = "\n".join(shown)
    return seen


def _teams(request: pytest.FixtureRequest) -> dict[str, str]:
    from markdown_it import MarkdownIt

    markdown = MarkdownIt("commonmark", {"html": False})
    seen: dict[str, str] = {}
    for alert, doc in _webhook(request, "teams"):
        card = doc["attachments"][0]["content"]
        texts = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]
        texts += [f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]]
        shown = []
        for text in texts:
            tokens = markdown.parse(text)
            kinds = {t.type for t in tokens} | {c.type for t in tokens for c in (t.children or [])}
            assert kinds <= {"paragraph_open", "paragraph_close", "inline", "text", "softbreak"}, (text[:200], kinds)
            shown.append("".join(c.content for t in tokens for c in (t.children or [])))
        assert one_line(summary(alert, "ja"))[:999] in shown[1], shown[1][:200]  # as text, every character kept
        seen[alert.uid] = "\n".join(shown)
    return seen


def _evtx_timeline(request: pytest.FixtureRequest) -> dict[str, str]:
    """``mamori evtx analyze --timeline x.csv`` over forwarded events: the names go into the cells verbatim."""
    folder: Path = request.getfixturevalue("tmp_path")
    lines = []
    cases = list(HOSTILE)
    for i, case in enumerate(cases):
        lines += [ecs_line(e) for e in hostile_events(1_800_000_000.0 + i * 10, case, record=2 * i)]
    logs = folder / "forwarded.jsonl"
    logs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    timeline = folder / "timeline.csv"
    run_mamori("evtx", "analyze", "--json", "--timeline", str(timeline), str(logs))
    with timeline.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    seen: dict[str, str] = {}
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(FORMULA_START), cell[:80]
        record = int(row["record_id"])
        seen[f"case-{cases[record // 2]}-{record % 2}"] = "\n".join(row.values())
    return seen


def _zabbix(request: pytest.FixtureRequest) -> dict[str, str]:
    """The trapper value: one line, the fixed fields first, and no value can add a field or a line."""
    seen: dict[str, str] = {}
    for alert in _alerts():
        value = zabbix_value(alert, "new")
        assert "\n" not in value and "\r" not in value and "\x00" not in value
        fields = value.split("|")
        assert fields[:4] == [alert.severity.label, "new", alert.rule, alert.uid], fields[:4]
        assert sum(1 for f in fields if f.startswith("system=")) == 1
        seen[alert.uid] = value.replace("¦", "|")  # the separator inside a value is shown as ¦, by design
    return seen


def _cli_text(request: pytest.FixtureRequest) -> dict[str, str]:
    """`mamori alerts` on a terminal: one line per alert, no escape sequence or line break from the names."""
    seen: dict[str, str] = {}
    for alert in _alerts():
        for lang in ("ja", "en"):
            line = alert_line(alert, lang)
            assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", line), repr(line[:120])
        seen[alert.uid] = alert_line(alert, "ja")
    return seen


def _script(request: pytest.FixtureRequest) -> dict[str, str]:
    """A response script gets the alert as data (environment and JSON on stdin), never as a command line."""
    folder: Path = request.getfixturevalue("tmp_path")
    canary = folder / "pwned"
    script = folder / "record.sh"
    script.write_text(
        '#!/bin/sh\ncat > "$1/$MAMORI_UID.json"\nprintf "%s" "$MAMORI_SYSTEM" > "$1/$MAMORI_UID.system"\n'
    )
    script.chmod(0o755)
    action = build_action(ScriptAction(type="script", name="rec", command=[str(script), str(folder)], timeout=10))
    seen: dict[str, str] = {}
    for alert in _alerts():
        assert action.deliver(Notification(alert, "new")).ok
        doc = json.loads((folder / f"{alert.uid}.json").read_text(encoding="utf-8"))
        assert doc["system"] == alert.system and doc["summary_ja"] == summary(alert, "ja")  # verbatim, as data
        seen[alert.uid] = doc["summary_en"] + "\n" + doc["system"]
    assert not canary.exists()
    return seen


def _work_report_html(request: pytest.FixtureRequest) -> dict[str, str]:
    w: World = request.getfixturevalue("world")
    with admin_page(w.dashboard.base) as (page, dialogs):
        page.goto(f"/maintenance/?month={w.month}")
        assert page.evaluate(INJECTED) == 0
        assert page.evaluate("window.__pwned") is None and dialogs == []
        text = page.evaluate("document.body.innerText")
    return {a.uid: text for a in w.all_alerts()}


def _work_report_pdf(request: pytest.FixtureRequest) -> dict[str, str]:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is not installed")
    w: World = request.getfixturevalue("world")
    status, headers, body = w.admin.get(f"/maintenance/report.pdf?month={w.month}")
    assert status == 200, body[:500]
    assert headers["Content-Type"] == "application/pdf" and body.startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", "-", "-"], input=body, capture_output=True, check=True).stdout.decode()
    assert "作業報告の確認" in text
    return {a.uid: text for a in w.all_alerts()}


def _access_rows(request: pytest.FixtureRequest, fmt: str) -> dict[str, str]:
    w: World = request.getfixturevalue("world")
    status, _headers, body = w.admin.get(f"/maintenance/access/?month={w.month}&format={fmt}")
    assert status == 200, body[:500]
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(body)).worksheets[0]
        cells = [list(row) for row in sheet.iter_rows()]
        assert all(c.data_type in ("s", "n") for row in cells for c in row if c.value is not None)  # never "f"
        rows = [["" if c.value is None else str(c.value) for c in row] for row in cells]
    header, *data = rows
    for row in data:
        for cell in row:
            assert not cell.startswith(FORMULA_START), (fmt, cell[:80])
    by_vendor = {dict(zip(header, row, strict=True))["業者"]: "\n".join(row) for row in data}
    return {a.uid: by_vendor[_as_cell(HOSTILE[case_of(a.uid)], fmt)] for a in w.all_alerts()}


def _alerts() -> list[Alert]:
    return [a for group in hostile_alerts(time.time() - 120).values() for a in group]


def _incident_html(request: pytest.FixtureRequest) -> dict[str, str]:
    """The incident list and each incident's page in a real browser: the names that link the alerts (computers,
    accounts) and the summaries of its timeline are text, never markup or script."""
    w: World = request.getfixturevalue("world")
    seen: dict[str, str] = {}
    with admin_page(w.dashboard.base) as (page, dialogs):
        page.goto("/incidents/")
        assert page.evaluate(INJECTED) == 0
        links = page.locator("tr[data-incident]")
        uids = [str(links.nth(i).get_attribute("data-incident")) for i in range(links.count())]
        assert sorted(uids) == sorted(_incident_ids(w)), uids  # every incident listed, once
        for uid in uids:
            page.goto(f"/incidents/{uid}/")
            assert page.evaluate(INJECTED) == 0, uid
            assert page.evaluate("window.__pwned") is None
            text = page.evaluate("document.body.innerText")
            rows = page.locator("[data-test=timeline] tbody tr")
            for i in range(rows.count()):
                seen[str(rows.nth(i).get_attribute("data-uid"))] = text
        assert dialogs == []
    return seen


def _incident_ids(w: World) -> list[str]:
    """The incidents in the store, read from `mamori incidents --json` split at its record separator alone."""
    out = run_mamori("incidents", "--config", str(w.dashboard.config), "--json").stdout
    return [json.loads(line)["incident"] for line in out.split("\n") if line]


def _incident_json(request: pytest.FixtureRequest) -> dict[str, str]:
    """`mamori incidents --json`: one JSON object per line; the names are JSON strings, read back verbatim."""
    w: World = request.getfixturevalue("world")
    out = run_mamori("incidents", "--config", str(w.dashboard.config), "--json").stdout
    seen: dict[str, str] = {}
    lines = out.splitlines()
    # no name added a line (even by the separators Python splits lines at): as many lines as incidents
    assert len(lines) == len(_incident_ids(w)) >= len(HOSTILE)
    for line in lines:
        doc = json.loads(line)
        assert doc["status"] == "closed"  # every alert was resolved
        assert [step["alert"] for step in doc["timeline"]] == doc["alerts"]
        for step in doc["timeline"]:  # the summaries carry the names as the logs wrote them
            seen[step["alert"]] = step["summary_ja"] + "\n" + step["summary_en"]
        assert all(name == name.lower() for name in doc["computers"])  # the keys: matched in lower case
    return seen


def _incident_text(request: pytest.FixtureRequest) -> dict[str, str]:
    """`mamori incidents` on a terminal: one line per incident, no escape sequence or line break from the names.
    The line names computers and accounts as the incident matches them: in lower case (CASE_FOLDED)."""
    w: World = request.getfixturevalue("world")
    members = {
        doc["incident"]: doc["alerts"]
        for doc in map(
            json.loads, run_mamori("incidents", "--config", str(w.dashboard.config), "--json").stdout.split("\n")[:-1]
        )
    }
    seen: dict[str, str] = {}
    for lang in ("ja", "en"):
        out = run_mamori("incidents", "--config", str(w.dashboard.config), "--lang", lang).stdout
        lines = out.splitlines()
        assert len(lines) == len(_incident_ids(w))
        for line in lines:
            assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", line), repr(line[:120])
            for uid in members[line.rsplit("incident=", 1)[1]]:
                seen[uid] = seen.get(uid, "") + line + "\n"
    by_uid = {a.uid: a for a in w.all_alerts()}
    for uid, text in seen.items():  # each name as the incident matched it: lower case, a host name to its first dot
        for key in alert_keys(by_uid[uid]):
            assert squash(key.partition(":")[2])[:40] in squash(text), (uid, key[:80])
    return seen


READERS: dict[str, Callable[[pytest.FixtureRequest], dict[str, str]]] = {
    "pdf": _pdf,
    "csv": _csv,
    "xlsx": _xlsx,
    "html": _html,
    "email": _email,
    "syslog": _syslog,
    "webhook-json": _webhook_json,
    "slack": _slack,
    "teams": _teams,
    "evtx-timeline": _evtx_timeline,
    "zabbix": _zabbix,
    "cli-text": _cli_text,
    "script": _script,
    "work-report-html": _work_report_html,
    "work-report-pdf": _work_report_pdf,
    "remote-access-csv": lambda request: _access_rows(request, "csv"),
    "remote-access-xlsx": lambda request: _access_rows(request, "xlsx"),
    "incident-html": _incident_html,
    "incident-json": _incident_json,
    "incident-text": _incident_text,
}

# Outputs that show the names as incidents match them (mamori.incidents.alert_keys: lower case, a host name up to
# its first dot): their readers look for those forms; the names as written are in the other incident outputs.
AS_MATCHED = {"incident-text"}
# Where the handling comment and the far end's answer are shown (the chat and mail outputs carry the alert only).
WITH_COMMENTS = {"pdf", "csv", "xlsx", "html"}


@pytest.mark.slow
@pytest.mark.parametrize("output", OUTPUTS)
def test_hostile_text_reaches_every_output_as_text(output: str, request: pytest.FixtureRequest) -> None:
    shown = READERS[output](request)
    per_case = 2 if output == "evtx-timeline" else 3  # the timeline is the Windows events'; the rest every alert's
    assert len(shown) == per_case * len(HOSTILE), sorted(shown)
    for uid, text in shown.items():
        case = case_of(uid)
        if output not in AS_MATCHED:
            assert fragment(HOSTILE[case]) in squash(text), (output, uid)  # the name itself, kept
        if output in WITH_COMMENTS:
            assert squash(text).count(fragment(HOSTILE[case])) >= 2, (output, uid)  # and the comment


# -- segment names (the site file's, written by whoever edits it) in the zone matrix and map exports ----------------

SEGMENT_CASES = ("img", "tag", "entity", "script", "formula", "plus", "minus", "at", "japanese", "chat", "sd")


@pytest.mark.slow
def test_hostile_segment_names_in_the_zone_matrix_and_map_exports(tmp_path: Path) -> None:
    from mamori.model import FlowCount
    from mamori.storage import FlowTable, Store

    names = [HOSTILE[case] for case in SEGMENT_CASES]
    config = tmp_path / "site.yaml"
    config.write_text(
        "storage: {path: mamori.db}\nweb: {secret_key_file: web-secret.key}\nsegments:\n"
        + "".join(
            f"  - {{name: {json.dumps(n)}, cidrs: [10.77.{i}.0/24], zone: {('hsz', 'sz', 'dmz')[i % 3]}}}\n"
            for i, n in enumerate(names)
        ),
        encoding="utf-8",
    )
    now = time.time()
    hour = now - now % 3600
    # Each segment reaches the next on SMB, the policy's verdict alternating.
    flows = [
        FlowCount(hour, names[i], names[(i + 1) % len(names)], "tcp", 445, i % 2 == 0, i + 1) for i in range(len(names))
    ]
    FlowTable(Store(tmp_path / "mamori.db")).add(flows)
    add_user(config, *ADMIN[:1], "admin", ADMIN[1])
    dashboard = start_dashboard(config)
    try:
        admin = Client(dashboard)
        assert admin.login(*ADMIN)[0] == 302
        tables = {}
        for fmt in ("csv", "xlsx"):
            status, _headers, body = admin.get(f"/zones/matrix/export/?period=day&format={fmt}")
            assert status == 200, body[:300]
            if fmt == "csv":
                tables[fmt] = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
            else:
                from openpyxl import load_workbook

                sheet = load_workbook(io.BytesIO(body)).worksheets[0]
                assert all(c.data_type in ("s", "n") for row in sheet.iter_rows() for c in row if c.value is not None)
                tables[fmt] = [["" if c.value is None else str(c.value) for c in row] for row in sheet.iter_rows()]
        for fmt, (_header, *rows) in tables.items():
            assert len(rows) == len(names), fmt
            for row in rows:
                assert not any(cell.startswith(FORMULA_START) for cell in row), (fmt, row)
            sources = sorted(row[0] for row in rows)
            assert sources == sorted(_as_cell(n, fmt) for n in names), fmt
        status, _headers, page = admin.get("/zones/?period=day")
        assert status == 200
        for name in names:  # in the page's inline map and table: as text, never as markup
            assert "<" not in name or name.encode() not in page, name
        assert b"<script>window.__pwned" not in page and b'<img src="/etc/passwd"/>' not in page
        status, _headers, svg = admin.get("/zones/map.svg?period=day")
        assert status == 200
        import xml.etree.ElementTree as ET

        root = ET.fromstring(svg)  # noqa: S314 - the dashboard's own drawing, read back as a viewer would
        shown = "".join(root.itertext())
        for name in names:
            assert squash(name)[:12] in squash(shown), name  # the names as text (long ones cut with "…")
        assert not root.findall(".//{http://www.w3.org/2000/svg}script")
    finally:
        dashboard.stop()


# -- backup jobs: hostile names and paths through `mamori backups` (text, JSON), the alerts and the dashboard --------


@pytest.fixture(scope="module")
def hostile_backups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Dashboard]]:
    """One backup job per case: its name, what it saves and its folder carry the string (the folder does not exist,
    so the error quotes the path); `mamori backups` checks them and stores the alerts; the dashboard shows them."""
    folder = tmp_path_factory.mktemp("hostile-backups")
    jobs = []
    for case, text in HOSTILE.items():
        name = f"{case}: {text}"[:200]
        path = str(folder / text[:200].replace("/", "_").replace("\x00", "_"))
        jobs.append({"name": name, "path": path, "every": "1d", "generations": 2, "what": text[:500]})
    config = folder / "site.yaml"
    config.write_text(
        "storage: {path: mamori.db}\nweb: {secret_key_file: web-secret.key}\nbackups: " + json.dumps(jobs) + "\n",
        encoding="utf-8",
    )
    add_user(config, *ADMIN[:1], "admin", ADMIN[1])
    dashboard = start_dashboard(config)
    try:
        yield config, dashboard
    finally:
        dashboard.stop()


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_backup_names_and_paths_reach_every_output_as_text(
    case: str, hostile_backups: tuple[Path, Dashboard]
) -> None:
    config, dashboard = hostile_backups
    text = HOSTILE[case]
    for lang in ("ja", "en"):
        shown = run_mamori("backups", "--config", str(config), "--lang", lang).stdout
        for line in shown.splitlines():
            assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", line), repr(line[:120])
        assert fragment(f"{case}: {text}") in squash(shown)
    doc = json.loads(run_mamori("backups", "--config", str(config), "--json").stdout)
    (job,) = [j for j in doc["jobs"] if j["job"] == f"{case}: {text}"[:200]]
    assert job["state"] == "unreadable"
    output = run_mamori("alerts", "--config", str(config), "--json").stdout
    alerts = [json.loads(line) for line in output.split("\n") if line.strip()]  # JSON lines end at \n only
    (alert,) = [a for a in alerts if a["job"] == f"{case}: {text}"[:200]]
    assert alert["rule"] == "backup-missed" and alert["count"] >= 3  # every check so far, one alert
    assert fragment(f"{case}: {text}") in squash(alert["summary_en"])
    admin = Client(dashboard)
    assert admin.login(*ADMIN)[0] == 302
    status, _headers, body = admin.get("/backups/")
    page = body.decode()
    assert status == 200
    assert "<script>window.__pwned" not in page and '<img src="/etc/passwd"/>' not in page and "<admin>" not in page
    assert fragment(html_text(page)) and fragment(f"{case}: {text}") in squash(html_text(page))
    status, _headers, body = admin.get(f"/alerts/{alert['uid']}/")
    assert status == 200 and "<script>window.__pwned" not in body.decode()


def html_text(page: str) -> str:
    """The text a browser shows of a page (tags dropped, entities decoded)."""
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


# -- exposure: nmap's service, product, version and host name (what a scanned host answers) through every output ----

_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # nmap cannot write these into its XML


def nmap_text(case: str) -> str:
    """The hostile string as it can stand in nmap's XML (characters XML 1.0 cannot hold become "?")."""
    return _XML_ILLEGAL.sub("?", HOSTILE[case])


def _hostile_nmap_xml(path: Path, started: int) -> dict[str, str]:
    """One host per case (10.88.0.N), answering on 389 (LDAP: a dangerous port no system lists, named only by
    nmap's words) with the string as its service, product, version and PTR name. Returns case -> address."""
    from xml.sax.saxutils import quoteattr

    hosts = []
    addresses: dict[str, str] = {}
    for i, case in enumerate(HOSTILE):
        text = quoteattr(nmap_text(case)[:2000])
        addresses[case] = f"10.88.0.{i + 1}"
        hosts.append(
            f'<host><status state="up" reason="arp-response"/><address addr="{addresses[case]}" addrtype="ipv4"/>'
            f'<hostnames><hostname name={text} type="PTR"/></hostnames><ports>'
            f'<port protocol="tcp" portid="389"><state state="open" reason="syn-ack"/>'
            f'<service name={text} product={text} version={text} method="probed"/></port>'
            "</ports></host>"
        )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
        f'<nmaprun scanner="nmap" args="nmap -n -sS 10.88.0.0/24" start="{started}" version="7.93" '
        'xmloutputversion="1.05">\n'
        + "\n".join(hosts)
        + f'\n<runstats><finished time="{started + 9}"/><hosts up="{len(hosts)}" down="0" total="{len(hosts)}"/>'
        "</runstats>\n</nmaprun>\n",
        encoding="utf-8",
    )
    return addresses


@dataclasses.dataclass
class ExposureWorld:
    config: Path
    dashboard: Dashboard
    alerts: list[Alert]  # uids "case-<case>-0", the system named by the string too
    addresses: dict[str, str]


@pytest.fixture(scope="module")
def hostile_exposure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExposureWorld]:
    """nmap's XML read by mamori's reader, judged and stored as `mamori scan` stores a run, its alerts raised and
    stored; the dashboard shows the table."""
    from mamori.config import settings_from_text
    from mamori.detection.book import AlertBook
    from mamori.detection.exposure import judge_host, raise_scan_alerts
    from mamori.detection.site_index import SiteIndex
    from mamori.ingest.nmap_xml import read_nmap_xml
    from mamori.storage import ExposureTable, Store

    folder = tmp_path_factory.mktemp("hostile-exposure")
    addresses = _hostile_nmap_xml(folder / "scan.xml", int(time.time()) - 60)
    site_text = "segments:\n  - {name: 電子カルテ, cidrs: [10.88.0.0/24], zone: hsz}\n"
    config = folder / "site.yaml"
    config.write_text("storage: {path: mamori.db}\nweb: {secret_key_file: web-secret.key}\n" + site_text, "utf-8")
    report = read_nmap_xml(folder / "scan.xml")
    site = settings_from_text(site_text).site
    index = SiteIndex(site)
    store = Store(folder / "mamori.db")
    table = ExposureTable(store)
    judged = [judge_host(index, h.address, [f"tcp/{p.port}" for p in h.open_ports()]) for h in report.hosts]
    run = table.save_run(
        started=report.started,
        scope={"targets": ["10.88.0.0/24"]},
        argv=["nmap"],
        seconds=9.0,
        observer="10.88.0.254",
        report=report,
        reasons={j.host: {k: j.reasons(k) for k in j.open_ports} for j in judged},
    )
    alerts: list[Alert] = []
    by_address = {a: c for c, a in addresses.items()}
    for host, j in zip(report.hosts, judged, strict=True):
        case = by_address[host.address]
        book = AlertBook(new_uid=lambda case=case: f"case-{case}-e0")  # type: ignore[misc]
        (port,) = host.open_ports()
        words = {"tcp/389": f"{port.service} ({port.product} {port.version})"}
        raise_scan_alerts(
            book, index, [j], scan_id=run, ts=report.started, observer="10.88.0.254", services={host.address: words}
        )
        (alert,) = book.collect_changes()
        alerts.append(dataclasses.replace(alert, system=HOSTILE[case]))
    store.upsert_alerts(alerts, origin="scan")
    store.close()
    add_user(config, *ADMIN[:1], "admin", ADMIN[1])
    dashboard = start_dashboard(config)
    try:
        yield ExposureWorld(config, dashboard, alerts, addresses)
    finally:
        dashboard.stop()


@pytest.mark.slow
def test_hostile_nmap_text_in_the_exposure_table_and_host_page_in_a_browser(hostile_exposure: ExposureWorld) -> None:
    w = hostile_exposure
    with admin_page(w.dashboard.base) as (page, dialogs):
        page.goto("/exposure/")
        assert page.evaluate(INJECTED) == 0 and page.evaluate("window.__pwned") is None
        table = squash(page.evaluate("document.body.innerText"))
        for case, address in w.addresses.items():
            assert address in table, case
            assert fragment(nmap_text(case)) in table, case  # nmap's words, shown as text
        for case, address in w.addresses.items():
            page.goto(f"/exposure/host/{address}/")
            assert page.evaluate(INJECTED) == 0, case
            assert page.evaluate("window.__pwned") is None
            shown = squash(page.evaluate("document.body.innerText"))
            assert fragment(nmap_text(case)) in shown, case
        for alert in w.alerts:  # the alert's summary carries nmap's words
            page.goto(f"/alerts/{alert.uid}/")
            assert page.evaluate(INJECTED) == 0, alert.uid
            assert fragment(nmap_text(case_of(alert.uid))) in squash(page.evaluate("document.body.innerText"))
        assert dialogs == []


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_hostile_nmap_text_in_the_exposure_exports(fmt: str, hostile_exposure: ExposureWorld) -> None:
    w = hostile_exposure
    admin = Client(w.dashboard)
    assert admin.login(*ADMIN)[0] == 302
    status, _headers, body = admin.get(f"/exposure/export/?format={fmt}")
    assert status == 200, body[:300]
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(body)).worksheets[0]
        assert all(c.data_type in ("s", "n") for row in sheet.iter_rows() for c in row if c.value is not None)
        rows = [["" if c.value is None else str(c.value) for c in row] for row in sheet.iter_rows()]
    _header, *data = rows
    for row in data:
        assert not any(cell.startswith(FORMULA_START) for cell in row), (fmt, row[:3])
    for case, address in w.addresses.items():
        (row,) = [r for r in data if address in r]
        text = nmap_text(case)[:2000]
        assert _as_cell(text, fmt) in row or fragment(text) in squash("".join(row)), (fmt, case, row)


EXPOSURE_ALERT_OUTPUTS = ("email", "syslog", "webhook-json", "slack", "teams", "zabbix", "cli-text", "script")


@pytest.mark.slow
@pytest.mark.parametrize("output", EXPOSURE_ALERT_OUTPUTS)
def test_hostile_nmap_text_in_the_exposure_alert_through_every_alert_output(
    output: str, request: pytest.FixtureRequest, hostile_exposure: ExposureWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same readers as the table above, given the exposure alerts: the summary names the service as nmap gave
    it, and each output shows it as text (the readers check their own format's rules)."""
    import sys

    monkeypatch.setattr(sys.modules[__name__], "_alerts", lambda: list(hostile_exposure.alerts))
    shown = READERS[output](request)
    assert len(shown) == len(HOSTILE), sorted(shown)
    for alert in hostile_exposure.alerts:
        case = case_of(alert.uid)
        words = summary(alert, "ja")
        assert fragment(nmap_text(case)) in squash(words), (case, words[:200])  # the summary carries nmap's words
        assert fragment(nmap_text(case)) in squash(shown[alert.uid]), (output, case)


# -- the asset ledger and the checklist: hostile device names, notes and vendor names through the pages and files ----

HOSTILE_VENDOR = "=cmd|'/c calc'!A1 <script>window.__pwned = 1</script>"


@pytest.fixture(scope="module")
def hostile_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The demo hospital (its capture fills the asset ledger) with a vendor whose name is hostile."""
    from tests.integration.dashboard import demo_site

    folder = tmp_path_factory.mktemp("hostile-ledger")
    config = demo_site(folder)
    vendor = {"name": HOSTILE_VENDOR, "sources": ["10.20.0.0/24"], "devices": ["192.168.10.11"]}
    with config.open("a", encoding="utf-8") as out:
        out.write("vendors: " + json.dumps([vendor]) + "\n")
    add_user(config, *ADMIN[:1], "admin", ADMIN[1])
    dashboard = start_dashboard(config)
    try:
        yield dashboard
    finally:
        dashboard.stop()


def _no_markup(page: str) -> None:
    assert "<script>window.__pwned" not in page and '<img src="/etc/passwd"/>' not in page and "<admin>" not in page


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_device_names_notes_and_vendors_in_the_ledger_and_the_checklist(
    case: str, hostile_ledger: Dashboard, tmp_path: Path
) -> None:
    import urllib.parse

    import openpyxl

    text = HOSTILE[case]
    name, note = f"{case}: {text}"[:200], text[:2000]
    admin = Client(hostile_ledger)
    assert admin.login(*ADMIN)[0] == 302
    token = admin.token("/assets/")
    mac = "02:10:00:00:01:21"
    status, _h, _b = admin.post(
        "/assets/review/", {"csrf_token": token, "mac": mac, "action": "confirm", "name": name, "note": note}
    )
    assert status == 302
    status, _h, _b = admin.post(
        "/checklist/answer/",
        {"csrf_token": token, "form": "medical", "item": "2-①", "answer": "yes", "checked_on": "2026-11-30",
         "note": note},
    )  # fmt: skip
    assert status == 302
    status, _h, _b = admin.post("/assets/compare/", {"csrf_token": token, "missing": "0", "compare_note": note})
    assert status == 302
    stored_note = note.strip()  # the pages strip what a form's field begins and ends with
    vendor_form = "/checklist/?form=" + urllib.parse.quote(f"vendor:{HOSTILE_VENDOR}", safe="")
    for path, shown in (("/assets/", stored_note), ("/checklist/", stored_note), (vendor_form, HOSTILE_VENDOR)):
        status, _h, body = admin.get(path)
        page = body.decode()
        assert status == 200, path
        _no_markup(page)
        assert fragment(shown) in squash(html_text(page)), path
    # The ledger's CSV and XLSX: the name and the note as text, never a formula.
    status, _h, body = admin.get("/assets/export/?format=csv")
    rows = {r[0]: r for r in csv.reader(io.StringIO(body.decode("utf-8-sig")))}
    assert rows[mac][9] == _as_cell(name, "csv") and rows[mac][10] == _as_cell(stored_note, "csv")
    assert not [c for r in rows.values() for c in r if c.startswith(FORMULA_START)]
    status, _h, body = admin.get("/assets/export/?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    (row,) = [r for r in sheet.iter_rows(values_only=True) if r[0] == mac]
    assert row[9] == _as_cell(name, "xlsx") and (row[10] or "") == _as_cell(stored_note, "xlsx")
    # The checklist's XLSX: the note as text; the vendor's form: its hostile name as text in the XLSX and the PDF.
    status, _h, body = admin.get("/checklist/export/?form=medical&format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    (row,) = [r for r in sheet.iter_rows(values_only=True) if r[0] == "2-①"]
    assert row[8] == _as_cell(stored_note, "xlsx")
    vendor_key = urllib.parse.quote(f"vendor:{HOSTILE_VENDOR}", safe="")
    status, headers, body = admin.get(f"/checklist/export/?form={vendor_key}&format=xlsx")
    assert status == 200 and headers["Content-Disposition"] == 'attachment; filename="checklist-vendor-1.xlsx"'
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    assert str(sheet["A1"].value).endswith(f"（事業者確認用）（{HOSTILE_VENDOR}）")
    assert not [c for r in sheet.iter_rows(values_only=True) for c in r if isinstance(c, str) and c.startswith("=")]
    if shutil.which("pdftotext") and case == "script":  # the vendor's name is the same in every case
        status, _h, body = admin.get(f"/checklist/export/?form={vendor_key}&format=pdf")
        pdf = tmp_path / "vendor.pdf"
        pdf.write_bytes(body)
        shown = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert squash(HOSTILE_VENDOR)[:30] in squash(shown)


# -- blocking: a switch's port names and descriptions (ifName, ifDescr, ifAlias over SNMP) through every output -----


def _hostile_switch_walk() -> tuple[str, dict[str, str]]:
    """A switch (an snmpsim walk) with one access port per case, whose ifName, ifDescr and ifAlias are the string,
    each port having learned one MAC. Returns the walk and case -> MAC."""
    records: list[tuple[tuple[int, ...], str]] = [((1, 3, 6, 1, 2, 1, 1, 5, 0), "4|floor9-hostile")]
    macs: dict[str, str] = {}
    for i, (case, text) in enumerate(HOSTILE.items(), start=1):
        mac = (2, 0x4B, 0, 0, 0x0A, i)
        macs[case] = ":".join(f"{b:02x}" for b in mac)
        words = "4x|" + text.encode().hex()
        records += [
            ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, i), f"2|{i}"),
            ((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, i), words),  # ifDescr
            ((1, 3, 6, 1, 2, 1, 2, 2, 1, 7, i), "2:writecache|value=1"),  # ifAdminStatus, writable
            ((1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2, i), f"2|{i}"),  # bridge port -> ifIndex
            ((1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 2, *mac), f"2|{i}"),  # dot1dTpFdbPort
            ((1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 3, *mac), "2|3"),  # learned
            ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1, i), words),  # ifName
            ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18, i), words),  # ifAlias
        ]
    return "".join(f"{'.'.join(map(str, oid))}|{value}\n" for oid, value in sorted(records)), macs


@dataclasses.dataclass
class BlockWorld:
    config: Path
    dashboard: Dashboard
    alerts: dict[str, Alert]  # case -> its device-blocked alert as stored
    blocks: dict[str, Any]  # case -> its BlockRecord
    month: str


@pytest.fixture(scope="module")
def hostile_blocks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlockWorld]:
    """The sensor's blocking (runtime/blocking.build_block_manager: the block book, an alert writer, the audit
    log) shuts each port of the hostile switch after an unregistered-terminal alert; the dashboard shows them."""
    from mamori.config import SnmpPortAction, load_settings
    from mamori.runtime.blocking import build_block_manager
    from mamori.storage import AlertWriter, Store
    from mamori.testing import FakeClock
    from tests.integration.snmp_agent import admin_status, simulated_switch

    folder = tmp_path_factory.mktemp("hostile-blocks")
    walk, macs = _hostile_switch_walk()
    with simulated_switch(folder, records=walk) as agent:
        config = folder / "site.yaml"
        config.write_text(
            "storage: {path: mamori.db}\nweb: {secret_key_file: web-secret.key}\n"
            + agent.switch_yaml("2c")
            + "actions:\n  - {name: shut-port, type: snmp-port}\n",
            encoding="utf-8",
        )
        settings = load_settings(config)
        store = Store(settings.database_path)
        writer = AlertWriter(store, interval=0.1)
        manager = build_block_manager(
            settings, settings.site, [], store=store, writer=writer, dispatcher=lambda: None,
            record=writer.submit_deliveries, clock=FakeClock(time.time() - 60),
        )  # fmt: skip
        assert manager is not None
        action = settings.actions[0]
        assert isinstance(action, SnmpPortAction)
        blocks = {}
        for i, (case, mac) in enumerate(macs.items(), start=1):
            alert = Alert(uid=f"stranger-{i}", rule="unregistered-terminal", key=mac, severity=Severity.HIGH,
                          first_seen=1.0, last_seen=1.0, count=1, src_mac=mac, src_ip=f"10.9.0.{i}")  # fmt: skip
            blocks[case] = manager.block_port(alert, action)
            assert blocks[case].state == "active", (case, blocks[case])
            assert admin_status(agent, i) == 2
        writer.close()
        by_mac = {a.src_mac: a for a in store.alerts() if a.rule == "device-blocked"}
        alerts = {case: by_mac[mac] for case, mac in macs.items()}
        store.close()
    add_user(config, *ADMIN[:1], "admin", ADMIN[1])
    dashboard = start_dashboard(config)
    try:
        month = dt.datetime.fromtimestamp(time.time() - 60).strftime("%Y-%m")
        yield BlockWorld(config, dashboard, alerts, blocks, month)
    finally:
        dashboard.stop()


def _switch_text(case: str) -> str:
    """The string as mamori keeps a switch's words: NUL dropped, cut to 255 characters (snmp._text)."""
    return HOSTILE[case].replace("\0", "")[:255]


@pytest.mark.slow
@pytest.mark.parametrize("output", EXPOSURE_ALERT_OUTPUTS)
def test_hostile_port_names_in_the_device_blocked_alert_through_every_alert_output(
    output: str, request: pytest.FixtureRequest, hostile_blocks: BlockWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device-blocked alerts the sensor raised (their summary names the port as the switch gave it) through
    the readers of the table above. The readers find a case by the alert's uid and expect a department system
    (as the alerts above have): both are set on a copy; the port's words stay the switch's."""
    import sys

    alerts = [
        dataclasses.replace(a, uid=f"case-{case}-b0", system="電子カルテ") for case, a in hostile_blocks.alerts.items()
    ]
    monkeypatch.setattr(sys.modules[__name__], "_alerts", lambda: list(alerts))
    shown = READERS[output](request)
    assert len(shown) == len(HOSTILE), sorted(shown)
    for alert in alerts:
        case = case_of(alert.uid)
        assert alert.details.get("port_descr") == _switch_text(case)
        assert fragment(_switch_text(case)) in squash(summary(alert, "ja")), case  # the place, in the summary
        assert fragment(_switch_text(case)) in squash(shown[alert.uid]), (output, case)


@pytest.mark.slow
def test_hostile_port_names_in_the_alert_exports_and_the_cli_json(hostile_blocks: BlockWorld) -> None:
    w = hostile_blocks
    admin = Client(w.dashboard)
    assert admin.login(*ADMIN)[0] == 302
    uids = {a.uid: case for case, a in w.alerts.items()}
    for fmt in ("csv", "xlsx"):
        status, _headers, body = admin.get(f"/alerts/export/?format={fmt}")
        assert status == 200, body[:300]
        if fmt == "csv":
            rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
        else:
            from openpyxl import load_workbook

            sheet = load_workbook(io.BytesIO(body)).worksheets[0]
            assert all(c.data_type in ("s", "n") for row in sheet.iter_rows() for c in row if c.value is not None)
            rows = [["" if c.value is None else str(c.value) for c in row] for row in sheet.iter_rows()]
        header, *data = rows
        seen = {}
        for row in data:
            assert not any(cell.startswith(FORMULA_START) for cell in row), (fmt, row[:3])
            values = dict(zip(header, row, strict=True))
            if values["uid"] in uids:
                seen[uids[values["uid"]]] = "".join(row)
        assert set(seen) == set(HOSTILE), fmt
        for case, text in seen.items():
            assert fragment(_switch_text(case)) in squash(text), (fmt, case)
    out = run_mamori("alerts", "--config", str(w.config), "--json").stdout
    docs = [json.loads(line) for line in out.split("\n") if line.strip()]  # JSON lines end at \n only
    blocked = {d["uid"]: d for d in docs if d["rule"] == "device-blocked"}
    assert set(blocked) == set(uids)
    for uid, case in uids.items():
        assert blocked[uid]["port_descr"] == _switch_text(case)  # verbatim, as JSON data
        assert fragment(_switch_text(case)) in squash(blocked[uid]["summary_en"])


@pytest.mark.slow
def test_hostile_port_names_on_the_blocks_audit_and_alert_pages_in_a_browser(hostile_blocks: BlockWorld) -> None:
    w = hostile_blocks
    with admin_page(w.dashboard.base) as (page, dialogs):
        for path in ("/blocks/", "/admin/audit/"):
            page.goto(path)
            assert page.evaluate(INJECTED) == 0 and page.evaluate("window.__pwned") is None, path
            for case, block in w.blocks.items():
                where = f"[data-block='{block.id}']" if path == "/blocks/" else "[data-action='block.blocked']"
                rows = squash(" ".join(page.locator(f"tr{where}").all_inner_texts()))
                assert squash(rows).count(fragment(_switch_text(case))) >= (2 if path == "/blocks/" else 1), (
                    path, case)  # fmt: skip
        for case, alert in w.alerts.items():
            page.goto(f"/alerts/{alert.uid}/")
            assert page.evaluate(INJECTED) == 0 and page.evaluate("window.__pwned") is None, case
            assert fragment(_switch_text(case)) in squash(page.evaluate("document.body.innerText")), case
        assert dialogs == []


@pytest.mark.slow
def test_hostile_port_names_in_the_monthly_pdf_blocks_section(hostile_blocks: BlockWorld) -> None:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is not installed")
    w = hostile_blocks
    admin = Client(w.dashboard)
    assert admin.login(*ADMIN)[0] == 302
    status, _headers, body = admin.get(f"/reports/monthly.pdf?month={w.month}")
    assert status == 200 and body.startswith(b"%PDF-"), body[:300]
    text = subprocess.run(["pdftotext", "-", "-"], input=body, capture_output=True, check=True).stdout.decode()
    section = squash(text.split("6. 遮断と解除", 1)[1])
    for case in HOSTILE:
        # A table cell wraps its text: the first characters are on one line (as the zone map's names are read).
        assert squash(_switch_text(case))[:12] in section, case
