"""Small helpers the rules' ``Details.words`` use to phrase lists in either language."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["listed"]


def listed(names: Sequence[object], total: int, lang: str, shown: int = 3) -> str:
    """The first ``shown`` of ``names`` and how many of ``total`` are left out:
    ``a、b、c ほか 2 個`` / ``a, b, c and 2 others``."""
    head = [str(n) for n in names[:shown]]
    rest = total - len(head)
    if lang == "ja":
        return "、".join(head) + (f" ほか {rest:,} 個" if rest > 0 else "")
    return ", ".join(head) + (f" and {rest:,} other{'s' if rest > 1 else ''}" if rest > 0 else "")
