"""The Ministry's checklist filled with evidence (docs/design.md §10): the forms (``items``), the evidence
providers (``evidence``), the filled checklist (``build``), its XLSX and PDF (``output``) and the inspection pack
(``pack``)."""

from mamori.reports.checklist.build import Checklist, Row, build_checklist
from mamori.reports.checklist.evidence import (
    BUILTIN_PROVIDERS,
    Evidence,
    EvidenceContext,
    EvidenceLine,
    Provider,
    gather,
    providers,
)
from mamori.reports.checklist.items import FORMS, Form, Item, form

__all__ = [
    "BUILTIN_PROVIDERS",
    "FORMS",
    "Checklist",
    "Evidence",
    "EvidenceContext",
    "EvidenceLine",
    "Form",
    "Item",
    "Provider",
    "Row",
    "build_checklist",
    "form",
    "gather",
    "providers",
]
