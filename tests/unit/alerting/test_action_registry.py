"""The action registry: built-in types listed explicitly, plugins through the mamori.actions entry points, and the
settings loader told by it which types (and options) an ``actions:`` entry may have."""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Literal

import pytest

from mamori.alerting import ActionType, UnknownActionTypeError, build_action, option_types
from mamori.alerting.registry import BUILTIN, available_action_types
from mamori.config import BUILTIN_ACTION_OPTIONS, ActionSettings, ScriptAction, settings_from_text
from mamori.errors import ConfigError
from mamori.testing.actions import RecordingAction, RecordingActions, RecordingOptions

SITE = """\
systems:
  - {name: 透析システム, servers: [10.1.0.2], ports: [6000]}
actions:
  - name: pager
    type: recording
    fail_first: 2
"""


def test_the_built_in_types_are_the_ones_the_settings_accept_by_default() -> None:
    assert list(BUILTIN) == ["script", "zabbix", "syslog", "email", "webhook", "snmp-port", "arp-isolate"]
    assert dict(option_types(BUILTIN)) == dict(BUILTIN_ACTION_OPTIONS)


def test_an_unknown_type_in_the_settings_names_its_place_and_the_known_types() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_text(SITE, source="site.yaml")
    [problem] = caught.value.problems
    assert (problem.line, problem.column, problem.field) == (5, 11, "actions[0].type")
    assert "unknown type 'recording'" in str(problem) and "'script', 'zabbix', 'syslog', 'email', 'webhook'" in str(
        problem
    )
    assert "type 'recording' はありません" in str(problem)


def test_a_registered_type_is_validated_with_its_own_options_and_built() -> None:
    recording = RecordingActions()
    types = {**BUILTIN, "recording": recording.type}
    settings = settings_from_text(SITE, action_types=option_types(types))
    [options] = settings.actions
    assert isinstance(options, RecordingOptions) and options.fail_first == 2 and options.throttle == 300.0
    action = build_action(options, types)
    assert isinstance(action, RecordingAction) and recording.built == {"pager": action}
    with pytest.raises(ConfigError) as caught:
        settings_from_text(SITE.replace("fail_first: 2", "fail_first: -1"), action_types=option_types(types))
    [problem] = caught.value.problems
    assert (problem.line, problem.field) == (6, "actions[0].fail_first") and "at least 0" in str(problem)


def test_building_an_unknown_type_lists_the_known_ones() -> None:
    options = RecordingOptions(name="pager", type="recording")
    known = r"known: arp-isolate, email, script, snmp-port, syslog"
    with pytest.raises(UnknownActionTypeError, match=rf"unknown type 'recording'; {known}"):
        build_action(options, BUILTIN)


def test_a_declaration_must_name_its_type_in_its_options() -> None:
    with pytest.raises(TypeError, match=r"must declare type: Literal\['pager'\]"):
        ActionType("pager", RecordingOptions, RecordingAction)

    class NotSettings:
        pass

    with pytest.raises(TypeError, match=r"must subclass mamori\.config\.ActionSettings"):
        ActionType("pager", NotSettings, RecordingAction)  # type: ignore[arg-type]


class PagerOptions(ActionSettings):
    type: Literal["pager"]
    number: str


PAGER = ActionType("pager", PagerOptions, lambda options: RecordingAction(options.name))
NOT_A_TYPE = "just text"


def _entry_points(*pairs: tuple[str, str]) -> list[metadata.EntryPoint]:
    return [metadata.EntryPoint(name, value, "mamori.actions") for name, value in pairs]


def test_plugins_come_from_entry_points_and_never_replace_a_built_in(caplog: pytest.LogCaptureFixture) -> None:
    here = __name__
    found = available_action_types(
        lambda: _entry_points(
            ("pager", f"{here}:PAGER"),
            ("script", f"{here}:PAGER"),  # a built-in name: ignored
            ("broken", "no_such_module_for_mamori:X"),  # cannot be imported
            ("text", f"{here}:NOT_A_TYPE"),  # not an ActionType
        )
    )
    assert list(found) == [*BUILTIN, "pager"]
    assert found["pager"] is PAGER and found["script"] is BUILTIN["script"]
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("script" in m and "ignored" in m for m in messages)
    assert any("broken" in m and "could not be loaded" in m for m in messages)
    assert any("text" in m and "is not an ActionType" in m for m in messages)
    assert isinstance(build_action(ScriptAction(name="s", type="script", command=("/bin/true",)), found).name, str)
