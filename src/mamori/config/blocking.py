"""Blocking (遮断) in the settings file: the switches mamori may drive, and what the site allows it to block.

```yaml
switches:
  - name: floor2-access
    address: 10.0.0.12
    snmp:
      version: "3"                      # or "2c" with community_file
      user: mamori
      auth_protocol: sha256             # md5 | sha | sha224 | sha256 | sha384 | sha512
      auth_key_file: /etc/mamori/sw-auth.key   # chmod 600; the first line is the key
      priv_protocol: aes128             # des | aes128 | aes192 | aes256
      priv_key_file: /etc/mamori/sw-priv.key
    uplinks: [Gi1/0/48]                 # never shut (ifName, ifDescr or ifIndex)
    protect: [Gi1/0/1, Gi1/0/2]         # never shut: the ports of medical devices, servers, printers...
    max_macs: 1                         # a port carrying more MACs than this is refused (a hub, an uplink)
    quarantine_vlan: 999                # optional: move the port to this VLAN instead of shutting it

blocking:
  allow:                                # the rules and severities that may block (default below)
    - {rule: unregistered-terminal, min_severity: high}
  dry_run: false                        # true: only record what would be done
  release_after: 4h                     # lifted by itself after this (0: only by hand)
```

Secrets are never written in this file: a ``community``, ``auth_key`` or ``priv_key`` key is refused with the
way to put it in a file. Relative key file names are read from the settings file's folder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, model_validator

from mamori.config.messages import bilingual
from mamori.config.values import Duration, Port, Strict
from mamori.model import BlockAllow, BlockPolicy, Severity, SnmpAccess, Switch
from mamori.rules import catalogue

__all__ = ["BlockingIn", "SwitchIn", "blocking_checks", "policy_of", "switches_of"]

_Path = tuple[str | int, ...]
Problem = Callable[[_Path, str], None]
_SECRET_KEYS = {
    "community": "community_file",
    "auth_key": "auth_key_file",
    "priv_key": "priv_key_file",
    "password": "auth_key_file",
    "auth_password": "auth_key_file",
    "priv_password": "priv_key_file",
}


class SnmpIn(Strict):
    version: Literal["2c", "3"]
    port: Port = 161
    community_file: str | None = None
    user: str = ""
    auth_protocol: Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"] = "sha256"
    auth_key_file: str | None = None
    priv_protocol: Literal["des", "aes128", "aes192", "aes256"] = "aes128"
    priv_key_file: str | None = None
    context: str = ""
    timeout: Duration = Field(3.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=5)

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, file_key in _SECRET_KEYS.items():
                if key in value:
                    raise ValueError(
                        bilingual(
                            f"{key} を設定ファイルに書かないでください。root だけが読めるファイル（chmod 600）に書き、"
                            f"{file_key}: /etc/mamori/... でそのファイルを指定します",
                            f"do not write {key} in the settings file: put it in a file only root can read "
                            f"(chmod 600) and name that file with {file_key}: /etc/mamori/...",
                        )
                    )
        return value

    @model_validator(mode="after")
    def _complete(self) -> SnmpIn:
        if self.version == "2c" and not self.community_file:
            raise ValueError(
                bilingual(
                    'version "2c" には community_file（コミュニティ名を書いたファイル）が必要です',
                    'version "2c" needs community_file (a file holding the community name)',
                )
            )
        if self.version == "3" and not (self.user and self.auth_key_file and self.priv_key_file):
            raise ValueError(
                bilingual(
                    'version "3" は authPriv だけを使います: user、auth_key_file、priv_key_file が必要です',
                    'version "3" is used with authPriv only: user, auth_key_file and priv_key_file are needed',
                )
            )
        return self


class SwitchIn(Strict):
    name: str = Field(min_length=1, max_length=64)
    address: str = Field(min_length=1)
    snmp: SnmpIn
    uplinks: tuple[str | int, ...] = ()
    protect: tuple[str | int, ...] = ()
    max_macs: int = Field(1, ge=1, le=8)
    quarantine_vlan: int | None = Field(None, ge=1, le=4094)


class AllowIn(Strict):
    rule: str
    min_severity: Literal["info", "low", "medium", "high", "critical"] = "high"


class BlockingIn(Strict):
    allow: tuple[AllowIn, ...] = (AllowIn(rule="unregistered-terminal", min_severity="high"),)
    dry_run: bool = False
    release_after: Duration = Field(4 * 3600.0, ge=0, le=30 * 86400.0)


def switches_of(items: tuple[SwitchIn, ...]) -> tuple[Switch, ...]:
    return tuple(
        Switch(
            name=s.name,
            address=s.address,
            snmp=SnmpAccess(**s.snmp.model_dump()),
            uplinks=tuple(str(u) for u in s.uplinks),
            protect=tuple(str(p) for p in s.protect),
            max_macs=s.max_macs,
            quarantine_vlan=s.quarantine_vlan,
        )
        for s in items
    )


def policy_of(data: BlockingIn | None) -> BlockPolicy:
    if data is None:
        return BlockPolicy()
    return BlockPolicy(
        allow=tuple(BlockAllow(a.rule, Severity.parse(a.min_severity)) for a in data.allow),
        dry_run=data.dry_run,
        release_after=data.release_after,
    )


def blocking_checks(raw: dict[str, Any], problem: Problem) -> None:
    """Switch names used twice, an address that is not one, a rule the catalogue does not know."""
    import ipaddress

    seen: dict[str, int] = {}
    switches = raw.get("switches")
    for index, item in enumerate(switches if isinstance(switches, list) else []):
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        if isinstance(name, str) and name:
            if name in seen:
                problem(
                    ("switches", index, "name"),
                    bilingual(
                        f"スイッチ名 {name!r} は 2 回使われています（switches[{seen[name]}]）",
                        f"switch name {name!r} is used twice (switches[{seen[name]}])",
                    ),
                )
            seen.setdefault(name, index)
        address = item.get("address")
        if isinstance(address, str) and address:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                problem(
                    ("switches", index, "address"),
                    bilingual(
                        f"{address!r} は IP アドレスではありません（ホスト名は使えません）",
                        f"{address!r} is not an IP address (host names are not used)",
                    ),
                )
    blocking = raw.get("blocking")
    allow = blocking.get("allow") if isinstance(blocking, dict) else None
    for index, item in enumerate(allow if isinstance(allow, list) else []):
        rule = item.get("rule") if isinstance(item, dict) else None
        if isinstance(rule, str) and rule not in catalogue():
            known = ", ".join(catalogue().ids())
            problem(
                ("blocking", "allow", index, "rule"),
                bilingual(f"ルール {rule!r} はありません。あるもの: {known}", f"unknown rule {rule!r}; known: {known}"),
            )
