"""Switch ports over SNMP: find the port that carries a MAC address, shut it (or move it to a quarantine VLAN),
and put it back. pysnmp 7 (asyncio) as the engine; docs/design.md, blocking, says why.

The MIB objects, by number (no MIB files are loaded):

- BRIDGE-MIB dot1dTpFdbPort / dot1dTpFdbStatus (``.17.4.3.1.2/.3``), index: the MAC (six numbers);
- Q-BRIDGE-MIB dot1qTpFdbPort / dot1qTpFdbStatus (``.17.7.1.2.2.1.2/.3``), index: the VLAN's filtering database
  id and the MAC; switches with VLANs often fill only this one;
- dot1dBasePortIfIndex (``.17.1.4.1.2``): bridge port -> interface number (ifIndex);
- IF-MIB ifName, ifDescr, ifAlias (the port's description, set by whoever configures the switch: hostile text)
  and ifAdminStatus (``.2.2.1.7``: 1 up, 2 down); Q-BRIDGE-MIB dot1qPvid (``.17.7.1.4.5.1.1``) for the VLAN.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamori.model import Switch

__all__ = ["PortFound", "SnmpError", "SwitchClient", "read_key_file"]

_FDB_PORT = (1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 2)
_FDB_STATUS = (1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 3)
_QFDB_PORT = (1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 2)
_QFDB_STATUS = (1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 3)
_BASE_PORT_IFINDEX = (1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2)
_IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
_IF_ADMIN = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
_IF_NAME = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
_IF_ALIAS = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18)
_PVID = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 5, 1, 1)
_STATUS_SELF = 4  # the switch's own address
_STATUS_INVALID = 2
_TEXT_LIMIT = 255


class SnmpError(Exception):
    """The switch could not be asked or did not do what was asked (the message names the switch)."""


@dataclass(frozen=True)
class PortFound:
    """Where a MAC was found: the switch, the bridge port and interface, the port's names as the switch gives them
    (hostile text), the VLAN (Q-BRIDGE) and every MAC the switch has learned on that port."""

    switch: str
    bridge_port: int
    if_index: int
    name: str
    descr: str
    alias: str
    vlan: int | None
    macs: tuple[str, ...]

    def is_named(self, names: Sequence[str]) -> bool:
        """Whether one of ``names`` (ifName, ifDescr or the ifIndex as text) is this port."""
        wanted = {n.strip().lower() for n in names}
        return bool(wanted & {self.name.lower(), self.descr.lower(), str(self.if_index)} - {""})


def read_key_file(path: str, what: str) -> str:
    """The first line of a key file. Refuses one that the group or others may read; the key is never in a message."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            raise SnmpError(f"{what} {p} may be read by other users (mode {stat.S_IMODE(mode):04o}): run chmod 600 {p}")
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SnmpError(f"cannot read {what} {p}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise SnmpError(f"{what} {p} is not UTF-8 text") from None
    line = text.splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise SnmpError(f"{what} {p} is empty")
    return line


def _mac_of(index: tuple[int, ...]) -> str:
    return ":".join(f"{b:02x}" for b in index[-6:])


def _text(value: Any) -> str:
    raw = bytes(value.asOctets()) if hasattr(value, "asOctets") else str(value).encode()
    return raw.decode("utf-8", errors="replace").replace("\0", "")[:_TEXT_LIMIT]


class SwitchClient:
    """One switch. Every call opens its own SNMP engine and closes it (blocks are rare; no state kept between)."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch

    # -- the SNMP calls ----------------------------------------------------------------------------------------------

    def _auth(self, hl: Any) -> tuple[Any, Any]:
        snmp = self.switch.snmp
        if snmp.version == "2c":
            community = read_key_file(snmp.community_file or "", "community file")
            return hl.CommunityData(community, mpModel=1), hl.ContextData()
        auth = {
            "md5": hl.usmHMACMD5AuthProtocol,
            "sha": hl.usmHMACSHAAuthProtocol,
            "sha224": hl.usmHMAC128SHA224AuthProtocol,
            "sha256": hl.usmHMAC192SHA256AuthProtocol,
            "sha384": hl.usmHMAC256SHA384AuthProtocol,
            "sha512": hl.usmHMAC384SHA512AuthProtocol,
        }[snmp.auth_protocol]
        priv = {
            "des": hl.usmDESPrivProtocol,
            "aes128": hl.usmAesCfb128Protocol,
            "aes192": hl.usmAesCfb192Protocol,
            "aes256": hl.usmAesCfb256Protocol,
        }[snmp.priv_protocol]
        user = hl.UsmUserData(
            snmp.user,
            read_key_file(snmp.auth_key_file or "", "authentication key file"),
            read_key_file(snmp.priv_key_file or "", "privacy key file"),
            authProtocol=auth,
            privProtocol=priv,
        )
        return user, hl.ContextData(contextName=snmp.context.encode())

    async def _session(self) -> tuple[Any, Any, Any, Any, Any]:
        import pysnmp.hlapi.v3arch.asyncio as hl

        auth, context = self._auth(hl)
        snmp = self.switch.snmp
        try:
            target = await hl.UdpTransportTarget.create(
                (self.switch.address, snmp.port), timeout=snmp.timeout, retries=snmp.retries
            )
        except Exception as exc:  # an address the transport cannot use
            raise SnmpError(f"switch {self.switch.name}: {exc}") from exc
        return hl, hl.SnmpEngine(), auth, target, context

    def _check(self, what: str, error_indication: Any, error_status: Any, error_index: Any) -> None:
        if error_indication:
            raise SnmpError(f"switch {self.switch.name} ({self.switch.address}): {what}: {error_indication}")
        if error_status:
            raise SnmpError(f"switch {self.switch.name} ({self.switch.address}): {what}: {error_status.prettyPrint()}")

    async def _walk(self, session: tuple[Any, ...], base: tuple[int, ...]) -> list[tuple[tuple[int, ...], Any]]:
        hl, engine, auth, target, context = session
        rows: list[tuple[tuple[int, ...], Any]] = []
        async for ei, es, ex, var_binds in hl.walk_cmd(
            engine,
            auth,
            target,
            context,
            hl.ObjectType(hl.ObjectIdentity(base)),
            lexicographicMode=False,
            lookupMib=False,
        ):
            self._check("walk", ei, es, ex)
            for oid, value in var_binds:
                name = tuple(oid)
                if name[: len(base)] != base or value.__class__.__name__ in ("EndOfMibView", "NoSuchObject"):
                    return rows
                rows.append((name[len(base) :], value))
        return rows

    async def _get(self, session: tuple[Any, ...], oids: Sequence[tuple[int, ...]]) -> list[Any]:
        hl, engine, auth, target, context = session
        ei, es, ex, var_binds = await hl.get_cmd(
            engine, auth, target, context, *(hl.ObjectType(hl.ObjectIdentity(o)) for o in oids), lookupMib=False
        )
        self._check("get", ei, es, ex)
        return [None if v.__class__.__name__ in ("NoSuchObject", "NoSuchInstance") else v for _, v in var_binds]

    async def _set(self, session: tuple[Any, ...], oid: tuple[int, ...], value: Any) -> None:
        hl, engine, auth, target, context = session
        ei, es, ex, _ = await hl.set_cmd(
            engine, auth, target, context, hl.ObjectType(hl.ObjectIdentity(oid), value), lookupMib=False
        )
        self._check("set", ei, es, ex)

    def _run(self, coroutine: Any) -> Any:
        try:
            return asyncio.run(coroutine)
        except SnmpError:
            raise
        except Exception as exc:  # the library's own errors (bad key length, transport failure): one kind here
            raise SnmpError(f"switch {self.switch.name} ({self.switch.address}): {type(exc).__name__}: {exc}") from exc

    # -- what blocking asks ------------------------------------------------------------------------------------------

    def locate(self, mac: str) -> PortFound | None:
        """The port this switch has learned ``mac`` on, or None."""
        found: PortFound | None = self._run(self._locate(mac))
        return found

    async def _locate(self, mac: str) -> PortFound | None:
        session = await self._session()
        try:
            ports: dict[str, tuple[int, int | None]] = {}  # mac -> (bridge port, vlan)
            by_port: dict[int, set[str]] = {}
            for port_col, status_col, q in ((_FDB_PORT, _FDB_STATUS, False), (_QFDB_PORT, _QFDB_STATUS, True)):
                status = {index: int(v) for index, v in await self._walk(session, status_col)}
                for index, value in await self._walk(session, port_col):
                    port = int(value)
                    if port == 0 or status.get(index) in (_STATUS_SELF, _STATUS_INVALID) or len(index) < 6:
                        continue
                    learned = _mac_of(index)
                    vlan = index[0] if q and len(index) == 7 else None
                    ports.setdefault(learned, (port, vlan))
                    by_port.setdefault(port, set()).add(learned)
            if mac not in ports:
                return None
            bridge_port, vlan = ports[mac]
            (if_index,) = await self._get(session, [(*_BASE_PORT_IFINDEX, bridge_port)])
            if if_index is None:
                raise SnmpError(f"switch {self.switch.name}: bridge port {bridge_port} has no interface number")
            ifx = int(if_index)
            name, descr, alias = await self._get(session, [(*_IF_NAME, ifx), (*_IF_DESCR, ifx), (*_IF_ALIAS, ifx)])
            return PortFound(
                switch=self.switch.name,
                bridge_port=bridge_port,
                if_index=ifx,
                name=_text(name) if name is not None else "",
                descr=_text(descr) if descr is not None else "",
                alias=_text(alias) if alias is not None else "",
                vlan=vlan,
                macs=tuple(sorted(by_port.get(bridge_port, ()))),
            )
        finally:
            session[1].close_dispatcher()

    def shut(self, port: PortFound) -> dict[str, Any]:
        """Shut the port (or move it to the quarantine VLAN); returns what :meth:`restore` needs."""
        return dict(self._run(self._shut(port)))

    async def _shut(self, port: PortFound) -> dict[str, Any]:
        from pysnmp.proto.rfc1902 import Integer32, Unsigned32

        session = await self._session()
        try:
            vlan = self.switch.quarantine_vlan
            if vlan is not None:
                (before,) = await self._get(session, [(*_PVID, port.bridge_port)])
                if before is None:
                    raise SnmpError(f"switch {self.switch.name}: no dot1qPvid for bridge port {port.bridge_port}")
                await self._set(session, (*_PVID, port.bridge_port), Unsigned32(vlan))
                (after,) = await self._get(session, [(*_PVID, port.bridge_port)])
                if after is None or int(after) != vlan:
                    raise SnmpError(f"switch {self.switch.name}: the port's VLAN did not change to {vlan}")
                return {"switch": self.switch.name, "bridge_port": port.bridge_port, "pvid": int(before)}
            (before,) = await self._get(session, [(*_IF_ADMIN, port.if_index)])
            await self._set(session, (*_IF_ADMIN, port.if_index), Integer32(2))
            (after,) = await self._get(session, [(*_IF_ADMIN, port.if_index)])
            if after is None or int(after) != 2:
                raise SnmpError(f"switch {self.switch.name}: ifAdminStatus of ifIndex {port.if_index} is not down")
            return {
                "switch": self.switch.name,
                "if_index": port.if_index,
                "admin_status": int(before) if before is not None else 1,
            }
        finally:
            session[1].close_dispatcher()

    def restore(self, restore: dict[str, Any]) -> None:
        """Put the port back as it was before :meth:`shut`."""
        self._run(self._restore(restore))

    async def _restore(self, restore: dict[str, Any]) -> None:
        from pysnmp.proto.rfc1902 import Integer32, Unsigned32

        session = await self._session()
        try:
            if "pvid" in restore:
                await self._set(session, (*_PVID, int(restore["bridge_port"])), Unsigned32(int(restore["pvid"])))
                return
            status = int(restore.get("admin_status", 1))
            await self._set(session, (*_IF_ADMIN, int(restore["if_index"])), Integer32(status))
        finally:
            session[1].close_dispatcher()
