"""The review step of ReleaseCaseWorkflow: read every document with OCR (on its
own task queue), grade the risk, then put the case in front of people —
a document review if OCR doubted anything, then one or two approvals.

A mixin of ReleaseCaseWorkflow; it uses its state (`_documents`, `_risk`,
`_round`…) and its `_guarded`, `_ask`, `_event`."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CaseActivities
    from activities.ocr_activities import OcrActivities
    from kernel.settings import OCR_TASK_QUEUE
    from kernel.temporal import RISK_GRADE_ATTR
    from models.enums import DecisionKind, DocType, Step, TaskKind
    from models.payloads import (
        AssessRiskInput,
        DocumentReview,
        ReviewDocumentInput,
        RiskResult,
    )
    from workflows.policies import DB_ACTIVITY, OCR_ACTIVITY


class ReviewStep:
    # The workflow's state this step reads and writes (ReleaseCaseWorkflow owns it);
    # it also uses the workflow's `_guarded`, `_carrying`, `_move_to`, `_index`,
    # `_event` and `_ask`.
    _case_id: str
    _round: int
    _resilient: bool
    _documents: dict[DocType, str]
    _risk: RiskResult | None
    _approvals: list[str]

    def _read(self, document_id: str):
        return self._carrying(
            lambda records: workflow.execute_activity_method(
                OcrActivities.review_document,
                ReviewDocumentInput(
                    case_id=self._case_id, document_id=document_id, records=records
                ),
                task_queue=OCR_TASK_QUEUE,
                **OCR_ACTIVITY,
            )
        )

    async def _review(self) -> None:
        self._move_to("ocr_review")
        documents = list(self._documents.items())
        if not self._resilient:
            reviews = await asyncio.gather(*(self._read(doc) for _, doc in documents))
        else:
            # Side by side; a document whose reading gave up is taken to a person
            # afterwards, one incident at a time.
            read = await asyncio.gather(
                *(self._read(doc) for _, doc in documents), return_exceptions=True
            )
            reviews = [
                await self._reviewed(doc_type, doc, outcome)
                for (doc_type, doc), outcome in zip(documents, read, strict=True)
            ]
        self._move_to("risk_check")
        self._risk = await self._guarded(
            Step.RISK_CHECK,
            lambda: self._carrying(
                lambda records: workflow.execute_activity_method(
                    CaseActivities.assess_risk,
                    AssessRiskInput(
                        case_id=self._case_id,
                        round=self._round,
                        reviews=list(reviews),
                        records=records,
                    ),
                    **DB_ACTIVITY,
                )
            ),
        )
        self._index(RISK_GRADE_ATTR.value_set(self._risk.grade.value))
        await self._event(
            "review.completed",
            {"grade": self._risk.grade.value, "reasons": self._risk.reasons},
            risk_grade=self._risk.grade,
        )

    async def _reviewed(self, doc_type: DocType, document_id: str, outcome) -> DocumentReview:
        if isinstance(outcome, DocumentReview):
            return outcome
        if not isinstance(outcome, ActivityError):
            raise outcome
        review = await self._guarded(
            Step.OCR_REVIEW, lambda: self._read(document_id), failed=outcome
        )
        # Skipped: nobody read it, so a person reviews it before anyone approves.
        return review or DocumentReview(
            document_id=document_id,
            doc_type=doc_type,
            needs_review=True,
            issues=["not read by OCR (the step was skipped after it failed)"],
        )

    async def _human_decisions(self) -> DecisionKind:
        """Document review (if OCR doubted anything), then one or two approvals."""
        assert self._risk is not None
        self._approvals = []
        if self._risk.needs_document_review:
            verdict = await self._ask(
                TaskKind.DOCUMENT_REVIEW,
                {
                    "reasons": self._risk.reasons,
                    "mismatches": [m.model_dump(mode="json") for m in self._risk.mismatches],
                },
            )
            if verdict != DecisionKind.APPROVE:
                return verdict
        details = {"grade": self._risk.grade.value, "reasons": self._risk.reasons}
        verdict = await self._ask(TaskKind.APPROVAL, details)
        if verdict != DecisionKind.APPROVE or self._risk.required_approvals < 2:
            return verdict
        return await self._ask(TaskKind.SECOND_APPROVAL, {**details, "first": self._approvals})
