"""``script``: run a program with the alert as environment variables and as JSON on standard input.

The command is an argv list, run without a shell; values that come from packets or logs reach the program only as
data (environment values and JSON), never as part of a command line. The program's exit code and output are
recorded with the delivery. Example use: a script that asks the switch to shut the port of ``MAMORI_SRC_MAC``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import Any

from mamori.alerting.base import Notification, Outcome
from mamori.config import ScriptAction as ScriptSettings
from mamori.model import iso_time
from mamori.rules import render
from mamori.rules.render import alert_to_dict

__all__ = ["ScriptAction", "alert_environment"]

_OUTPUT_LIMIT = 2000


def alert_environment(note: Notification) -> dict[str, str]:
    """MAMORI_* variables describing the alert (empty string for an absent value)."""
    a = note.alert
    values: dict[str, Any] = {
        "MAMORI_EVENT": note.event,
        "MAMORI_UID": a.uid,
        "MAMORI_RULE": a.rule,
        "MAMORI_SEVERITY": a.severity.label,
        "MAMORI_COUNT": a.count,
        "MAMORI_FIRST_SEEN": iso_time(a.first_seen),
        "MAMORI_LAST_SEEN": iso_time(a.last_seen),
        "MAMORI_SRC_MAC": a.src_mac,
        "MAMORI_SRC_IP": a.src_ip,
        "MAMORI_DST_IP": a.dst_ip,
        "MAMORI_DST_PORT": a.dst_port,
        "MAMORI_SYSTEM": a.system,
        "MAMORI_SUMMARY_JA": render.summary(a, "ja"),
        "MAMORI_SUMMARY_EN": render.summary(a, "en"),
    }
    # NUL cannot be carried in an environment value; nothing else is changed.
    return {k: "" if v is None else str(v).replace("\0", "") for k, v in values.items()}


def _clip(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").strip()
    return text if len(text) <= _OUTPUT_LIMIT else text[:_OUTPUT_LIMIT] + "…"


class ScriptAction:
    type = "script"

    def __init__(self, settings: ScriptSettings) -> None:
        self.name = settings.name
        self.settings = settings

    def deliver(self, note: Notification) -> Outcome:
        payload = {"event": note.event, **alert_to_dict(note.alert)}
        stdin = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        env = {**os.environ, **alert_environment(note)}
        try:
            proc = subprocess.Popen(
                list(self.settings.command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=self.settings.cwd,
                shell=False,
                start_new_session=True,  # its own process group, so a timeout ends its children too
            )
        except OSError as exc:
            return Outcome(False, f"cannot run {self.settings.command[0]}: {exc.strerror or exc}")
        try:
            out, err = proc.communicate(stdin, timeout=self.settings.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return Outcome(
                False, f"timed out after {self.settings.timeout:g} s; stdout: {_clip(out)}; stderr: {_clip(err)}"
            )
        detail = f"exit {proc.returncode}"
        if out.strip():
            detail += f"; stdout: {_clip(out)}"
        if err.strip():
            detail += f"; stderr: {_clip(err)}"
        return Outcome(proc.returncode == 0, detail)

    def tick(self, now: float) -> None:
        return None

    def close(self) -> None:
        return None
