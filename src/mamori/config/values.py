"""Value types shared by every settings section: MAC and IP addresses, durations, ports."""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "Duration",
    "Ip",
    "Mac",
    "Port",
    "Strict",
    "Zone",
    "check_zone",
    "normalize_ip",
    "normalize_mac",
    "parse_duration",
]

_MAC_RE = re.compile(r"^[0-9a-f]{12}$")


def normalize_mac(value: str) -> str:
    """Accept ``02:42:AC:11:00:02``, ``02-42-ac-11-00-02``, ``0242.ac11.0002`` or ``0242ac110002``;
    return lower-case colon form."""
    if not isinstance(value, str):
        raise ValueError(
            f'MAC アドレスは "02:42:ac:11:00:02" のような文字列で書いてください（{value!r} ではなく） / '
            f'a MAC address must be text such as "02:42:ac:11:00:02", not {value!r}'
        )
    hexdigits = re.sub(r"[:\-.\s]", "", value.strip().lower())
    if not _MAC_RE.match(hexdigits):
        raise ValueError(
            f"{value!r} は MAC アドレスではありません（02:42:ac:11:00:02 のような 16 進 2 桁 × 6） / "
            f"{value!r} is not a MAC address (expected six hex pairs such as 02:42:ac:11:00:02)"
        )
    if hexdigits in ("000000000000", "ffffffffffff"):
        raise ValueError(
            f"{value!r} は端末の MAC アドレスではありません（すべて 0 かブロードキャスト） / "
            f"{value!r} is not a terminal's MAC address (all zeros or broadcast)"
        )
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def normalize_ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ValueError(
            f"{value!r} は IPv4 / IPv6 アドレスではありません / {value!r} is not an IPv4 or IPv6 address"
        ) from None


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """``300``, ``"300s"``, ``"5m"``, ``"24h"``, ``"7d"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} は時間の長さではありません / {value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("時間の長さは負にできません / a duration cannot be negative")
        return float(value)
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError(
            f'{value!r} は時間の長さではありません（例: 30, "30s", "5m", "24h", "7d"） / '
            f'{value!r} is not a duration (examples: 30, "30s", "5m", "24h", "7d")'
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def check_zone(value: str) -> str:
    """An IANA time zone name such as Asia/Tokyo."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} はタイムゾーン名ではありません（例: Asia/Tokyo） / "
            f"{value!r} is not a time zone name (e.g. Asia/Tokyo)"
        ) from None
    return value


Mac = Annotated[str, BeforeValidator(normalize_mac)]
Zone = Annotated[str, AfterValidator(check_zone)]
Ip = Annotated[str, BeforeValidator(normalize_ip)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    """Every settings section: unknown keys are errors, values are frozen once loaded."""

    # defer_build: a section's validator is made the first time it is used, not at import; a site without e-mail,
    # blocking or a central server never pays for those sections' schemas (docs/design.md §5, start-up).
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)
