"""The dashboard's views take what they need from the parts the composition root gives the app config
(mamori.web.apps), not from mamori's settings kept inside Django's.

Django is configured once per process, so each case runs in a fresh interpreter: the composition root's own
functions configure it for the dashboard, then the pages are asked for through Django's test client.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

FILE_SITE = """
site: {name: 設定ファイル病院}
storage: {path: mamori.db}
web: {secret_key_file: web-secret.key}
systems:
  - name: ファイルのシステム
    servers: [{ip: 192.168.10.11}]
    ports: [6000]
"""

GIVEN_SITE = """
site: {name: 部品の病院}
systems:
  - name: 部品の透析システム
    servers: [{ip: 192.168.20.11}]
    ports: [6000]
  - name: 部品の検査システム
    servers: [{ip: 192.168.20.12}]
    ports: [443]
"""

SCRIPT = """
import dataclasses, json, sys
from pathlib import Path

from mamori.cli.compose import compose_dashboard
from mamori.config import load_settings, settings_from_text

folder = Path(sys.argv[1])
settings = load_settings(folder / "site.yaml", data_dir=folder)
parts = compose_dashboard(settings, "127.0.0.1:8080")

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from mamori.web.apps import dashboard, provide

composed = dashboard() is parts
given = settings_from_text(sys.argv[2], source="given.yaml", data_dir=folder)
provide(dataclasses.replace(parts, site=given.site))  # parts that say something no file says

user = get_user_model().objects.create_user(username="viewer", password="not-used-here-0")
user.groups.add(Group.objects.get_or_create(name="viewer")[0])
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(user)
response = client.get("/alerts/")
page = response.content.decode()
print(json.dumps({
    "status": response.status_code,
    "composed": composed,
    "mamori_in_django_settings": hasattr(django_settings, "MAMORI"),
    "listen": dashboard().listen,
    "page": page,
}))
"""


def _run(tmp_path: Path) -> dict[str, object]:
    (tmp_path / "site.yaml").write_text(FILE_SITE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), textwrap.dedent(GIVEN_SITE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_views_show_the_site_the_app_config_holds(tmp_path: Path) -> None:
    found = _run(tmp_path)
    assert found["composed"] is True  # compose_dashboard gave the app config its parts
    assert found["listen"] == "127.0.0.1:8080"
    assert found["mamori_in_django_settings"] is False  # nothing to read mamori's settings back from
    assert found["status"] == 200
    page = str(found["page"])
    assert "部品の病院" in page  # the site name in the header (the context processor)
    assert "部品の透析システム" in page and "部品の検査システム" in page  # the alert filter's systems (the view)
    assert "設定ファイル病院" not in page and "ファイルのシステム" not in page
