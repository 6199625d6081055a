"""First risk rule set: pure functions from facts to a grade and reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from models.enums import RiskGrade
from models.payloads import FieldMismatch, RiskResult

RECENT_SETTLEMENT_DAYS = 3
# Fields whose mismatch suggests the wrong person or the wrong car, not a typo.
IDENTITY_FIELDS = frozenset({"id_number", "vin"})
_ORDER = [RiskGrade.LOW, RiskGrade.MEDIUM, RiskGrade.HIGH]


@dataclass
class RiskFacts:
    today: date
    settled_at: date | None
    outstanding_amount: Decimal
    mismatches: list[FieldMismatch] = field(default_factory=list)
    documents_needing_review: list[str] = field(default_factory=list)
    case_vs_ledger_differences: list[str] = field(default_factory=list)
    earlier_cases_on_vehicle: int = 0


def _max(a: RiskGrade, b: RiskGrade) -> RiskGrade:
    return a if _ORDER.index(a) >= _ORDER.index(b) else b


def assess(facts: RiskFacts) -> RiskResult:
    grade = RiskGrade.LOW
    reasons: list[str] = []

    def flag(level: RiskGrade, reason: str) -> None:
        nonlocal grade
        grade = _max(grade, level)
        reasons.append(reason)

    for difference in facts.case_vs_ledger_differences:
        flag(RiskGrade.HIGH, f"case data differs from the loan ledger: {difference}")
    for mismatch in facts.mismatches:
        level = RiskGrade.HIGH if mismatch.field in IDENTITY_FIELDS else RiskGrade.MEDIUM
        flag(
            level,
            f"{mismatch.doc_type.value}.{mismatch.field}: document says "
            f"{mismatch.ocr_value!r}, expected {mismatch.expected!r}",
        )
    for issue in facts.documents_needing_review:
        flag(RiskGrade.MEDIUM, f"document needs review: {issue}")
    if facts.outstanding_amount > 0:
        flag(RiskGrade.HIGH, f"ledger still shows {facts.outstanding_amount} outstanding")
    if facts.settled_at is not None:
        days = (facts.today - facts.settled_at).days
        if days < RECENT_SETTLEMENT_DAYS:
            flag(
                RiskGrade.MEDIUM, f"settled only {max(days, 0)} day(s) ago; funds may not be final"
            )
    if facts.earlier_cases_on_vehicle:
        level = RiskGrade.HIGH if facts.earlier_cases_on_vehicle >= 2 else RiskGrade.MEDIUM
        flag(level, f"{facts.earlier_cases_on_vehicle} earlier release case(s) on this vehicle")

    return RiskResult(
        grade=grade,
        reasons=reasons,
        required_approvals=1 if grade == RiskGrade.LOW else 2,
        needs_document_review=bool(facts.mismatches or facts.documents_needing_review),
        mismatches=facts.mismatches,
    )
