"""The scan scope in the settings file: what ``mamori scan`` may send packets to, and nothing else.

```yaml
scan:
  targets: [10.1.0.0/24, 10.2.0.11]   # networks and addresses only (no host names); each at most a /16
  exclude: [10.1.0.99]                # never scanned (nmap --exclude)
  rate: 100                           # packets a second at most (nmap --max-rate)
  ports: [22, 80, 443]                # default: the dangerous ports, the department systems' ports, databases
  version_detection: true             # nmap -sV --version-light: service product and version
  timeout: 1h                         # the whole run; nmap is stopped after it
```

Choices made here (docs/design.md §10, the exposure section):

- **Medical devices are never scanned unless named**: the networks of every segment with ``zone: medical`` are
  added to ``exclude``, unless a target lies inside that segment (the operator named the device or the network on
  purpose). A target wider than a medical segment (``10.0.0.0/16`` around it) does not name it: it is excluded.
- **Only addresses and networks**: a host name would be resolved by nmap at run time, to an address nobody
  checked. A network wider than /16 (65,536 addresses; /112 in IPv6) is refused: a typo such as ``/8`` must not
  start a scan of 16 million addresses.
- **The default ports** (``ports`` not given): the dangerous ports (``dangerous_ports``, the Ministry's list), the
  department systems' TCP ports, and the database ports 1433, 1521, 3306, 5432; about 25 ports, which is what the
  judgement needs (``mamori.detection.exposure``) and keeps a /24 short (README, measured).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from mamori.config.messages import bilingual
from mamori.config.values import Duration, Port, Strict
from mamori.model import DangerousPort, DepartmentSystem, ScanScope, Segment

__all__ = ["DATABASE_PORTS", "MAX_PREFIX", "ScanIn", "default_ports", "scan_checks", "scan_of"]

DATABASE_PORTS: tuple[int, ...] = (1433, 1521, 3306, 5432)
MAX_PREFIX = {4: 16, 6: 112}  # the widest network one target may name

_Path = tuple[str | int, ...]
Problem = Callable[[_Path, str], None]
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address_or_network(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            bilingual(
                f'アドレスかネットワークを "10.1.0.0/24" のように書いてください（{value!r} ではなく）',
                f'write an address or a network such as "10.1.0.0/24", not {value!r}',
            )
        )
    text = value.strip()
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                bilingual(
                    f"{text!r} はアドレスでもネットワークでもありません（ホスト名は使えません）",
                    f"{text!r} is neither an address nor a network (host names are not allowed)",
                )
            ) from None
        raise ValueError(
            bilingual(
                f"{text!r} にはホスト部があります。{loose} のことですか",
                f"{text!r} has host bits set; did you mean {loose}?",
            )
        ) from None
    if net.prefixlen < MAX_PREFIX[net.version]:
        raise ValueError(
            bilingual(
                f"{net} は広すぎます（/{MAX_PREFIX[net.version]} まで）。分けて書いてください",
                f"{net} is too wide (at most /{MAX_PREFIX[net.version]}); list smaller networks",
            )
        )
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Target = Annotated[str, BeforeValidator(_address_or_network)]


class ScanIn(Strict):
    targets: Annotated[tuple[Target, ...], BeforeValidator(_one_or_many)] = Field(min_length=1)
    exclude: Annotated[tuple[Target, ...], BeforeValidator(_one_or_many)] = ()
    rate: int = Field(100, ge=1, le=10_000, description="packets a second at most (nmap --max-rate)")
    ports: tuple[Port, ...] | None = None
    version_detection: bool = True
    timeout: Duration = Field(3600.0, gt=0, le=86_400.0)


def default_ports(systems: tuple[DepartmentSystem, ...], dangerous: tuple[DangerousPort, ...]) -> tuple[int, ...]:
    """The dangerous ports, the department systems' TCP ports and the database ports, sorted."""
    ports = {p.port for p in dangerous} | {p for s in systems for p in s.ports} | set(DATABASE_PORTS)
    return tuple(sorted(ports))


def _net(text: str) -> _Net:
    return ipaddress.ip_network(text, strict=False)


def scan_of(
    scan: ScanIn | None,
    segments: tuple[Segment, ...],
    systems: tuple[DepartmentSystem, ...],
    dangerous: tuple[DangerousPort, ...],
) -> ScanScope | None:
    if scan is None:
        return None
    targets = [_net(t) for t in scan.targets]
    medical: list[str] = []
    for segment in segments:
        if segment.zone != "medical":
            continue
        for cidr in segment.cidrs:
            net = _net(cidr)
            named = any(t.version == net.version and t.subnet_of(net) for t in targets)  # type: ignore[arg-type]
            if not named and cidr not in scan.exclude:
                medical.append(cidr)
    return ScanScope(
        targets=tuple(dict.fromkeys(scan.targets)),
        exclude=tuple(dict.fromkeys((*scan.exclude, *medical))),
        rate=scan.rate,
        ports=tuple(sorted(set(scan.ports))) if scan.ports else default_ports(systems, dangerous),
        version_detection=scan.version_detection,
        timeout=scan.timeout,
        medical_excluded=tuple(medical),
    )


def _nets(value: Any) -> list[tuple[int, _Net]]:
    out = []
    for index, item in enumerate(_one_or_many(value) if value is not None else []):
        try:
            out.append((index, ipaddress.ip_network(str(item).strip(), strict=True)))
        except ValueError:
            continue  # the schema reports it
    return out


def scan_checks(raw: dict[str, Any], problem: Problem) -> None:
    """A target wholly inside the exclude list (nothing of it would be scanned); IPv4 and IPv6 mixed."""
    scan = raw.get("scan")
    if not isinstance(scan, dict):
        return
    excluded = [n for _, n in _nets(scan.get("exclude"))]
    listed = isinstance(scan.get("targets"), list)
    if len({n.version for _, n in _nets(scan.get("targets"))}) > 1:
        problem(
            ("scan", "targets"),
            bilingual(
                "IPv4 と IPv6 のターゲットは 1 つのスキャンに混ぜられません（nmap の制約）",
                "IPv4 and IPv6 targets cannot be mixed in one scan (nmap runs one family at a time)",
            ),
        )
    for index, target in _nets(scan.get("targets")):
        for net in excluded:
            if net.version == target.version and target.subnet_of(net):  # type: ignore[arg-type]
                shown = target.network_address if target.num_addresses == 1 else target
                problem(
                    ("scan", "targets", index) if listed else ("scan", "targets"),
                    bilingual(
                        f"{shown} は exclude の {net} に含まれるので、何もスキャンされません",
                        f"{shown} lies inside the excluded {net}: nothing of it would be scanned",
                    ),
                )
                break
