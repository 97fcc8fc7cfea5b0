"""Load and validate the settings file (one YAML file: daemon settings and the site model).

Every problem is reported with the file, line, column and field it concerns, all at once, so that an operator can
fix the file in one pass. Nothing here reads the environment or argv; the CLI passes in what it found there.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BeforeValidator, Field, ValidationError, create_model

from mamori.config.actions import BUILTIN_ACTION_OPTIONS, ActionOptionTypes, ActionSettings
from mamori.config.backups import BackupIn, backup_checks, backups_of, resolve_backup_paths
from mamori.config.blocking import BlockingIn, SwitchIn, blocking_checks, switches_of
from mamori.config.blocking import policy_of as block_policy_of
from mamori.config.central import CentralSettings, PostgresSettings
from mamori.config.lateral import ExemptHostIn, exempt_hosts_of
from mamori.config.messages import bilingual, pydantic_message
from mamori.config.scan import ScanIn, scan_checks, scan_of
from mamori.config.sections import CaptureSettings, DetectionSettings, StorageSettings
from mamori.config.syslog import SyslogSettings, resolve_paths
from mamori.config.values import Ip, Mac, Port, Strict, Zone, normalize_ip, normalize_mac
from mamori.config.vendors import VendorIn, vendor_checks, vendors_of
from mamori.config.web import WebSettings
from mamori.config.windows import WindowsSettings
from mamori.config.zones import (
    DangerousPortItem,
    SegmentIn,
    ZonePolicyIn,
    dangerous_ports,
    policy_of,
    segments_of,
    zone_checks,
    zone_warning,
)
from mamori.errors import ConfigError, ConfigProblem
from mamori.model import DepartmentSystem, Gateway, Server, Severity, Site, Terminal
from mamori.rules import catalogue

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


class _GatewayIn(Strict):
    name: str = ""
    mac: Mac
    ip: Ip | None = None


class _SiteIn(Strict):
    name: str = ""
    time_zone: Zone = Field("Asia/Tokyo", description="the site's wall clock: work plans' times are read in it")


class _SettingsIn(Strict):
    site: _SiteIn = _SiteIn()
    storage: StorageSettings = StorageSettings()
    capture: CaptureSettings = CaptureSettings()
    detection: DetectionSettings = DetectionSettings()
    gateways: tuple[_GatewayIn, ...] = ()
    systems: tuple[_SystemIn, ...] = ()
    segments: tuple[SegmentIn, ...] = ()
    zone_policy: ZonePolicyIn | None = None
    dangerous_ports: tuple[DangerousPortItem, ...] | None = None
    exempt_hosts: tuple[ExemptHostIn, ...] = ()
    scan: ScanIn | None = None
    vendors: tuple[VendorIn, ...] = ()
    backups: tuple[BackupIn, ...] = ()
    switches: tuple[SwitchIn, ...] = ()
    blocking: BlockingIn | None = None
    actions: tuple[ActionSettings, ...] = ()
    windows: WindowsSettings = WindowsSettings()
    syslog: SyslogSettings | None = None
    web: WebSettings = WebSettings()
    central: CentralSettings | None = None


def resolve_central_paths(settings: Settings, base: Path) -> Settings:
    """The central link's certificate files and the PostgreSQL password file, relative to the settings' folder."""
    storage, central = settings.storage, settings.central
    if storage.postgresql is not None and storage.postgresql.password_file is not None:
        pg = storage.postgresql.model_copy(update={"password_file": base / storage.postgresql.password_file})
        storage = storage.model_copy(update={"postgresql": pg})
    if central is not None:
        tls = central.tls.model_copy(update={n: base / getattr(central.tls, n) for n in ("ca", "cert", "key")})
        central = central.model_copy(update={"tls": tls})
    return dataclasses.replace(settings, storage=storage, central=central)


@functools.lru_cache(maxsize=8)
def _schema(options: tuple[type[ActionSettings], ...]) -> type[_SettingsIn]:
    """The settings schema whose ``actions:`` entries are told apart by their ``type``, one options model per
    action type (an unknown type is refused with the list of known ones)."""
    choice: Any = options[0] if len(options) == 1 else Annotated[Union[options], Field(discriminator="type")]  # noqa: UP007 - a union built at run time
    return create_model("_SettingsIn", __base__=_SettingsIn, actions=(tuple[choice, ...], ()))


def _action_options(action_types: ActionOptionTypes) -> tuple[type[ActionSettings], ...]:
    for name, model in action_types.items():
        field = model.model_fields.get("type")
        if not (isinstance(model, type) and issubclass(model, ActionSettings)) or field is None:
            raise TypeError(f"action type {name!r}: its options must subclass mamori.config.ActionSettings")
        if getattr(field.annotation, "__args__", None) != (name,):
            raise TypeError(f"action type {name!r}: its options must declare type: Literal[{name!r}]")
    return tuple(action_types.values())


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
    warnings: tuple[ConfigProblem, ...] = ()  # not errors: an empty file, no system to protect
    central: CentralSettings | None = None  # the NATS link to the central server (docs/design.md §10)

    @property
    def database_path(self) -> Path:
        return self.storage.path if self.storage.path is not None else self.data_dir / "mamori.db"

    @property
    def database(self) -> Path | PostgresSettings:
        """The store: the PostgreSQL database when ``storage.postgresql`` is set, else the SQLite file."""
        return self.storage.postgresql if self.storage.postgresql is not None else self.database_path


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
                    message = bilingual("名前（キー）は単純な文字列にしてください", "keys must be plain names")
                    self.problems.append((path, _mark(key_node), message))
                    continue
                if key in result:
                    message = bilingual(f"{key!r} が 2 回書かれています", f"{key!r} is given twice")
                    self.problems.append(((*path, key), _mark(key_node), message))
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
# libyaml's parser when PyYAML was built with it (about ten times faster on a site file of a few hundred lines); the
# nodes carry the same line and column marks. A file it refuses is parsed again by the pure-Python parser, whose
# messages the error report is written for.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
        if error["type"] == "union_tag_invalid":
            loc = (*loc, "type")  # an unknown action type: at its type, with the known ones
        if error["type"] == "too_short" and any(
            other != tuple(error["loc"]) and other[: len(error["loc"])] == tuple(error["loc"]) for other in locs
        ):
            continue  # a list emptied by its own invalid items: the items' errors say it better
        yield located.problem(source, loc, pydantic_message(error, loc[-1] if loc else None))


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """The mappings of a list in the file, with their index (anything else is the schema's problem)."""
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def _normal(normalize: Callable[[Any], str], value: Any) -> str | None:
    try:
        return normalize(value) if value is not None else None
    except ValueError:
        return None  # the schema reports it


def _ports(value: Any) -> list[int]:
    values = value if isinstance(value, list) else []
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65535]


