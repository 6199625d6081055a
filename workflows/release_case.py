"""ReleaseCaseWorkflow: one durable workflow per mortgage-release case.

Workflow id = case id. The workflow owns the case's progress; every step is
mirrored into PostgreSQL through activities so people can search and audit."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CaseActivities
    from activities.guarantor_activities import GuarantorActivities
    from activities.notification_activities import NotificationActivities
    from activities.ocr_activities import OcrActivities
    from kernel.settings import OCR_TASK_QUEUE
    from kernel.temporal import CASE_STATUS_ATTR, RISK_GRADE_ATTR
    from models.enums import (
        REQUIRED_DOC_TYPES,
        CaseStatus,
        DecisionKind,
        DocType,
        Milestone,
        RiskGrade,
        TaskKind,
    )
    from models.payloads import (
        AssessRiskInput,
        CaseRef,
        CaseState,
        CaseTimings,
        CloseTaskInput,
        DecisionOutcome,
        DecisionRequest,
        DocumentUploaded,
        LedgerUpdated,
        NotifyCustomerInput,
        OpenTask,
        OpenTaskInput,
        RecordDecisionInput,
        RecordTransitionInput,
        RegistryResult,
        ReleaseCaseInput,
        ReviewDocumentInput,
        RiskResult,
        TaskSlaInput,
    )
    from workflows.decisions import DecisionRefused, DecisionRules
    from workflows.policies import DB_ACTIVITY, EXTERNAL_ACTIVITY, OCR_ACTIVITY
    from workflows.registry_step import RegistryStep


@workflow.defn
class ReleaseCaseWorkflow(RegistryStep):
    def __init__(self) -> None:
        self._case_id = ""
        self._status = CaseStatus.AWAITING_DOCUMENTS
        self._step = "starting"
        self._round = 1
        self._documents: dict[DocType, str] = {}
        self._risk: RiskResult | None = None
        self._task: OpenTask | None = None
        self._approvals: list[str] = []
        self._decision: DecisionRequest | None = None
        self._seen_requests: set[str] = set()
        self._ledger_changed = False
        self._registry_result: RegistryResult | None = None
        self._registry_key: str | None = None
        self._rejection = ""
        self._opened_by = ""
        self._task_seq = 0
        self._event_seq = 0
        self._timings = CaseTimings()

    # --- the case, step by step ---------------------------------------------

    @workflow.run
    async def run(self, case: ReleaseCaseInput) -> CaseState:
        self._case_id = case.case_id
        self._opened_by = case.opened_by
        self._timings = case.timings
        await self._notify(Milestone.RECEIVED)
        outcome = await self._run_rounds()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.logger.info("case closed", extra={"status": outcome.value})
        return self.state()

    async def _run_rounds(self) -> CaseStatus:
        while True:
            await self._enter(CaseStatus.AWAITING_DOCUMENTS, "waiting_for_documents")
            if not await self._wait_for_documents():
                await self._notify(Milestone.CANCELLED)
                return await self._close(CaseStatus.CANCELLED, "documents_timed_out")
            await self._enter(CaseStatus.IN_REVIEW, "verifying_repayment")
            if not await self._wait_for_settlement():
                reason = "the loan was not settled within 30 days"
                await self._notify(Milestone.REJECTED, detail=reason)
                return await self._close(CaseStatus.REJECTED, "not_settled", reason=reason)
            await self._review()
            verdict = await self._human_decisions()
            if verdict == DecisionKind.REQUEST_DOCUMENTS:
                continue
            if verdict == DecisionKind.REJECT:
                return await self._reject_by_decision()
            await self._notify(Milestone.APPROVED)
            # Added while cases were already running: histories recorded before
            # this step (tests/histories/*_before_guarantor.json) must replay.
            if workflow.patched(GUARANTOR_RELEASE_PATCH):
                await self._confirm_guarantor_release()
            registry_verdict = await self._deregister()
            if registry_verdict == DecisionKind.REQUEST_DOCUMENTS:
                continue
            if registry_verdict == DecisionKind.REJECT:
                return await self._reject_by_decision()
            await self._notify(Milestone.COMPLETED)
            return await self._close(CaseStatus.COMPLETED, "mortgage_released")

    async def _wait_for_documents(self) -> bool:
        if self._missing_documents():
            await self._notify(
                Milestone.DOCUMENTS_MISSING,
                detail="、".join(DOC_LABELS[d] for d in self._missing_documents()),
                only_after_first_round=True,
            )
        try:
            await workflow.wait_condition(
                lambda: not self._missing_documents(), timeout=self._timings.documents_deadline
            )
        except TimeoutError:
            return False
        return True

    async def _wait_for_settlement(self) -> bool:
        deadline = workflow.now() + self._timings.settlement_deadline
        while True:
            check = await workflow.execute_activity_method(
                CaseActivities.verify_repayment, CaseRef(case_id=self._case_id), **DB_ACTIVITY
            )
            if check.settled:
                await self._event("repayment.verified", {"reason": check.reason})
                return True
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                return False
            self._step = "waiting_for_settlement"
            await self._event("repayment.pending", {"reason": check.reason})
            self._ledger_changed = False
            try:
                # Re-check daily, or as soon as the ledger tells us it changed.
                await workflow.wait_condition(
                    lambda: self._ledger_changed,
                    timeout=min(self._timings.ledger_recheck, remaining),
                )
            except TimeoutError:
                pass

    async def _review(self) -> None:
        self._step = "ocr_review"
        reviews = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    OcrActivities.review_document,
                    ReviewDocumentInput(case_id=self._case_id, document_id=document_id),
                    task_queue=OCR_TASK_QUEUE,
                    **OCR_ACTIVITY,
                )
                for document_id in self._documents.values()
            )
        )
        self._step = "risk_check"
        self._risk = await workflow.execute_activity_method(
            CaseActivities.assess_risk,
            AssessRiskInput(case_id=self._case_id, round=self._round, reviews=list(reviews)),
            **DB_ACTIVITY,
        )
        workflow.upsert_search_attributes([RISK_GRADE_ATTR.value_set(self._risk.grade.value)])
        await self._event(
            "review.completed",
            {"grade": self._risk.grade.value, "reasons": self._risk.reasons},
            risk_grade=self._risk.grade,
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

    async def _confirm_guarantor_release(self) -> None:
        self._step = "confirming_guarantor_release"
        release = await workflow.execute_activity_method(
            GuarantorActivities.confirm_guarantor_release,
            CaseRef(case_id=self._case_id),
            **EXTERNAL_ACTIVITY,
        )
        if release.needed:
            event = "guarantor.released" if release.confirmed else "guarantor.unreachable"
            await self._event(event, {"guarantor": release.guarantor})

    async def _ask(self, kind: TaskKind, details: dict) -> DecisionKind:
        """Open a human task and wait for the decision on it."""
        self._task_seq += 1
        opened = workflow.now()
        # Known to the validator before anyone can see the task in the inbox,
        # so a quick operator is never told "no decision is expected now".
        self._decision = None
        self._task = OpenTask(
            task_id=f"{self._case_id}-{self._task_seq}-{kind.value}",
            kind=kind,
            round=self._round,
            due_at=opened + self._timings.sla_for(kind),
        )
        await self._enter(CaseStatus.AWAITING_APPROVAL, f"awaiting_{kind.value}")
        await workflow.execute_activity_method(
            CaseActivities.open_task,
            OpenTaskInput(
                case_id=self._case_id,
                task_id=self._task.task_id,
                kind=kind,
                round=self._round,
                details=details,
                due_at=self._task.due_at,
            ),
            **DB_ACTIVITY,
        )
        await self._await_decision(opened, self._timings.sla_for(kind))
        decision, task = self._decision, self._task
        self._decision, self._task = None, None
        await workflow.execute_activity_method(
            CaseActivities.close_task, CloseTaskInput(task_id=task.task_id), **DB_ACTIVITY
        )
        if decision.decision == DecisionKind.REQUEST_DOCUMENTS:
            wanted = decision.documents or list(REQUIRED_DOC_TYPES)
            for doc_type in wanted:
                self._documents.pop(doc_type, None)
            self._round += 1
        if decision.decision == DecisionKind.REJECT:
            self._rejection = decision.comment or "rejected by an operator"
        return decision.decision

    async def _await_decision(self, opened: datetime, sla: timedelta) -> None:
        """Wait for the decision; remind at 75 % of the SLA, escalate at 100 %."""
        for stage, fraction in (("reminder", REMINDER_AT), ("escalation", 1.0)):
            remaining = opened + sla * fraction - workflow.now()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: self._decision is not None, timeout=remaining
                    )
                    return
                except TimeoutError:
                    pass
            if self._decision is not None:
                return
            await self._sla_stage(stage)
        await workflow.wait_condition(lambda: self._decision is not None)

    async def _sla_stage(self, stage: str) -> None:
        task = self._task
        alert = TaskSlaInput(
            case_id=self._case_id,
            task_id=task.task_id,
            kind=task.kind,
            stage=stage,
            due_at=task.due_at,
        )
        await workflow.execute_activity_method(CaseActivities.mark_task_sla, alert, **DB_ACTIVITY)
        if stage == "escalation":
            self._task = task.model_copy(update={"escalated": True})
        await workflow.execute_activity_method(
            NotificationActivities.notify_staff, alert, **EXTERNAL_ACTIVITY
        )

    async def _reject_by_decision(self) -> CaseStatus:
        reason = self._rejection
        await self._notify(Milestone.REJECTED, detail=reason)
        return await self._close(CaseStatus.REJECTED, "rejected", reason=reason)

    # --- messages --------------------------------------------------------------

    @workflow.signal
    def document_uploaded(self, upload: DocumentUploaded) -> None:
        self._documents[upload.doc_type] = upload.document_id

    @workflow.signal
    def ledger_updated(self, _update: LedgerUpdated) -> None:
        self._ledger_changed = True

    @workflow.signal
    def registry_result(self, result: RegistryResult) -> None:
        self._registry_result = result

    @workflow.update
    async def decide(self, request: DecisionRequest) -> DecisionOutcome:
        """A human decision on the open task; the validator refuses bad ones
        before they reach the history."""
        return await self._accept(request)

    @decide.validator
    def _validate_decide(self, request: DecisionRequest) -> None:
        self._rules().check(request)

    @workflow.signal
    async def decide_signal(self, request: DecisionRequest) -> None:
        """The same decision for tools that can only signal; refusals are logged."""
        try:
            self._rules().check(request)
        except DecisionRefused as refused:
            workflow.logger.warning("decision signal refused", extra={"reason": str(refused)})
            await self._event(
                "decision.refused", {"reason": str(refused), "type": refused.type}, request.actor
            )
            return
        await self._accept(request)

    @workflow.query
    def state(self) -> CaseState:
        return CaseState(
            case_id=self._case_id,
            status=self._status,
            step=self._step,
            round=self._round,
            documents={k.value: v for k, v in self._documents.items()},
            missing_documents=self._missing_documents(),
            risk=self._risk,
            open_task=self._task,
            approvals=list(self._approvals),
            registry_key=self._registry_key,
        )

    def _rules(self) -> DecisionRules:
        return DecisionRules(
            status=self._status,
            task=self._task,
            approvals=self._approvals,
            pending=self._decision is not None,
            opened_by=self._opened_by,
            seen_requests=self._seen_requests,
        )

    async def _accept(self, request: DecisionRequest) -> DecisionOutcome:
        task = self._task
        assert task is not None  # the validator guarantees an open task
        if request.request_id:
            self._seen_requests.add(request.request_id)
        if request.decision == DecisionKind.APPROVE and task.kind in APPROVAL_KINDS:
            self._approvals.append(request.actor)
        self._decision = request
        await workflow.execute_activity_method(
            CaseActivities.record_decision,
            RecordDecisionInput(
                case_id=self._case_id,
                task_id=task.task_id,
                decision_ref=f"{task.task_id}:{request.decision.value}:{request.actor}",
                request=request,
            ),
            **DB_ACTIVITY,
        )
        return DecisionOutcome(
            status=self._status,
            step=self._step,
            message=f"{request.decision.value} recorded on {task.kind.value}",
        )

    # --- bookkeeping -----------------------------------------------------------

    def _missing_documents(self) -> list[DocType]:
        return [d for d in REQUIRED_DOC_TYPES if d not in self._documents]

    async def _enter(self, status: CaseStatus, step: str) -> None:
        self._status, self._step = status, step
        workflow.upsert_search_attributes([CASE_STATUS_ATTR.value_set(status.value)])
        await self._event(f"status.{status.value.lower()}", {})

    async def _close(self, status: CaseStatus, step: str, reason: str = "") -> CaseStatus:
        self._task = None
        await self._enter(status, step)
        if reason:
            await self._event("case.closed", {"reason": reason})
        return status

    async def _event(
        self,
        event: str,
        details: dict,
        actor: str = "system",
        risk_grade: RiskGrade | None = None,
    ) -> None:
        self._event_seq += 1
        await workflow.execute_activity_method(
            CaseActivities.record_transition,
            RecordTransitionInput(
                case_id=self._case_id,
                status=self._status,
                step=self._step,
                event=event,
                event_key=f"{workflow.info().run_id}:{self._event_seq}",
                actor=actor,
                details=details,
                risk_grade=risk_grade,
            ),
            **DB_ACTIVITY,
        )

    async def _notify(
        self, milestone: Milestone, detail: str = "", only_after_first_round: bool = False
    ) -> None:
        if only_after_first_round and self._round == 1:
            return  # the "received" message already lists what to upload
        await workflow.execute_activity_method(
            NotificationActivities.notify_customer,
            NotifyCustomerInput(
                case_id=self._case_id, milestone=milestone, round=self._round, detail=detail
            ),
            **EXTERNAL_ACTIVITY,
        )


GUARANTOR_RELEASE_PATCH = "guarantor-release-confirmation"
APPROVAL_KINDS = (TaskKind.APPROVAL, TaskKind.SECOND_APPROVAL)
REMINDER_AT = 0.75

DOC_LABELS = {
    DocType.SETTLEMENT_CERTIFICATE: "结清证明",
    DocType.ID_CARD: "身份证",
    DocType.VEHICLE_REGISTRATION_CERTIFICATE: "机动车登记证书",
    DocType.DRIVING_LICENSE: "行驶证",
}
