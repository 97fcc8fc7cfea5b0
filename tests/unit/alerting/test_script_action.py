"""The script action with real programs: hostile values arrive verbatim as data (environment and JSON on standard
input) and are never run; exit code and output are recorded; a timeout ends the program and its children; a missing
program is a clear failed attempt. Failures go through the real Dispatcher."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from mamori.alerting import Notification, build_action
from mamori.config import ScriptAction
from mamori.model import Alert, Severity
from mamori.rules.render import alert_to_dict, summary
from tests.unit.alerting.helpers import dispatch, wait_for


def make_alert(uid: str = "a-1", **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "uid": uid,
        "rule": "unregistered-terminal",
        "key": "k",
        "severity": Severity.HIGH,
        "first_seen": 1795400100.25,
        "last_seen": 1795400162.123456,
        "count": 7,
        "src_mac": "02:00:00:00:0a:01",
        "src_ip": "192.168.10.50",
        "dst_ip": "192.168.10.11",
        "dst_port": 6000,
        "system": "透析システム",
    }
    fields.update(changes)
    return Alert(**fields)


def hostile_alert(canary: Path) -> Alert:
    """Values an attacker controls (names from packets or logs) that try shell tricks and line breaks."""
    inject = f"$(touch {canary}) `touch {canary}`; touch {canary} #"
    return make_alert(
        "hostile-1",
        system=f'透析"] \\ ; rm -rf / # {inject}\n<13>1 forged',
        src_mac="02:00:00:00:0a:01\n",
        details={"note": f"<script>{inject}</script>"},
    )


def script_settings(command: list[str], **more: Any) -> ScriptAction:
    return ScriptAction.model_validate({"name": "block", "type": "script", "command": command, **more})


def test_script_hostile_values_arrive_verbatim_as_data(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "record.sh"
    script.write_text(
        "#!/bin/sh\n"
        'printf "%s" "$MAMORI_SYSTEM" > "$1/system"\n'
        'printf "%s" "$MAMORI_SUMMARY_EN" > "$1/summary_en"\n'
        'printf "%s" "$MAMORI_SRC_MAC" > "$1/src_mac"\n'
        'cat > "$1/stdin.json"\n'
        'echo "recorded $MAMORI_UID"\n'
    )
    alert = hostile_alert(canary)
    action = build_action(script_settings(["/bin/sh", str(script), str(out)]))
    outcome = action.deliver(Notification(alert, "new"))
    assert outcome.ok and outcome.detail == "exit 0; stdout: recorded hostile-1"
    assert (out / "system").read_bytes().decode() == alert.system
    assert (out / "summary_en").read_bytes().decode() == summary(alert, "en")
    assert (out / "src_mac").read_bytes().decode() == alert.src_mac
    stdin = json.loads((out / "stdin.json").read_text(encoding="utf-8"))
    assert stdin == {"event": "new", **json.loads(json.dumps(alert_to_dict(alert)))}
    assert not canary.exists()


def test_script_exit_code_and_output_are_recorded(tmp_path: Path) -> None:
    script = tmp_path / "fail.sh"
    script.write_text('#!/bin/sh\necho "port $MAMORI_DST_PORT not found"\necho "switch said no" >&2\nexit 3\n')
    deliveries = dispatch(script_settings(["/bin/sh", str(script)], retries=0), make_alert("script-1"))
    [d] = deliveries
    assert (d.ok, d.final, d.action_type) == (False, True, "script")
    assert d.detail == "exit 3; stdout: port 6000 not found; stderr: switch said no"


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent to reap it counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_script_timeout_kills_it_and_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = tmp_path / "hang.sh"
    script.write_text(f'#!/bin/sh\nsleep 60 &\necho $! > "{pidfile}"\necho started\nwait\n')
    started = time.monotonic()
    outcome = build_action(script_settings(["/bin/sh", str(script)], timeout="500ms")).deliver(
        Notification(make_alert(), "new")
    )
    assert time.monotonic() - started < 5
    assert not outcome.ok and outcome.detail.startswith("timed out after 0.5 s; stdout: started")
    child = int(pidfile.read_text())
    try:
        wait_for(lambda: not _alive(child), timeout=5, what="the script's child to end")
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_script_missing_program_is_a_clear_failed_attempt(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-program"
    deliveries = dispatch(script_settings([str(missing)], retries=0), make_alert("script-2"))
    [d] = deliveries
    assert not d.ok and d.final
    assert d.detail == f"cannot run {missing}: No such file or directory"