def _cross_checks(raw: dict[str, Any], located: _Located, source: str) -> Iterator[ConfigProblem]:
    """Names used twice, a MAC registered twice in a system, a server port claimed by two systems. Run on the file's
    values, so that they are reported together with the schema's problems, in one pass."""
    owners: dict[tuple[str, str, int], tuple[int, str]] = {}  # server, proto, port -> system index, name
    names: dict[str, int] = {}
    for s_index, system in _items(raw.get("systems")):
        path: _Path = ("systems", s_index)
        name = system.get("name")
        label = name if isinstance(name, str) else f"systems[{s_index}]"
        if isinstance(name, str) and name:
            if name in names:
                yield located.problem(
                    source,
                    (*path, "name"),
                    bilingual(
                        f"システム名 {name!r} は 2 回使われています（systems[{names[name]}]）",
                        f"system name {name!r} is used twice (systems[{names[name]}])",
                    ),
                )
            names.setdefault(name, s_index)
        macs: dict[str, int] = {}
        for t_index, terminal in _items(system.get("terminals")):
            mac = _normal(normalize_mac, terminal.get("mac"))
            if mac is None:
                continue
            if mac in macs:
                yield located.problem(
                    source,
                    (*path, "terminals", t_index, "mac"),
                    bilingual(
                        f"MAC {mac} はシステム {label!r} に 2 回登録されています（terminals[{macs[mac]}]）",
                        f"MAC {mac} is registered twice in system {label!r} (terminals[{macs[mac]}])",
                    ),
                )
            macs.setdefault(mac, t_index)
        servers = system.get("servers")
        servers = servers if isinstance(servers, list) else []
        ips = [_normal(normalize_ip, v.get("ip") if isinstance(v, dict) else v) for v in servers]
        for proto, field in (("tcp", "ports"), ("udp", "udp_ports")):
            for port in dict.fromkeys(_ports(system.get(field))):
                for ip in dict.fromkeys(i for i in ips if i):
                    key = (ip, proto, port)
                    owner = owners.setdefault(key, (s_index, label))
                    if owner[0] != s_index:
                        yield located.problem(
                            source,
                            (*path, field),
                            bilingual(
                                f"{ip} {proto}/{port} はすでにシステム {owner[1]!r} のものです",
                                f"{ip} {proto}/{port} already belongs to system {owner[1]!r}",
                            ),
                        )


