"""Remote-maintenance vendors and their work plans in the settings file: the schema and the checks.

```yaml
site: {name: 〇〇病院, time_zone: Asia/Tokyo}      # work plans' times are read in this zone (default Asia/Tokyo)
vendors:
  - name: 透析装置メーカー
    sources: [10.9.0.0/24, 203.0.113.7]        # the VPN pool, the bastion, the vendor's own addresses
    accounts: [vendor-dia]                      # Windows / VPN user names it uses (optional)
    devices: [10.1.0.20, DIA-SRV01]             # what it maintains: addresses, networks, computer names
    work_plans:
      - {start: 2026-11-10T09:00+09:00, end: 2026-11-10T12:00+09:00, targets: [10.1.0.20], ports: [3389],
         ticket: "作業計画 2026-118"}
      - {every: month, day: 1, time: "10:00", duration: 2h, targets: [10.1.0.20]}
      - {every: week, weekday: tue, time: "13:00", duration: 90m}
      - {every: day, time: "03:00", duration: 30m, ports: [22]}
```

A one-off window is ``start``/``end`` (ISO 8601; without an offset, the site's time zone). A recurring one is
``every`` (``day``, ``week`` with ``weekday``, ``month`` with ``day``), ``time`` and ``duration`` (at most 7 days).
``targets`` empty: the vendor's ``devices`` (and none of those either: any target); ``ports`` empty: any port;
``accounts`` (optional, per plan) empty: the vendor's accounts, and none of those: any account.
A day of the month a month does not have (31 in November) gives no window that month: write 28 or less for
"every month".
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from mamori.config.messages import bilingual
from mamori.config.values import Duration, Port, Strict
from mamori.config.zones import Problem, _items, _one_or_many, _shown
from mamori.model import WEEKDAYS, Vendor, WorkPlan

__all__ = ["VendorIn", "WorkPlanIn", "parse_plan_time", "vendor_checks", "vendors_of"]

_MAX_DURATION = 7 * 86400.0


def _source(value: Any) -> str:
    """``10.9.0.0/24`` or a single address (a /32 or /128)."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    try:
        if text is None:
            raise ValueError
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        raise ValueError(
            bilingual(
                f"接続元は 10.9.0.0/24 や 203.0.113.7 のように書いてください（{_shown(value)} ではなく）",
                f"write a source as a network such as 10.9.0.0/24 or an address, not {_shown(value)}",
            )
        ) from None


def _target(value: Any) -> str:
    """An address, a network or a computer name (the name Windows logs as the computer)."""
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise ValueError(
            bilingual(
                f"対象は 10.1.0.20、10.1.0.0/24 か機器名で書いてください（{_shown(value)} ではなく）",
                f"write a target as an address, a network or a computer name, not {_shown(value)}",
            )
        )
    text = str(value).strip()
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    else:
        return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
    if len(text) > 255 or any(c.isspace() for c in text):
        raise ValueError(
            bilingual(f"{text!r} は機器名として使えません", f"{text!r} cannot be a computer name"),
        )
    return text


def _clock_time(value: Any) -> str:
    """``"10:00"`` (the loader keeps an unquoted 10:00 as text) -> ``"10:00"``."""
    text = str(value).strip() if isinstance(value, str) else ""
    hour, sep, minute = text.partition(":")
    if sep and hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60 and len(minute) == 2:
        return f"{int(hour):02d}:{minute}"
    raise ValueError(
        bilingual(
            f'時刻は "10:00" のように 24 時間制で書いてください（{_shown(value)} ではなく）',
            f'write a time of day as "10:00" (24-hour clock), not {_shown(value)}',
        )
    )


