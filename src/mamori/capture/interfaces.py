"""The network interfaces of this machine, and what libpcap's activation codes mean, in words a new user can act on.

libpcap's ``pcap_activate`` answers a status code rather than an error; the binding passes it back, and the next
call then fails with a message about an "not-yet-activated pcap_t" that names neither the interface nor the cause.
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["activation_problem", "available_interfaces", "missing_interface"]

# pcap/pcap.h: the negative status codes of pcap_activate()
_NO_SUCH_DEVICE = -5
_PERM_DENIED = -8
_IFACE_NOT_UP = -9
_PROMISC_PERM_DENIED = -11
_PSEUDO = ("any", "bluetooth-monitor", "nflog", "nfqueue", "dbus-system", "dbus-session")


def available_interfaces(pcapy: Any = None) -> list[str]:
    """The interfaces a capture could be opened on: the kernel's (Linux, BSD, macOS), else libpcap's list (Npcap)."""
    try:
        return sorted(name for _index, name in socket.if_nameindex())
    except OSError:
        pass
    if pcapy is None:
        return []
    try:
        return sorted(name for name in pcapy.findalldevs() if name not in _PSEUDO)
    except Exception:  # a list only for a message: the message must not fail
        return []


def missing_interface(interface: str, available: list[str], *, note: tuple[str, str] = ("", "")) -> str:
    """The message for an interface this machine does not have, with the ones it has (and a note: ja, en)."""
    names = ", ".join(available) or "(なし / none)"
    return (
        f"インタフェース {interface} はこの機械にありません（あるもの: {names}）{note[0]} / "
        f"interface {interface!r} does not exist on this machine (it has: {names}){note[1]}"
    )


def activation_problem(interface: str, status: int, pcapy: Any = None) -> str | None:
    """The message for a pcap_activate() status (None when it succeeded, perhaps with a warning)."""
    if status >= 0:
        return None
    available = available_interfaces(pcapy)
    if status == _NO_SUCH_DEVICE or (available and interface not in available):
        return missing_interface(interface, available)  # also one removed while libpcap opened it
    if status in (_PERM_DENIED, _PROMISC_PERM_DENIED):
        return (
            f"インタフェース {interface} でキャプチャする権限がありません（root か CAP_NET_RAW が必要です） / "
            f"no permission to capture on interface {interface!r} (run as root, or give CAP_NET_RAW)"
        )
    if status == _IFACE_NOT_UP:
        return (
            f"インタフェース {interface} が停止しています（ip link set {interface} up） / "
            f"interface {interface!r} is down (ip link set {interface} up)"
        )
    return (
        f"インタフェース {interface} を開けません（libpcap {status}） / "
        f"cannot open interface {interface!r} (libpcap {status})"
    )
