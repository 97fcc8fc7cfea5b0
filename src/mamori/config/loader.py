"""Load and validate the settings file (one YAML file: daemon settings and the site model).

Every problem is reported with the file, line, column and field it concerns, all at once, so that an operator can
fix the file in one pass. Nothing here reads the environment or argv; the CLI passes in what it found there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from mamori.config.actions import ActionSettings
from mamori.config.sections import CaptureSettings, DetectionSettings, StorageSettings
from mamori.config.syslog import SyslogSettings, resolve_paths
from mamori.config.values import Ip, Mac, Port, Strict
from mamori.config.web import WebSettings
from mamori.config.windows import WindowsSettings
from mamori.errors import ConfigError, ConfigProblem
from mamori.model import RULE_IDS, DepartmentSystem, Gateway, Server, Severity, Site, Terminal

__all__ = ["Settings", "load_settings", "settings_from_text"]

# -- site model schema ------------------------------------------------------------------------------------------------


class _TerminalIn(Strict):
    name: str = ""
    mac: Mac
    ip: Ip | None = None
    note: str = ""


class _ServerIn(Strict):
    ip: Ip
    mac: Mac | None = None
    name: str = ""


def _server_shorthand(value: Any) -> Any:
    return {"ip": value} if isinstance(value, str | int) and not isinstance(value, bool) else value


class _SystemIn(Strict):
    name: str = Field(min_length=1)
    servers: tuple[Annotated[_ServerIn, BeforeValidator(_server_shorthand)], ...] = Field(min_length=1)
    ports: tuple[Port, ...] = Field(min_length=1)
    udp_ports: tuple[Port, ...] = ()
    terminals: tuple[_TerminalIn, ...] = ()
    severity: Literal["info", "low", "medium", "high", "critical"] = "high"

    @model_validator(mode="after")
    def _no_duplicates(self) -> _SystemIn:
        seen: set[str] = set()
        for index, terminal in enumerate(self.terminals):
            if terminal.mac in seen:
                raise ValueError(f"terminals[{index}]: MAC {terminal.mac} is registered twice in system {self.name!r}")
            seen.add(terminal.mac)
        return self


class _GatewayIn(Strict):
    name: str = ""
    mac: Mac
    ip: Ip | None = None


class _SiteIn(Strict):
    name: str = ""


class _SettingsIn(Strict):
    site: _SiteIn = _SiteIn()
    storage: StorageSettings = StorageSettings()
    capture: CaptureSettings = CaptureSettings()
    detection: DetectionSettings = DetectionSettings()
    gateways: tuple[_GatewayIn, ...] = ()
    systems: tuple[_SystemIn, ...] = ()
    actions: tuple[ActionSettings, ...] = ()
    windows: WindowsSettings = WindowsSettings()
    syslog: SyslogSettings | None = None
    web: WebSettings = WebSettings()


@dataclass(frozen=True)
class Settings:
    """Everything loaded from one settings file, as frozen values passed down from the CLI."""

    source: str
    site: Site
    storage: StorageSettings
    capture: CaptureSettings
    detection: DetectionSettings
    data_dir: Path
    actions: tuple[ActionSettings, ...] = ()
    windows: WindowsSettings = dataclasses.field(default_factory=WindowsSettings)
    syslog: SyslogSettings | None = None
    web: WebSettings = dataclasses.field(default_factory=WebSettings)

    @property
    def database_path(self) -> Path:
        return self.storage.path if self.storage.path is not None else self.data_dir / "mamori.db"


# -- YAML with line marks -------------------------------------------------------------------------------------------

_Path = tuple[str | int, ...]


class _Located:
    """YAML turned into plain Python values, remembering where each value came from."""

    def __init__(self) -> None:
        self.marks: dict[_Path, tuple[int, int]] = {}
        self.problems: list[tuple[_Path, tuple[int, int], str]] = []

    def build(self, node: yaml.Node, path: _Path) -> Any:
        self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    self.problems.append((path, _mark(key_node), "keys must be plain names"))
                    continue
                if key in result:
                    self.problems.append(((*path, key), _mark(key_node), f"{key!r} is given twice"))
                    continue
                result[key] = self.build(value_node, (*path, key))
                self.marks.setdefault((*path, key), _mark(key_node))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int" and ":" in node.value:
            # YAML 1.1 reads 02:42:00:00:00:02 as a base-60 number; an unquoted MAC address is meant here.
            return node.value
        try:
            return _SCALAR_LOADER.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            # An unknown tag (!foo), an impossible date (2026-02-30), "!!float x", "0x_": say so, at its place.
            problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else str(exc)
            self.problems.append((path, _mark(node), f"{node.value!r} cannot be read as a value: {problem}"))
            return None

    def locate(self, path: _Path) -> tuple[int, int] | None:
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return None
            path = path[:-1]

    def problem(self, source: str, path: _Path, message: str) -> ConfigProblem:
        """A problem with the setting at ``path``, placed at its line and column (or its nearest parent's)."""
        where = self.locate(path)
        return ConfigProblem(source, where[0] if where else None, where[1] if where else None, _dotted(path), message)


_SCALAR_LOADER = yaml.SafeLoader("")


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _dotted(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _file_path(raw: Any, loc: tuple[Any, ...]) -> _Path:
    """Pydantic's error location as a path in the file: validator and union-tag steps removed."""
    path: list[str | int] = []
    node = raw
    for part in loc:
        if isinstance(part, str) and part.startswith("function-"):
            continue
        if isinstance(node, dict) and isinstance(part, str) and part not in node and node.get("type") == part:
            continue  # the tag of a tagged union (an action's type), not a key in the file
        path.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(path)


def _pydantic_problems(exc: ValidationError, raw: Any, located: _Located, source: str) -> Iterator[ConfigProblem]:
    errors = exc.errors(include_url=False)
    locs = [tuple(error["loc"]) for error in errors]
    for error in errors:
        loc = _file_path(raw, tuple(error["loc"]))
        if error["type"] == "too_short" and any(
            other != tuple(error["loc"]) and other[: len(error["loc"])] == tuple(error["loc"]) for other in locs
        ):
            continue  # a list emptied by its own invalid items: the items' errors say it better
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = f"unknown setting {loc[-1]!r}" if loc else "unknown setting"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        yield located.problem(source, loc, message)


def _cross_checks(data: _SettingsIn, located: _Located, source: str) -> Iterator[ConfigProblem]:
    owners: dict[tuple[str, str, int], str] = {}
    names: set[str] = set()
    for s_index, system in enumerate(data.systems):
        path: _Path = ("systems", s_index)
        if system.name in names:
            yield located.problem(source, (*path, "name"), f"system name {system.name!r} is used twice")
        names.add(system.name)
        for server in system.servers:
            for proto, ports in (("tcp", system.ports), ("udp", system.udp_ports)):
                for port in ports:
                    key = (server.ip, proto, port)
                    if key in owners and owners[key] != system.name:
                        yield located.problem(
                            source,
                            (*path, "ports"),
                            f"{server.ip} {proto}/{port} already belongs to system {owners[key]!r}",
                        )
                    owners[key] = system.name


def _action_checks(data: _SettingsIn, located: _Located, source: str) -> Iterator[ConfigProblem]:
    names: set[str] = set()
    for index, action in enumerate(data.actions):
        path: _Path = ("actions", index)
        if action.name in names:
            yield located.problem(source, (*path, "name"), f"action name {action.name!r} is used twice")
        names.add(action.name)
        for r_index, rule in enumerate(action.rules or ()):
            if rule not in RULE_IDS:
                yield located.problem(
                    source, (*path, "rules", r_index), f"unknown rule {rule!r}; known: {', '.join(RULE_IDS)}"
                )


def _to_site(data: _SettingsIn) -> Site:
    systems = tuple(
        DepartmentSystem(
            name=s.name,
            servers=tuple(Server(ip=v.ip, mac=v.mac, name=v.name) for v in s.servers),
            ports=tuple(dict.fromkeys(s.ports)),
            udp_ports=tuple(dict.fromkeys(s.udp_ports)),
            terminals=tuple(Terminal(name=t.name or t.mac, mac=t.mac, ip=t.ip, note=t.note) for t in s.terminals),
            severity=Severity.parse(s.severity),
        )
        for s in data.systems
    )
    gateways = tuple(Gateway(name=g.name or g.mac, mac=g.mac, ip=g.ip) for g in data.gateways)
    return Site(systems=systems, gateways=gateways, name=data.site.name)


def settings_from_text(text: str, *, source: str = "<settings>", data_dir: Path | None = None) -> Settings:
    """Parse settings from YAML text. Raises :class:`ConfigError` listing every problem with its location."""
    data_dir = data_dir or Path(".")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise ConfigError([ConfigProblem(source, line, column, "", f"not valid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(source, None, None, "", f"not valid YAML: {exc}")]) from None
    located = _Located()
    raw: Any = {} if node is None else located.build(node, ())
    problems = [ConfigProblem(source, m[0], m[1], _dotted(p), msg) for p, m, msg in located.problems]
    if not isinstance(raw, dict):
        line = node.start_mark.line + 1 if node is not None else None
        problems.append(ConfigProblem(source, line, 1, "", "the settings file must be a mapping of names to values"))
        raise ConfigError(problems)
    try:
        parsed = _SettingsIn.model_validate(raw)
    except ValidationError as exc:
        unreadable = {p.field for p in problems}  # already said why: no second message for the same setting
        problems.extend(p for p in _pydantic_problems(exc, raw, located, source) if p.field not in unreadable)
        raise ConfigError(problems) from None
    problems.extend(_cross_checks(parsed, located, source))
    problems.extend(_action_checks(parsed, located, source))
    if problems:
        raise ConfigError(problems)
    return Settings(
        source=source,
        site=_to_site(parsed),
        storage=parsed.storage,
        capture=parsed.capture,
        detection=parsed.detection,
        data_dir=data_dir,
        actions=parsed.actions,
        windows=parsed.windows,
        syslog=parsed.syslog,
        web=parsed.web,
    )


def load_settings(path: str | Path, *, data_dir: Path | None = None) -> Settings:
    """Load a settings file. A relative ``storage.path`` is taken relative to the file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), None, None, "", "no such file")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(str(path), None, None, "", f"not UTF-8 text (byte {exc.start}); save it as UTF-8")]
        ) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, None, "", f"cannot read: {exc.strerror}")]) from None
    settings = settings_from_text(text, source=str(path), data_dir=data_dir)
    if settings.storage.path is not None and not settings.storage.path.is_absolute():
        storage = settings.storage.model_copy(update={"path": (path.parent / settings.storage.path).resolve()})
        settings = dataclasses.replace(settings, storage=storage)
    if settings.syslog is not None:
        settings = dataclasses.replace(settings, syslog=resolve_paths(settings.syslog, path.parent.resolve()))
    web = settings.web
    if web.tls is not None or web.secret_key_file is not None:
        base = path.parent.resolve()
        tls = web.tls and web.tls.model_copy(update={"cert": base / web.tls.cert, "key": base / web.tls.key})
        secret = web.secret_key_file and base / web.secret_key_file
        settings = dataclasses.replace(settings, web=web.model_copy(update={"tls": tls, "secret_key_file": secret}))
    return settings