def _weekday(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    text = str(value).strip().lower()[:3]
    if text in WEEKDAYS:
        return WEEKDAYS.index(text)
    raise ValueError(
        bilingual(
            f"曜日は mon, tue, wed, thu, fri, sat, sun のどれかで書いてください（{_shown(value)} ではなく）",
            f"write the weekday as one of mon, tue, wed, thu, fri, sat, sun, not {_shown(value)}",
        )
    )


def parse_plan_time(value: Any, zone: str) -> float:
    """An ISO 8601 date and time (or a datetime from YAML) -> POSIX seconds; without an offset, in ``zone``."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                bilingual(
                    f"{text!r} は日時ではありません（例: 2026-11-10T09:00+09:00）",
                    f"{text!r} is not a date and time (e.g. 2026-11-10T09:00+09:00)",
                )
            ) from None
    else:
        raise ValueError(
            bilingual(
                f"日時は 2026-11-10T09:00+09:00 のように書いてください（{_shown(value)} ではなく）",
                f"write a date and time such as 2026-11-10T09:00+09:00, not {_shown(value)}",
            )
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    return moment.timestamp()


def _checked_moment(value: Any) -> Any:
    parse_plan_time(value, "UTC")  # the form only; the zone is applied when the site is built
    return value


Source = Annotated[str, BeforeValidator(_source)]
Target = Annotated[str, BeforeValidator(_target)]
ClockTime = Annotated[str, BeforeValidator(_clock_time)]
Weekday = Annotated[int, BeforeValidator(_weekday)]
Moment = Annotated[Any, BeforeValidator(_checked_moment)]


class WorkPlanIn(Strict):
    start: Moment | None = None
    end: Moment | None = None
    every: Literal["day", "week", "month"] | None = None
    time: ClockTime = "00:00"
    duration: Duration | None = None
    day: int | None = Field(None, ge=1, le=31)
    weekday: Weekday | None = None
    targets: Annotated[tuple[Target, ...], BeforeValidator(_one_or_many)] = ()
    ports: Annotated[tuple[Port, ...], BeforeValidator(_one_or_many)] = ()
    accounts: Annotated[tuple[str, ...], BeforeValidator(_one_or_many)] = ()
    ticket: str = Field("", max_length=200)
    note: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _one_kind(self) -> WorkPlanIn:
        once = self.start is not None or self.end is not None
        if once and self.every is not None:
            raise ValueError(
                bilingual(
                    "start/end（1 回の作業）と every（繰り返し）は同じ計画に書けません。計画を分けてください",
                    "a plan is either start/end (one-off) or every (recurring), not both: split it in two",
                )
            )
        if once:
            if self.start is None or self.end is None:
                raise ValueError(bilingual("start と end の両方が必要です", "both start and end are needed"))
            return self
        if self.every is None:
            raise ValueError(
                bilingual(
                    "作業の時間を start/end か every（day, week, month）で書いてください",
                    "give the plan's time as start/end or every (day, week, month)",
                )
            )
        if self.duration is None or not 0 < self.duration <= _MAX_DURATION:
            raise ValueError(
                bilingual(
                    '繰り返しの計画には duration（例: "2h"、7 日まで）が必要です',
                    'a recurring plan needs a duration (e.g. "2h", at most 7 days)',
                )
            )
        if self.every == "week" and self.weekday is None:
            raise ValueError(bilingual("every: week には weekday が必要です", "every: week needs a weekday"))
        if self.every == "month" and self.day is None:
            raise ValueError(bilingual("every: month には day が必要です", "every: month needs a day (1-31)"))
        return self


class VendorIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    sources: Annotated[tuple[Source, ...], BeforeValidator(_one_or_many)] = ()
    accounts: Annotated[tuple[str, ...], BeforeValidator(_one_or_many)] = ()
    devices: Annotated[tuple[Target, ...], BeforeValidator(_one_or_many)] = ()
    work_plans: tuple[WorkPlanIn, ...] = ()
    note: str = Field("", max_length=500)

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for account in value:
            if not account.strip() or len(account) > 256:
                raise ValueError(bilingual("アカウント名が空か長すぎます", "an account name is empty or too long"))
        return value


def plan_of(plan: WorkPlanIn, ident: str, zone: str, origin: str = "file") -> WorkPlan:
    return WorkPlan(
        ident=ident,
        start=parse_plan_time(plan.start, zone) if plan.start is not None else None,
        end=parse_plan_time(plan.end, zone) if plan.end is not None else None,
        every=plan.every,
        time=plan.time,
        duration=plan.duration or 0.0,
        day=plan.day,
        weekday=plan.weekday,
        targets=tuple(dict.fromkeys(plan.targets)),
        ports=tuple(dict.fromkeys(plan.ports)),
        accounts=tuple(dict.fromkeys(a.strip() for a in plan.accounts)),
        ticket=plan.ticket,
        note=plan.note,
        origin=origin,
    )


def vendors_of(items: tuple[VendorIn, ...], zone: str) -> tuple[Vendor, ...]:
    return tuple(
        Vendor(
            name=v.name,
            sources=tuple(dict.fromkeys(v.sources)),
            accounts=tuple(dict.fromkeys(a.strip() for a in v.accounts)),
            devices=tuple(dict.fromkeys(v.devices)),
            work_plans=tuple(plan_of(p, f"file:{v.name}:{i + 1}", zone) for i, p in enumerate(v.work_plans)),
            note=v.note,
        )
        for v in items
    )


def vendor_checks(raw: dict[str, Any], problem: Problem) -> None:
    """A vendor name used twice; a one-off plan that ends before it starts (in any zone: the order holds)."""
    names: dict[str, int] = {}
    for index, vendor in _items(raw.get("vendors")):
        name = vendor.get("name")
        if isinstance(name, str) and name.strip():
            if name.strip() in names:
                problem(
                    ("vendors", index, "name"),
                    bilingual(
                        f"業者名 {name!r} は 2 回使われています（vendors[{names[name.strip()]}]）",
                        f"vendor name {name!r} is used twice (vendors[{names[name.strip()]}])",
                    ),
                )
            names.setdefault(name.strip(), index)
        for p_index, plan in _items(vendor.get("work_plans")):
            try:
                start = parse_plan_time(plan.get("start"), "UTC")
                end = parse_plan_time(plan.get("end"), "UTC")
            except ValueError:
                continue  # missing or unreadable: the schema says so
            if end <= start:
                problem(
                    ("vendors", index, "work_plans", p_index, "end"),
                    bilingual("end が start より前（または同時）です", "end is not after start"),
                )