def _action_checks(raw: dict[str, Any], located: _Located, source: str) -> Iterator[ConfigProblem]:
    names: set[str] = set()
    for index, action in _items(raw.get("actions")):
        path: _Path = ("actions", index)
        name = action.get("name")
        if isinstance(name, str) and name:
            if name in names:
                yield located.problem(
                    source,
                    (*path, "name"),
                    bilingual(f"アクション名 {name!r} は 2 回使われています", f"action name {name!r} is used twice"),
                )
            names.add(name)
        rules = action.get("rules")
        for r_index, rule in enumerate(rules if isinstance(rules, list) else []):
            if isinstance(rule, str) and rule not in catalogue():
                known = ", ".join(catalogue().ids())
                yield located.problem(
                    source,
                    (*path, "rules", r_index),
                    bilingual(
                        f"ルール {rule!r} はありません。あるもの: {known}", f"unknown rule {rule!r}; known: {known}"
                    ),
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
    segments = segments_of(data.segments)
    dangerous = dangerous_ports(data.dangerous_ports)
    return Site(
        systems=systems,
        gateways=gateways,
        name=data.site.name,
        segments=segments,
        zone_policy=policy_of(data.zone_policy, bool(data.segments)),
        dangerous_ports=dangerous,
        exempt_hosts=exempt_hosts_of(data.exempt_hosts, segments),
        scan=scan_of(data.scan, segments, systems, dangerous),
        vendors=vendors_of(data.vendors, data.site.time_zone),
        time_zone=data.site.time_zone,
        backups=backups_of(data.backups),
        switches=switches_of(data.switches),
        blocking=block_policy_of(data.blocking),
    )


def _readable_error(text: str, exc: yaml.YAMLError) -> yaml.YAMLError:
    """The pure-Python parser's error for a file libyaml refused: its messages and marks are what the report is
    written for."""
    if _FAST_LOADER is yaml.SafeLoader:
        return exc
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as slow:
        return slow
    return exc


def _yaml_problems(text: str, source: str, exc: yaml.YAMLError) -> list[ConfigProblem]:
    """A file YAML cannot read: each line indented with a tab (the usual cause), else YAML's own words."""
    tabs = [
        ConfigProblem(
            source,
            number,
            len(line) - len(line.lstrip(" \t")) + 1,
            "",
            bilingual("字下げにタブは使えません。空白を使ってください", "use spaces, not tabs, to indent"),
        )
        for number, line in enumerate(text.splitlines(), start=1)
        if "\t" in line[: len(line) - len(line.lstrip(" \t"))]
    ]
    if tabs:
        return tabs
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if "'\\t'" in problem or "\t" in problem:
        message = bilingual("タブは使えません。空白を使ってください", "use spaces, not tabs")
    else:
        message = bilingual(f"YAML として読めません（{problem}）", f"not valid YAML: {problem}")
    return [ConfigProblem(source, mark.line + 1 if mark else None, mark.column + 1 if mark else None, "", message)]


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """In the order of the file: by line and column (problems of the whole file first)."""
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _warnings(node: yaml.Node | None, raw: dict[str, Any], source: str, located: _Located) -> tuple[ConfigProblem, ...]:
    if node is None:
        message = bilingual(
            "ファイルが空です: 何も監視されません（README の設定例から始めてください）",
            "the file is empty: nothing would be monitored (start from the README's example)",
        )
        return (ConfigProblem(source, None, None, "", message),)
    zones = zone_warning(raw)
    if zones is not None:
        return (located.problem(source, ("zone_policy",), zones),)
    if not raw.get("systems") and not raw.get("segments") and not raw.get("vendors") and not raw.get("backups"):
        message = bilingual(
            "部門システム（systems）がありません: 守るサーバも正規端末もないので、何も監視されません"
            "（ポートスキャン等の検知だけになります）",
            "no department systems: no server or registered terminal, so nothing would be monitored "
            "(only scans, floods and ARP spoofing would be seen)",
        )
        return (ConfigProblem(source, 1, 1, "systems", message),)
    return ()


def settings_from_text(
    text: str,
    *,
    source: str = "<settings>",
    data_dir: Path | None = None,
    action_types: ActionOptionTypes | None = None,
) -> Settings:
    """Parse settings from YAML text. Raises :class:`ConfigError` listing every problem with its location, in the
    order of the file; what is not an error but leaves nothing to monitor is in ``Settings.warnings``.
    ``action_types``: the action types ``actions:`` may use, with their options (default: the built-in ones; the
    CLI passes the action registry's, plugins included)."""
    data_dir = data_dir or Path(".")
    schema = _schema(_action_options(action_types if action_types is not None else BUILTIN_ACTION_OPTIONS))
    try:
        node = yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problems(text, source, _readable_error(text, exc))) from None
    located = _Located()
    raw: Any = {} if node is None else located.build(node, ())
    problems = [ConfigProblem(source, m[0], m[1], _dotted(p), msg) for p, m, msg in located.problems]
    if not isinstance(raw, dict):
        line = node.start_mark.line + 1 if node is not None else None
        message = bilingual(
            "設定ファイルは「名前: 値」の組（マッピング）にしてください",
            "the settings file must be a mapping of names to values",
        )
        problems.append(ConfigProblem(source, line, 1, "", message))
        raise ConfigError(problems)
    parsed: _SettingsIn | None = None
    try:
        parsed = schema.model_validate(raw)
    except ValidationError as exc:
        unreadable = {p.field for p in problems}  # already said why: no second message for the same setting
        problems.extend(p for p in _pydantic_problems(exc, raw, located, source) if p.field not in unreadable)
    problems.extend(_cross_checks(raw, located, source))
    problems.extend(_action_checks(raw, located, source))
    zone_checks(raw, lambda path, message: problems.append(located.problem(source, path, message)))
    scan_checks(raw, lambda path, message: problems.append(located.problem(source, path, message)))
    vendor_checks(raw, lambda path, message: problems.append(located.problem(source, path, message)))
    backup_checks(raw, lambda path, message: problems.append(located.problem(source, path, message)))
    blocking_checks(raw, lambda path, message: problems.append(located.problem(source, path, message)))
    if problems or parsed is None:
        raise ConfigError(_sorted(problems))
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
        central=parsed.central,
        warnings=_warnings(node, raw, source, located),
    )


