"""Segments, zones and the zone policy in the settings file: the schema, the HEASNET policies, the checks.

```yaml
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: 事務系, cidrs: [10.2.0.0/24], zone: sz, proxies: [10.2.0.5]}
  - {name: DMZ, cidrs: [10.3.0.0/24], zone: dmz}
  - {name: バックアップ, cidrs: [10.4.0.0/24], zone: hsz, role: backup}
zone_policy: heasnet-large      # the default; heasnet-small; or {base:, default:, rules: [...]}
dangerous_ports: [3389, 22, "137-139", {port: 5985, name: WinRM}]     # default: the Ministry's list and WinRM
```

The HEASNET policies are the construction checksheets of the HEASNET report (2007, §6.1) turned into rows, each
citing its item (see ``mamori.rules.zones`` for the items' words). Where the report leaves something open, the
choice made here says so:

- **Medical devices** (``medical``): the report places 医療機器 in the Secure Zone (§5.3.1), so the rows about the
  Secure Zone apply to them too (3-3-1, 3-4-1, 3-6-1, 3-8-1), besides 4-5-1 (from outside only remote maintenance).
- **Remote maintenance** (4-5-1): a connection from a segment with ``role: maintenance`` to a medical device is
  allowed, whatever the segment's zone (the report puts the remote-maintenance terminal in the High Secure Zone,
  and the vendor's line may be an ``external`` segment).
- **Through a proxy**: a connection whose source or destination is one of the segments' ``proxies``.
- **The DMZ ⇔ HSZ pair**: a direct connection from the DMZ breaks 3-5-1 (no direct access from the DMZ); one
  through the proxy is what 3-7-1 asks for, and is allowed.
- **The Secure Zone and the internet**: the checksheet asks for the proxy's site restriction (3-4-2), which is the
  proxy's job and not a zone rule: Secure Zone → outside is allowed.
- Connections between segments of the same zone and everything no row names are allowed.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from mamori.config.messages import bilingual
from mamori.config.values import Ip, Strict, normalize_ip, normalize_mac
from mamori.model import SEGMENT_ROLES, ZONES, DangerousPort, FlowRule, Segment, ZonePolicy

__all__ = [
    "DEFAULT_DANGEROUS_PORTS",
    "POLICIES",
    "DangerousPortItem",
    "FlowRuleIn",
    "PolicyIn",
    "SegmentIn",
    "ZonePolicyIn",
    "dangerous_ports",
    "heasnet_rules",
    "policy_of",
    "segments_of",
    "zone_checks",
    "zone_warning",
]

_Path = tuple[str | int, ...]
Problem = Callable[[_Path, str], None]

# The ports the Ministry's 2023 training names to watch between segments, and WinRM (remote PowerShell).
DEFAULT_DANGEROUS_PORTS: tuple[DangerousPort, ...] = (
    DangerousPort(20, "FTP data"),
    DangerousPort(21, "FTP"),
    DangerousPort(22, "SSH"),
    DangerousPort(23, "Telnet"),
    DangerousPort(88, "Kerberos"),
    DangerousPort(135, "RPC"),
    DangerousPort(137, "NetBIOS name"),
    DangerousPort(138, "NetBIOS datagram"),
    DangerousPort(139, "NetBIOS session/SMB"),
    DangerousPort(161, "SNMP"),
    DangerousPort(162, "SNMP trap"),
    DangerousPort(389, "LDAP"),
    DangerousPort(445, "SMB"),
    DangerousPort(464, "Kerberos password"),
    DangerousPort(636, "LDAPS"),
    DangerousPort(1433, "SQL Server"),
    DangerousPort(1521, "Oracle"),
    DangerousPort(3389, "RDP"),
    DangerousPort(5985, "WinRM"),
    DangerousPort(5986, "WinRM HTTPS"),
)


def _row(src: str, dst: str, action: str, ref: str, origin: str, via_proxy: bool | None = None) -> FlowRule:
    return FlowRule(src=src, dst=dst, action=action, via_proxy=via_proxy, ref=ref, origin=origin)


def _large() -> tuple[FlowRule, ...]:
    o = "heasnet-large"
    return (
        _row("role:maintenance", "medical", "allow", "4-5-1", o),
        _row("external", "medical", "deny", "4-5-1", o),
        _row("external", "hsz", "deny", "3-2-1", o),
        _row("external", "sz", "deny", "3-2-1", o),
        _row("hsz", "external", "deny", "3-3-2", o),
        _row("hsz", "sz", "deny", "3-3-1", o),
        _row("hsz", "medical", "deny", "3-3-1", o),
        _row("hsz", "dmz", "deny", "3-3-1", o),
        _row("dmz", "hsz", "allow", "3-7-1", o, via_proxy=True),
        _row("dmz", "hsz", "deny", "3-5-1", o),
        _row("dmz", "sz", "deny", "3-4-1", o),
        _row("dmz", "medical", "deny", "3-4-1", o),
        _row("sz", "hsz", "allow", "3-6-1", o, via_proxy=True),
        _row("sz", "hsz", "deny", "3-6-1", o),
        _row("medical", "hsz", "allow", "3-6-1", o, via_proxy=True),
        _row("medical", "hsz", "deny", "3-6-1", o),
        _row("sz", "dmz", "allow", "3-8-1", o, via_proxy=True),
        _row("sz", "dmz", "deny", "3-8-1", o),
        _row("medical", "dmz", "allow", "3-8-1", o, via_proxy=True),
        _row("medical", "dmz", "deny", "3-8-1", o),
    )


def _small() -> tuple[FlowRule, ...]:
    o = "heasnet-small"
    return (
        _row("role:maintenance", "medical", "allow", "4-3-1", o),
        _row("external", "medical", "deny", "4-3-1", o),
        _row("external", "hsz", "deny", "3-2-1", o),
        _row("external", "sz", "deny", "3-2-1", o),
        _row("hsz", "external", "deny", "3-3-2", o),
        _row("hsz", "sz", "deny", "3-3-1", o),
        _row("hsz", "medical", "deny", "3-3-1", o),
        _row("sz", "hsz", "allow", "3-5-1", o, via_proxy=True),
        _row("sz", "hsz", "deny", "3-5-1", o),
        _row("medical", "hsz", "allow", "3-5-1", o, via_proxy=True),
        _row("medical", "hsz", "deny", "3-5-1", o),
    )


POLICIES: dict[str, Callable[[], tuple[FlowRule, ...]]] = {"heasnet-large": _large, "heasnet-small": _small}


def heasnet_rules(name: str) -> tuple[FlowRule, ...]:
    """The rows of a built-in policy (``heasnet-large`` or ``heasnet-small``)."""
    return POLICIES[name]()


# -- the schema ---------------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A value as the file would write it (text quoted; nothing, true, lists as YAML/JSON), never Python's repr."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return type(value).__name__


def _network(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(
            bilingual(
                f'ネットワークは "10.1.0.0/24" のように書いてください（{_shown(value)} ではなく）',
                f'write a network such as "10.1.0.0/24", not {_shown(value)}',
            )
        )
    text = str(value).strip()
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(
            bilingual(
                f"{text!r} はネットワーク（10.1.0.0/24 のような形）ではありません",
                f"{text!r} is not a network (such as 10.1.0.0/24)",
            )
        ) from None
    raise ValueError(
        bilingual(
            f"{text!r} にはホスト部があります。{loose} のことですか",
            f"{text!r} has host bits set; did you mean {loose}?",
        )
    )


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


Network = Annotated[str, BeforeValidator(_network)]


def _port_range(value: Any) -> tuple[int, int]:
    """``3389`` or ``"137-139"`` -> (first, last)."""
    if isinstance(value, tuple):
        return value  # parsed already (a bare item of dangerous_ports)
    if isinstance(value, int) and not isinstance(value, bool):
        first = last = value
    elif isinstance(value, str) and value.strip().replace("-", "", 1).isdigit():
        a, _, b = value.strip().partition("-")
        first, last = int(a), int(b or a)
    else:
        raise ValueError(
            bilingual(
                f'ポートは 3389 か "137-139" のように書いてください（{_shown(value)} ではなく）',
                f'write a port as 3389 or a range as "137-139", not {_shown(value)}',
            )
        )
    if not 1 <= first <= last <= 65535:
        raise ValueError(
            bilingual(
                f"ポート {_shown(value)} は 1-65535 の範囲で、小さい方から書いてください",
                f"port {_shown(value)} must be within 1-65535, the lower first",
            )
        )
    return first, last


PortRange = Annotated[tuple[int, int], BeforeValidator(_port_range)]


def _ip_or_mac(value: Any) -> str:
    """A DHCP server or router named by its address or its MAC (``10.1.0.1``, ``fe80::1``, ``02:00:00:00:00:01``)."""
    try:
        return normalize_ip(value)
    except ValueError:
        pass
    try:
        return normalize_mac(value)
    except ValueError:
        raise ValueError(
            bilingual(
                f"{_shown(value)} は IP アドレスでも MAC アドレスでもありません",
                f"{_shown(value)} is neither an IP address nor a MAC address",
            )
        ) from None


IpOrMac = Annotated[str, BeforeValidator(_ip_or_mac)]


class SegmentIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    cidrs: Annotated[tuple[Network, ...], BeforeValidator(_one_or_many)] = Field(min_length=1)
    zone: Literal["hsz", "sz", "dmz", "medical", "external"]
    proxies: Annotated[tuple[Ip, ...], BeforeValidator(_one_or_many)] = ()
    role: Literal["backup", "maintenance", "admin", "antivirus", "update", "asset-management"] | None = None
    note: str = ""
    dhcp_servers: Annotated[tuple[IpOrMac, ...], BeforeValidator(_one_or_many)] | None = None
    routers_v6: Annotated[tuple[IpOrMac, ...], BeforeValidator(_one_or_many)] | None = None


class FlowRuleIn(Strict):
    src: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    action: Literal["allow", "deny"]
    ports: Annotated[tuple[PortRange, ...], BeforeValidator(_one_or_many)] = ()
    proto: Literal["tcp", "udp"] | None = None
    via_proxy: bool | None = None
    ref: str = Field("", max_length=200)


def _policy_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        name = value.strip()
        if name not in POLICIES:
            known = ", ".join(POLICIES)
            raise ValueError(
                bilingual(
                    f"ゾーンポリシー {name!r} はありません。{known} か、rules の表を書いてください",
                    f"unknown zone policy {name!r}; use {known}, or a table of rules",
                )
            )
        return {"base": name}
    return value


class PolicyIn(Strict):
    base: Literal["heasnet-large", "heasnet-small", "none"] = "none"
    default: Literal["allow", "deny"] = "allow"
    rules: tuple[FlowRuleIn, ...] = ()


ZonePolicyIn = Annotated[PolicyIn, BeforeValidator(_policy_shorthand)]


class DangerousPortIn(Strict):
    port: PortRange
    name: str = Field("", max_length=64)


def _port_item(value: Any) -> Any:
    return value if isinstance(value, dict) else {"port": _port_range(value)}


DangerousPortItem = Annotated[DangerousPortIn, BeforeValidator(_port_item)]


# -- into model values ----------------------------------------------------------------------------------------------


def segments_of(items: tuple[SegmentIn, ...]) -> tuple[Segment, ...]:
    return tuple(
        Segment(
            name=s.name,
            cidrs=tuple(dict.fromkeys(s.cidrs)),
            zone=s.zone,
            proxies=tuple(dict.fromkeys(s.proxies)),
            role=s.role,
            note=s.note,
            dhcp_servers=None if s.dhcp_servers is None else tuple(dict.fromkeys(s.dhcp_servers)),
            routers_v6=None if s.routers_v6 is None else tuple(dict.fromkeys(s.routers_v6)),
        )
        for s in items
    )


def _expand(ranges: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(p for first, last in ranges for p in range(first, last + 1)))


def policy_of(policy: PolicyIn | None, has_segments: bool) -> ZonePolicy | None:
    """The policy the site uses: heasnet-large when segments are given without one; None without segments."""
    if not has_segments:
        return None
    if policy is None:
        return ZonePolicy("heasnet-large", heasnet_rules("heasnet-large"))
    own = tuple(
        FlowRule(
            src=r.src,
            dst=r.to,
            action=r.action,
            ports=_expand(r.ports),
            proto=r.proto,
            via_proxy=r.via_proxy,
            ref=r.ref,
            origin="custom",
        )
        for r in policy.rules
    )
    base = heasnet_rules(policy.base) if policy.base != "none" else ()
    name = policy.base if not own and policy.base != "none" else "custom"
    return ZonePolicy(name, own + base, default=policy.default)


def dangerous_ports(items: tuple[DangerousPortIn, ...] | None) -> tuple[DangerousPort, ...]:
    if items is None:
        return DEFAULT_DANGEROUS_PORTS
    names = {p.port: p.name for p in DEFAULT_DANGEROUS_PORTS}
    out: dict[int, DangerousPort] = {}
    for item in items:
        for port in range(item.port[0], item.port[1] + 1):
            out[port] = DangerousPort(port, item.name or names.get(port, ""))
    return tuple(out.values())


# -- checks across entries (run on the file's values, reported with the schema's problems) ------------------------


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def _networks(value: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for item in _one_or_many(value) if value is not None else []:
        try:
            out.append(ipaddress.ip_network(str(item).strip(), strict=True))
        except ValueError:
            continue  # the schema reports it
    return out


def zone_checks(raw: dict[str, Any], problem: Problem) -> None:
    """Names used twice or taken by a zone, a network in two segments, a proxy outside its segment, rules naming
    what does not exist, a DMZ under the small-institution policy."""
    segments = _items(raw.get("segments"))
    names: dict[str, int] = {}
    owners: dict[str, tuple[int, str]] = {}
    for index, segment in segments:
        path: _Path = ("segments", index)
        name = segment.get("name")
        label = name if isinstance(name, str) else f"segments[{index}]"
        if isinstance(name, str) and name:
            _check_name(name, index, names, path, problem)
        nets = _networks(segment.get("cidrs"))
        for net in nets:
            owner = owners.setdefault(str(net), (index, label))
            if owner[0] != index:
                problem(
                    (*path, "cidrs"),
                    bilingual(
                        f"{net} はすでにセグメント {owner[1]!r} のものです",
                        f"{net} already belongs to segment {owner[1]!r}",
                    ),
                )
        _check_proxies(segment.get("proxies"), nets, label, path, problem)
    _check_policy(raw, segments, set(names), problem)


def _check_name(name: str, index: int, names: dict[str, int], path: _Path, problem: Problem) -> None:
    if name in ZONES or name == "any" or name.startswith("role:"):
        problem(
            (*path, "name"),
            bilingual(
                f"セグメント名 {name!r} はゾーン名などと同じなので使えません",
                f"segment name {name!r} is taken by a zone or a keyword",
            ),
        )
    if name in names:
        problem(
            (*path, "name"),
            bilingual(
                f"セグメント名 {name!r} は 2 回使われています（segments[{names[name]}]）",
                f"segment name {name!r} is used twice (segments[{names[name]}])",
            ),
        )
    names.setdefault(name, index)


def _check_proxies(
    value: Any, nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network], label: str, path: _Path, problem: Problem
) -> None:
    for p_index, proxy in enumerate(_one_or_many(value) if value is not None else []):
        try:
            address = ipaddress.ip_address(str(proxy).strip())
        except ValueError:
            continue  # the schema reports it
        if nets and not any(address.version == net.version and address in net for net in nets):
            problem(
                (*path, "proxies", p_index) if isinstance(value, list) else (*path, "proxies"),
                bilingual(
                    f"プロキシ {address} はセグメント {label!r} のネットワークの外です",
                    f"proxy {address} is outside the networks of segment {label!r}",
                ),
            )


def _check_policy(
    raw: dict[str, Any], segments: list[tuple[int, dict[str, Any]]], names: set[str], problem: Problem
) -> None:
    policy = raw.get("zone_policy")
    base = policy if isinstance(policy, str) else policy.get("base") if isinstance(policy, dict) else None
    if base == "heasnet-small":
        for index, segment in segments:
            if segment.get("zone") == "dmz":
                problem(
                    ("segments", index, "zone"),
                    bilingual(
                        "heasnet-small（小規模機関型）には DMZ がありません。heasnet-large か院内の表を使ってください",
                        "heasnet-small (the small-institution model) has no DMZ; use heasnet-large or a table of rules",
                    ),
                )
    rules = policy.get("rules") if isinstance(policy, dict) else None
    known = [*ZONES, "any", *(f"role:{r}" for r in SEGMENT_ROLES), *sorted(names - {*ZONES, "any"})]
    for index, rule in _items(rules):
        for key in ("from", "to"):
            value = rule.get(key)
            if isinstance(value, str) and value.strip() and value.strip() not in known:
                problem(
                    ("zone_policy", "rules", index, key),
                    bilingual(
                        f"{value!r} はゾーンでもセグメントでもありません。使えるもの: {', '.join(known)}",
                        f"{value!r} is neither a zone nor a segment; known: {', '.join(known)}",
                    ),
                )


def zone_warning(raw: dict[str, Any]) -> str | None:
    """Not an error, but nothing would be checked: a zone policy without segments."""
    if raw.get("zone_policy") is not None and not _items(raw.get("segments")):
        return bilingual(
            "zone_policy がありますが segments がないため、ゾーンの検知は行われません",
            "zone_policy is given but no segments, so no zone is checked",
        )
    return None
