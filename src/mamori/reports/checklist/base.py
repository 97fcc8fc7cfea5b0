"""The types every evidence provider uses (docs/design.md §10): a line of evidence in both languages, the evidence
for one item with its proposed answer, what a provider may read, and the provider's registration."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.model import Site
from mamori.storage import Store

__all__ = ["NO", "RECENT", "YES", "Evidence", "EvidenceContext", "EvidenceLine", "Provider", "ProviderFunc", "day"]

YES, NO = "yes", "no"
RECENT = 30 * 86400


@dataclass(frozen=True)
class EvidenceLine:
    ja: str
    en: str
    link: str = ""  # a dashboard path (``/assets/``), shown as a link on the page and as text in files
    figures: Mapping[str, Any] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return self.ja if lang == "ja" else self.en


@dataclass(frozen=True)
class Evidence:
    form: str  # medical | vendor (every vendor's form) | vendor:<name> (that vendor's only) | heasnet-small
    item: str
    source: str  # the provider's name
    lines: tuple[EvidenceLine, ...]
    proposed: str | None = None  # yes | no | None (no proposal)
    observed: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "proposed": self.proposed or "",
            "observed": self.observed,
            "lines": [{"ja": x.ja, "en": x.en, "link": x.link, "figures": dict(x.figures)} for x in self.lines],
        }


@dataclass(frozen=True)
class EvidenceContext:
    """What providers may read: the store, the site model of the settings file, the evidence archive (its folder
    and the key to check its signatures), and the time; on the central server, the site whose rows to read."""

    store: Store | None
    site: Site
    now: float
    archive_root: Path | None = None
    archive_verifier: Any = None  # mamori.storage.archive_keys.Verifier, or None: signatures not checked
    archive_keep_days: int | None = None
    # the central server: the evidence of this site only, from its rows in the central store (None: this box's own)
    central_site: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """One value per context (an archive is verified once for all the items that cite it)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


ProviderFunc = Callable[[EvidenceContext], Iterable[Evidence]]


@dataclass(frozen=True)
class Provider:
    name: str
    items: tuple[tuple[str, str], ...]  # (form, item) pairs it speaks to
    func: ProviderFunc


def day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).astimezone().strftime("%Y-%m-%d")
