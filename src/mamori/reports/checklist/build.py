"""A form filled: each item with mamori's evidence, the proposed answer, and the answer a person confirmed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mamori.reports.checklist.evidence import NO, YES, Evidence, EvidenceContext, Provider, gather
from mamori.reports.checklist.items import Form, Item, form
from mamori.storage import Answer, AnswerTable

__all__ = ["Checklist", "Row", "build_checklist"]


@dataclass(frozen=True)
class Row:
    item: Item
    evidence: tuple[Evidence, ...]
    proposed: str | None  # yes | no | None: what the evidence suggests, never final by itself
    answer: Answer | None  # what a person confirmed (None: not answered yet)

    @property
    def observed(self) -> bool:
        return any(e.observed for e in self.evidence)


@dataclass(frozen=True)
class Checklist:
    key: str  # medical | vendor:<name> | heasnet-small
    form: Form
    rows: tuple[Row, ...]
    site: str
    made_at: float

    @property
    def vendor(self) -> str:
        return self.key.split(":", 1)[1] if ":" in self.key else ""

    def counts(self) -> dict[str, int]:
        answered = [r for r in self.rows if r.answer is not None]
        return {
            "items": len(self.rows),
            "answered": len(answered),
            "yes": sum(1 for r in answered if r.answer and r.answer.answer == YES),
            "no": sum(1 for r in answered if r.answer and r.answer.answer == NO),
            "unconfirmed_text": sum(1 for r in self.rows if not r.item.confirmed),
        }


def _proposal(evidence: Iterable[Evidence]) -> str | None:
    proposals = [e.proposed for e in evidence if e.proposed]
    if NO in proposals:
        return NO
    return YES if proposals else None


def build_checklist(
    key: str, ctx: EvidenceContext, *, registry: Iterable[Provider] | None = None, site_name: str = ""
) -> Checklist:
    """The form of ``key`` filled from ``ctx`` (answers read from its store)."""
    the_form = form(key)
    found = gather(ctx, registry)
    # A site's answers are confirmed on its own dashboard (the central answers table is the central box's own).
    answers = AnswerTable(ctx.store).current(key) if ctx.store is not None and ctx.central_site is None else {}
    rows = []
    for item in the_form.items:
        evidence = tuple(found.get((the_form.key, item.number), ()))
        if key != the_form.key:  # a vendor's own form: that vendor's evidence too
            evidence += tuple(found.get((key, item.number), ()))
        rows.append(Row(item, evidence, _proposal(evidence), answers.get(item.number)))
    return Checklist(key, the_form, tuple(rows), site_name or ctx.central_site or ctx.site.name, ctx.now)
