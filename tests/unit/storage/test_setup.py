"""Django is configured once per process, by its composition root, and a store assumes it is.

Each case runs in a fresh interpreter (this test process configured Django already, for its own stores).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STORE_FIRST = """
import sys
from pathlib import Path
from mamori.storage import Store

try:
    Store(Path(sys.argv[1]) / "mamori.db")
except RuntimeError as exc:
    print(exc)
"""

TWICE = """
import json, sys
from pathlib import Path
from mamori.model import Alert, Severity
from mamori.storage import AlertFilter, Store
from mamori.storage.setup import configure_django

folder = Path(sys.argv[1])
configure_django(folder / "mamori.db")
store = Store(folder / "mamori.db")
store.upsert_alerts([Alert("u1", "port-scan", "k", Severity.HIGH, 1.0, 2.0, 3, src_ip="10.0.0.9")])
other = Store(folder / "other.db")  # another database in the same run: its own connection
try:
    configure_django(folder / "other.db", {"INSTALLED_APPS": ["mamori.storage", "mamori.web"]})
    second = "accepted"
except RuntimeError as exc:
    second = str(exc)
from django.conf import settings
print(json.dumps({
    "second": second,
    "alias": store.alias,
    "other_alias": other.alias,
    "uids": [a.uid for a in store.alerts(AlertFilter())],
    "apps": list(settings.INSTALLED_APPS),
    "web_imported": "mamori.web" in sys.modules,
}))
"""


def _python(script: str, folder: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_store_needs_django_configured_first(tmp_path: Path) -> None:
    message = _python(STORE_FIRST, tmp_path)
    assert message.startswith("Django is not configured")
    assert "configure_django" in message
    assert not (tmp_path / "mamori.db").exists()  # nothing made before the mistake is reported


def test_django_is_configured_once_and_a_second_configuration_is_refused(tmp_path: Path) -> None:
    found = json.loads(_python(TWICE, tmp_path).splitlines()[-1])
    assert found["second"].startswith("Django is already configured in this process")
    assert found["apps"] == ["mamori.storage"]  # the first configuration stands: the store's alone
    assert found["web_imported"] is False  # the store alone never loads the dashboard
    assert found["alias"] == "default"  # the run's database is Django's default connection
    assert found["other_alias"].startswith("db_")
    assert found["uids"] == ["u1"]


def test_processes_opening_a_new_database_together_all_succeed(tmp_path: Path) -> None:
    """The sensor and `mamori publish` started at once on a database not made yet: one migrates, the others wait
    and find it done (before the lock, one failed with "table ... already exists")."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from mamori.cli.compose import open_store; open_store(Path(sys.argv[1]))"
    )
    for round_ in range(3):
        db = tmp_path / f"new-{round_}.db"
        procs = [
            subprocess.Popen([sys.executable, "-c", code, str(db)], stderr=subprocess.PIPE, text=True) for _ in range(4)
        ]
        results = [(p.wait(120), p.stderr.read() if p.stderr else "") for p in procs]
        assert [rc for rc, _ in results] == [0, 0, 0, 0], results
