"""The dashboard's work-plan form (an administrator enters the plan the morning the vendor calls): each mistake is
answered on the form itself, in the reader's language, next to its field, and nothing is stored; a correct plan is
stored, audited and listed. Django's test client, in a fresh interpreter (Django is configured once per process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SITE = """
site: {name: 保守の病院, time_zone: Asia/Tokyo}
storage: {path: mamori.db}
web: {secret_key_file: web-secret.key}
vendors:
  - name: 透析装置メーカー
    sources: [10.9.0.0/24]
    devices: [10.1.0.20]
"""

SCRIPT = r"""
import json, sys
from pathlib import Path

from mamori.cli.compose import compose_dashboard
from mamori.config import load_settings

folder = Path(sys.argv[1])
settings = load_settings(folder / "site.yaml", data_dir=folder)
parts = compose_dashboard(settings, "127.0.0.1:8080")

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from mamori.storage import WorkPlanTable
from mamori.web.models import AuditEntry, UserPreference

user = get_user_model().objects.create_user(username="kanri", password="not-used-here-0")
user.groups.add(Group.objects.get_or_create(name="admin")[0])
viewer = get_user_model().objects.create_user(username="miru", password="not-used-here-0")
viewer.groups.add(Group.objects.get_or_create(name="viewer")[0])
GOOD = {"vendor": "透析装置メーカー", "start": "2026-11-10T09:00", "end": "2026-11-10T12:00", "targets": "10.1.0.20",
        "ports": "3389", "accounts": "", "ticket": "作業計画 2026-118", "note": ""}
cases = json.loads(sys.argv[2])
out = {}
for lang in ("ja", "en"):
    UserPreference.objects.update_or_create(user=user, defaults={"language": lang})
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    for name, changes in cases.items():
        response = client.post("/maintenance/plans/add/", {**GOOD, **changes})
        out[f"{lang}:{name}"] = [response.status_code, response.content.decode()]
out["stored_after_errors"] = len(WorkPlanTable(parts.store).all())
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(viewer)
out["viewer"] = client.post("/maintenance/plans/add/", GOOD).status_code
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(user)
good = client.post("/maintenance/plans/add/", GOOD)
out["good"] = [good.status_code, good.headers.get("Location")]
out["stored"] = [
    (p.vendor, p.plan.ticket, p.plan.end - p.plan.start, p.plan.ports) for p in WorkPlanTable(parts.store).all()
]
out["audit"] = list(AuditEntry.objects.filter(action="work-plan.add").values_list("target", flat=True))
out["listed"] = client.get("/maintenance/plans/").content.decode()
out["vendors_csv"] = client.get("/maintenance/vendors/export/").content.decode("utf-8-sig")
out["vendors_sjis"] = client.get("/maintenance/vendors/export/?encoding=shift_jis").content.decode("cp932")
print(json.dumps(out))
"""

CASES = {
    "bad-date": {"start": "2026-13-40T09:00"},
    "words": {"start": "明日の朝", "end": ""},
    "end-before-start": {"start": "2026-11-10T12:00", "end": "2026-11-10T09:00"},
    "same-time": {"end": "2026-11-10T09:00"},
    "unknown-vendor": {"vendor": "<b>知らない業者</b>"},
    "bad-ports": {"ports": "3389 rdp 70000"},
}


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp_path = tmp_path_factory.mktemp("work-plan-form")
    (tmp_path / "site.yaml").write_text(SITE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), json.dumps(CASES)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def _errors(page: str) -> list[str]:
    import re

    return re.findall(r'<p class="error">(.*?)</p>', page)


def test_each_mistake_is_answered_on_the_form_and_nothing_is_stored(found: dict[str, object]) -> None:
    expected = {
        "bad-date": (
            ["2026-11-10 09:00 のように日時を書いてください。"],
            ["Give a date and time such as 2026-11-10 09:00."],
        ),
        "words": (
            ["2026-11-10 09:00 のように日時を書いてください。"] * 2,
            ["Give a date and time such as 2026-11-10 09:00."] * 2,
        ),
        "end-before-start": (["終了は開始より後にしてください。"], ["The end must be after the start."]),
        "same-time": (["終了は開始より後にしてください。"], ["The end must be after the start."]),
        "unknown-vendor": (
            ["業者を一覧から選んでください（業者は設定ファイルに書きます）。"],
            ["Choose a vendor from the list (vendors are named in the settings file)."],
        ),
    }
    for name, (ja, en) in expected.items():
        for lang, words in (("ja", ja), ("en", en)):
            status, page = found[f"{lang}:{name}"]  # type: ignore[misc]
            assert status == 400, (lang, name)
            assert _errors(page) == words, (lang, name, _errors(page))
    status, page = found["en:bad-ports"]  # type: ignore[misc]
    assert status == 400 and _errors(page) == ["Ports are numbers from 1 to 65535, separated by spaces."]
    # What was typed is given back (escaped), so the administrator corrects rather than retypes.
    status, page = found["en:unknown-vendor"]  # type: ignore[misc]
    assert 'value="作業計画 2026-118"' in page and "<b>知らない業者</b>" not in page
    status, page = found["en:words"]  # type: ignore[misc]
    assert 'value="明日の朝"' in page
    assert found["stored_after_errors"] == 0
    assert found["viewer"] == 403  # only an administrator enters plans


def test_a_correct_plan_is_stored_audited_and_listed(found: dict[str, object]) -> None:
    assert found["good"] == [302, "/maintenance/plans/"]
    assert found["stored"] == [["透析装置メーカー", "作業計画 2026-118", 10800.0, [3389]]]
    assert len(found["audit"]) == 1 and str(found["audit"][0]).startswith("透析装置メーカー db:")  # type: ignore[index]
    assert "作業計画 2026-118" in str(found["listed"])


def test_the_vendor_list_is_shown_and_exported(found: dict[str, object]) -> None:
    page = str(found["listed"])
    section = page[page.index('data-test="vendor-list"') :]
    assert (
        "Vendors and the devices they maintain" in section
        and "透析装置メーカー" in section
        and "10.9.0.0/24" in section
    )
    for text in (str(found["vendors_csv"]), str(found["vendors_sjis"])):
        header, row = text.splitlines()[:2]
        assert header == "業者,接続元,アカウント,保守対象機器,作業計画,備考"
        assert row.startswith("透析装置メーカー,10.9.0.0/24,,10.1.0.20,")
