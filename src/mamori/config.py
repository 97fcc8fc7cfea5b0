"""Load and validate the settings file (one YAML file: daemon settings and the site model).

Every problem is reported with the file, line, column and field it concerns, all at once, so that an operator can
fix the file in one pass. Nothing here reads the environment or argv; the CLI passes in what it found there.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mamori.errors import ConfigError, ConfigProblem
from mamori.model import DepartmentSystem, Gateway, Server, Severity, Site, Terminal

__all__ = [
    "CaptureSettings",
    "DetectionSettings",
    "IpMacConflictSettings",
    "PortScanSettings",
    "Settings",
    "StorageSettings",
    "SynFloodSettings",
    "UnregisteredTerminalSettings",
    "load_settings",
    "normalize_ip",
    "normalize_mac",
    "parse_duration",
    "settings_from_text",
]

# -- value parsers --------------------------------------------------------------------------------------------------

_MAC_RE = re.compile(r"^[0-9a-f]{12}$")


def normalize_mac(value: str) -> str:
    """Accept ``02:42:AC:11:00:02``, ``02-42-ac-11-00-02``, ``0242.ac11.0002`` or ``0242ac110002``;
    return lower-case colon form."""
    if not isinstance(value, str):
        raise ValueError(f'a MAC address must be text such as "02:42:ac:11:00:02", not {value!r}')
    hexdigits = re.sub(r"[:\-.\s]", "", value.strip().lower())
    if not _MAC_RE.match(hexdigits):
        raise ValueError(f"{value!r} is not a MAC address (expected six hex pairs such as 02:42:ac:11:00:02)")
    if hexdigits in ("000000000000", "ffffffffffff"):
        raise ValueError(f"{value!r} is not a terminal's MAC address (all zeros or broadcast)")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def normalize_ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """``300``, ``"300s"``, ``"5m"``, ``"24h"``, ``"7d"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError(f'{value!r} is not a duration (examples: 30, "30s", "5m", "24h", "7d")')
    return float(match.group(1)) * _UNITS[match.group(2)]