def _with_key_paths(site: Site, base: Path) -> Site:
    """The switches' key files named relative to the settings file's folder, made absolute."""

    def absolute(name: str | None) -> str | None:
        return None if name is None else str(base / name)

    switches = tuple(
        dataclasses.replace(
            s,
            snmp=dataclasses.replace(
                s.snmp,
                community_file=absolute(s.snmp.community_file),
                auth_key_file=absolute(s.snmp.auth_key_file),
                priv_key_file=absolute(s.snmp.priv_key_file),
            ),
        )
        for s in site.switches
    )
    return dataclasses.replace(site, switches=switches)


def load_settings(
    path: str | Path, *, data_dir: Path | None = None, action_types: ActionOptionTypes | None = None
) -> Settings:
    """Load a settings file. A relative ``storage.path`` is taken relative to the file's folder. ``action_types``:
    as for :func:`settings_from_text`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        message = bilingual("ファイルがありません", "no such file")
        raise ConfigError([ConfigProblem(str(path), None, None, "", message)]) from None
    except UnicodeDecodeError as exc:
        message = bilingual(
            f"UTF-8 のテキストではありません（{exc.start} バイト目）。UTF-8 で保存してください",
            f"not UTF-8 text (byte {exc.start}); save it as UTF-8",
        )
        raise ConfigError([ConfigProblem(str(path), None, None, "", message)]) from None
    except OSError as exc:
        message = bilingual(f"読めません（{exc.strerror}）", f"cannot read: {exc.strerror}")
        raise ConfigError([ConfigProblem(str(path), None, None, "", message)]) from None
    settings = settings_from_text(text, source=str(path), data_dir=data_dir, action_types=action_types)
    if settings.storage.path is not None and not settings.storage.path.is_absolute():
        storage = settings.storage.model_copy(update={"path": (path.parent / settings.storage.path).resolve()})
        settings = dataclasses.replace(settings, storage=storage)
    if settings.syslog is not None:
        settings = dataclasses.replace(settings, syslog=resolve_paths(settings.syslog, path.parent.resolve()))
    if settings.site.backups:
        backups = resolve_backup_paths(settings.site.backups, path.parent.resolve())
        settings = dataclasses.replace(settings, site=dataclasses.replace(settings.site, backups=backups))
    if settings.site.switches:
        settings = dataclasses.replace(settings, site=_with_key_paths(settings.site, path.parent.resolve()))
    settings = resolve_central_paths(settings, path.parent.resolve())
    web = settings.web
    if web.tls is not None or web.secret_key_file is not None:
        base = path.parent.resolve()
        tls = web.tls and web.tls.model_copy(update={"cert": base / web.tls.cert, "key": base / web.tls.key})
        secret = web.secret_key_file and base / web.secret_key_file
        settings = dataclasses.replace(settings, web=web.model_copy(update={"tls": tls, "secret_key_file": secret}))
    return settings