Mac = Annotated[str, BeforeValidator(normalize_mac)]
Ip = Annotated[str, BeforeValidator(normalize_ip)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# -- daemon settings ------------------------------------------------------------------------------------------------


class StorageSettings(_Strict):
    path: Path | None = Field(None, description="SQLite database file; default: mamori.db in the data directory")
    batch_interval: Duration = Field(1.0, description="seconds between batched writes")


class CaptureSettings(_Strict):
    interfaces: tuple[str, ...] = ()
    snaplen: int = Field(256, ge=64, le=65535)
    buffer_mb: int = Field(64, ge=1, le=4096, description="kernel capture buffer per interface")
    promiscuous: bool = True
    udp: bool = Field(True, description="capture empty UDP probes and ICMP port-unreachable answers")
    ipv6: bool = True
    vlan: bool = Field(True, description="also match frames carrying one 802.1Q tag (mirror ports)")

    @field_validator("interfaces", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


class UnregisteredTerminalSettings(_Strict):
    enabled: bool = True
    quiet_period: Duration = Field(3600.0, description="after this much silence a returning stranger is a new alert")


class PortScanSettings(_Strict):
    enabled: bool = True
    window: Duration = Field(300.0, gt=0, description="sliding window for counting distinct ports or hosts")
    vertical_ports: int = Field(20, ge=2, description="distinct ports on one host within the window")
    horizontal_hosts: int = Field(20, ge=2, description="distinct hosts on one port within the window")
    exempt_sources: tuple[Ip, ...] = Field((), description="authorised scanners (vulnerability scanner, monitoring)")
    max_tracked: int = Field(50_000, ge=100, description="pairs tracked at once; the oldest are evicted")


class SynFloodSettings(_Strict):
    enabled: bool = True
    window: Duration = Field(5.0, gt=0)
    min_syns: int = Field(500, ge=10, description="SYNs to one server within the window before judging")
    incomplete_ratio: float = Field(0.5, ge=0, le=1, description="share of SYNs without a completed handshake")
    min_syns_per_port: float = Field(
        10.0, ge=1, description="average SYNs per targeted port: a flood hammers few ports, a scan touches each once"
    )
    spoofed_source_ratio: float = Field(
        0.8, ge=0, le=1, description="share of SYNs from distinct one-shot sources that means spoofed sources"
    )
    max_servers: int = Field(10_000, ge=10)


class IpMacConflictSettings(_Strict):
    enabled: bool = True
    flip_flop_window: Duration = Field(3600.0, gt=0, description="A->B->A changes within this time are a flip-flop")
    max_learned: int = Field(100_000, ge=100, description="unregistered IP-MAC bindings remembered")
    quiet_period: Duration = 3600.0


class DetectionSettings(_Strict):
    unregistered_terminal: UnregisteredTerminalSettings = UnregisteredTerminalSettings()
    port_scan: PortScanSettings = PortScanSettings()
    syn_flood: SynFloodSettings = SynFloodSettings()
    ip_mac_conflict: IpMacConflictSettings = IpMacConflictSettings()
    max_open_alerts: int = Field(20_000, ge=100, description="alerts kept in memory at once")


# -- site model schema ------------------------------------------------------------------------------------------------


class _TerminalIn(_Strict):
    name: str = ""
    mac: Mac
    ip: Ip | None = None
    note: str = ""


class _ServerIn(_Strict):
    ip: Ip
    mac: Mac | None = None
    name: str = ""


def _server_shorthand(value: Any) -> Any:
    return {"ip": value} if isinstance(value, str | int) and not isinstance(value, bool) else value


class _SystemIn(_Strict):
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


class _GatewayIn(_Strict):
    name: str = ""
    mac: Mac
    ip: Ip | None = None


class _SiteIn(_Strict):
    name: str = ""


class _SettingsIn(_Strict):
    site: _SiteIn = _SiteIn()
    storage: StorageSettings = StorageSettings()
    capture: CaptureSettings = CaptureSettings()
    detection: DetectionSettings = DetectionSettings()
    gateways: tuple[_GatewayIn, ...] = ()
    systems: tuple[_SystemIn, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Everything loaded from one settings file, as frozen values passed down from the CLI."""

    source: str
    site: Site
    storage: StorageSettings
    capture: CaptureSettings
    detection: DetectionSettings
    data_dir: Path

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
        return _SCALAR_LOADER.construct_object(node, deep=True)

    def locate(self, path: _Path) -> tuple[int, int] | None:
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return None
            path = path[:-1]


_SCALAR_LOADER = yaml.SafeLoader("")


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _dotted(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _pydantic_problems(exc: ValidationError, located: _Located, source: str) -> Iterator[ConfigProblem]:
    errors = exc.errors(include_url=False)
    locs = [tuple(error["loc"]) for error in errors]
    for error in errors:
        loc: _Path = tuple(
            part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-"))
        )
        if error["type"] == "too_short" and any(
            other != tuple(error["loc"]) and other[: len(error["loc"])] == tuple(error["loc"]) for other in locs
        ):
            continue  # a list emptied by its own invalid items: the items' errors say it better
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = f"unknown setting {loc[-1]!r}" if loc else "unknown setting"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        where = located.locate(loc)
        yield ConfigProblem(source, where[0] if where else None, where[1] if where else None, _dotted(loc), message)


def _cross_checks(data: _SettingsIn, located: _Located, source: str) -> Iterator[ConfigProblem]:
    owners: dict[tuple[str, str, int], str] = {}
    names: set[str] = set()
    for s_index, system in enumerate(data.systems):
        path: _Path = ("systems", s_index)
        if system.name in names:
            where = located.locate((*path, "name"))
            yield ConfigProblem(
                source,
                where[0] if where else None,
                where[1] if where else None,
                _dotted((*path, "name")),
                f"system name {system.name!r} is used twice",
            )
        names.add(system.name)
        for server in system.servers:
            for proto, ports in (("tcp", system.ports), ("udp", system.udp_ports)):
                for port in ports:
                    key = (server.ip, proto, port)
                    if key in owners and owners[key] != system.name:
                        where = located.locate((*path, "ports"))
                        yield ConfigProblem(
                            source,
                            where[0] if where else None,
                            where[1] if where else None,
                            _dotted((*path, "ports")),
                            f"{server.ip} {proto}/{port} already belongs to system {owners[key]!r}",
                        )
                    owners[key] = system.name


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
        problems.extend(_pydantic_problems(exc, located, source))
        raise ConfigError(problems) from None
    problems.extend(_cross_checks(parsed, located, source))
    if problems:
        raise ConfigError(problems)
    return Settings(
        source=source,
        site=_to_site(parsed),
        storage=parsed.storage,
        capture=parsed.capture,
        detection=parsed.detection,
        data_dir=data_dir,
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
        settings = Settings(
            source=settings.source,
            site=settings.site,
            storage=storage,
            capture=settings.capture,
            detection=settings.detection,
            data_dir=settings.data_dir,
        )
    return settings
