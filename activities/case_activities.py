"""Activities that keep the case record in PostgreSQL in step with the workflow."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities.adapters.ledger import Ledger, LoanRecord
from activities.bookkeeping import write_transitions
from activities.errors import CASE_NOT_FOUND, LOAN_NOT_FOUND, business_error
from kernel.db import SessionFactory
from models.audit import append_event
from models.crosscheck import ExpectedFacts, cross_check, shorter_names
from models.enums import DocType, LoanStatus, SlaStage, TaskKind, TaskQueue, TaskState
from models.payloads import (
    AssessRiskInput,
    CaseRef,
    CloseTaskInput,
    OpenTask,
    OpenTaskInput,
    RecordDecisionInput,
    RecordTransitionInput,
    RecordTransitionsInput,
    RepaymentCheck,
    RiskResult,
    SyncedDocuments,
    TaskSlaInput,
)
from models.risk import RiskFacts, assess
from models.tables import Case, Decision, Document, HumanTask, OcrResult, RiskAssessment, utcnow


class CaseActivities:
    def __init__(self, sessions: SessionFactory, ledger: Ledger) -> None:
        self._sessions = sessions
        self._ledger = ledger

    async def _case(self, session, case_id: str) -> Case:
        case = await session.get(Case, case_id)
        if case is None:
            raise business_error(CASE_NOT_FOUND, f"case {case_id} does not exist")
        return case

    async def _loan(self, contract_no: str) -> LoanRecord:
        loan = await self._ledger.get_loan(contract_no)
        if loan is None:
            raise business_error(LOAN_NOT_FOUND, f"loan {contract_no} is not in the ledger")
        return loan

    @activity.defn
    async def record_transition(self, step: RecordTransitionInput) -> None:
        """Move the case row to the workflow's status/step and append an audit event."""
        async with self._sessions() as session, session.begin():
            await write_transitions(session, [step])

    @activity.defn
    async def record_transitions(self, request: RecordTransitionsInput) -> RecordTransitionsInput:
        """Bookkeeping with no step to ride on (run as a local activity). Returns what it
        wrote: a local activity's input is not in the history, its result is."""
        async with self._sessions() as session, session.begin():
            await write_transitions(session, request.records)
        return request

    @activity.defn
    async def verify_repayment(self, ref: CaseRef) -> RepaymentCheck:
        """Ask the ledger whether the loan behind the case is fully repaid."""
        async with self._sessions() as session, session.begin():
            await write_transitions(session, ref.records)
            case = await self._case(session, ref.case_id)
        loan = await self._loan(case.loan_contract_no)
        settled = loan.status == LoanStatus.SETTLED and loan.outstanding_amount <= 0
        if settled:
            reason = f"settled on {loan.settled_at}" if loan.settled_at else "settled"
        elif loan.status == LoanStatus.SETTLED:
            reason = f"marked settled but {loan.outstanding_amount} still outstanding"
        else:
            reason = f"loan is {loan.status} with {loan.outstanding_amount} outstanding"
        return RepaymentCheck(
            settled=settled,
            settled_at=loan.settled_at,
            outstanding_amount=str(loan.outstanding_amount),
            reason=reason,
            has_guarantor=bool(loan.guarantor),
        )

    @activity.defn
    async def assess_risk(self, request: AssessRiskInput) -> RiskResult:
        """Cross-check the OCR readings with case and ledger, then grade the risk."""
        async with self._sessions() as session, session.begin():
            await write_transitions(session, request.records)
            case = await self._case(session, request.case_id)
            loan = await self._loan(case.loan_contract_no)
            expected = ExpectedFacts(
                name=case.borrower_name,
                id_number=case.borrower_id_number,
                plate_no=case.plate_no,
                vin=case.vin,
                contract_no=case.loan_contract_no,
                lender=loan.lender,
                ledger_settled_at=loan.settled_at,
            )
            document_ids = [review.document_id for review in request.reviews]
            readings = list(
                (
                    await session.exec(
                        select(OcrResult).where(OcrResult.document_id.in_(document_ids))
                    )
                ).scalars()
            )
            # A name that is the ID card's with a character lost: said as such, so
            # the reviewer looks for the lost character rather than another person.
            name_doubts = [
                f"{doc_type.value}: {doubt['detail']}"
                for doc_type, doubt in shorter_names(
                    {DocType(r.doc_type): r.fields for r in readings}
                ).items()
            ]
            mismatches = []
            for reading in readings:
                found = cross_check(DocType(reading.doc_type), reading.fields, expected)
                reading.mismatches = [m.model_dump(mode="json") for m in found]
                session.add(reading)
                mismatches.extend(found)
            earlier = (
                await session.exec(
                    select(func.count())
                    .select_from(Case)
                    .where(Case.vin == case.vin, Case.case_id != case.case_id)
                )
            ).scalar_one()
            result = assess(
                RiskFacts(
                    today=datetime.now(UTC).date(),
                    settled_at=loan.settled_at,
                    outstanding_amount=loan.outstanding_amount,
                    mismatches=mismatches,
                    documents_needing_review=[
                        f"{r.doc_type.value}: {issue}"
                        for r in request.reviews
                        for issue in (r.issues or ["low confidence"])
                        if r.needs_review
                    ]
                    + name_doubts,
                    case_vs_ledger_differences=_case_vs_ledger(case, loan),
                    earlier_cases_on_vehicle=earlier,
                )
            )
            activity.logger.info(
                "risk assessed", extra={"grade": result.grade.value, "reasons": len(result.reasons)}
            )
            session.add(
                RiskAssessment(
                    case_id=case.case_id,
                    round=request.round,
                    grade=result.grade.value,
                    reasons=result.reasons,
                    required_approvals=result.required_approvals,
                )
            )
            await append_event(
                session,
                stream=case.case_id,
                event="risk.assessed",
                actor="system",
                details={"round": request.round, **result.model_dump(mode="json")},
                event_key=f"{case.case_id}:risk:{request.round}:{activity.info().workflow_run_id}",
            )
        return result

    @activity.defn
    async def open_task(self, request: OpenTaskInput) -> OpenTask:
        """Create the human task (once, however often the activity retries)."""
        task_id = request.task_id
        async with self._sessions() as session, session.begin():
            await write_transitions(session, request.records)
            await session.exec(
                insert(HumanTask)
                .values(
                    task_id=task_id,
                    case_id=request.case_id,
                    kind=request.kind.value,
                    state=TaskState.OPEN.value,
                    round=request.round,
                    details=request.details,
                    due_at=request.due_at,
                    queue=request.queue,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["task_id"])
            )
            # An incident's record says what gave up, how and how often.
            incident = request.kind == TaskKind.INCIDENT
            await append_event(
                session,
                stream=request.case_id,
                event="incident.opened" if incident else "task.opened",
                actor="system",
                details={
                    "task_id": task_id,
                    "kind": request.kind.value,
                    **(request.details if incident else {}),
                },
                event_key=f"{task_id}:opened",
            )
        return OpenTask(
            task_id=task_id, kind=request.kind, round=request.round, due_at=request.due_at
        )

    @activity.defn
    async def mark_task_sla(self, request: TaskSlaInput) -> None:
        """Record a reminder, move an overdue task to the senior queue, or note that
        it is still overdue (`overdue-N`, once each SLA period after the escalation)."""
        stage = SlaStage.of(request.stage)
        escalation = stage == SlaStage.ESCALATION
        now = utcnow()
        async with self._sessions() as session, session.begin():
            values = (
                {"escalated_at": now, "queue": TaskQueue.SENIOR}
                if escalation
                else {"reminded_at": now}
            )
            if stage in (SlaStage.REMINDER, SlaStage.ESCALATION):
                await session.exec(
                    update(HumanTask)
                    .where(HumanTask.task_id == request.task_id, HumanTask.state == TaskState.OPEN)
                    .values(**values)
                )
            if escalation:
                await session.exec(
                    update(Case).where(Case.case_id == request.case_id).values(sla_breached=True)
                )
            what = {SlaStage.REMINDER: "reminded", SlaStage.ESCALATION: "escalated"}.get(
                stage, "overdue"
            )
            await append_event(
                session,
                stream=request.case_id,
                event=f"task.{what}",
                actor="sla",
                details={
                    "task_id": request.task_id,
                    "kind": request.kind.value,
                    "due_at": request.due_at.isoformat(),
                },
                event_key=f"{request.task_id}:{request.stage}",
            )

    @activity.defn
    async def close_task(self, request: CloseTaskInput) -> None:
        async with self._sessions() as session, session.begin():
            await write_transitions(session, request.records)
            await _close_task(session, request.task_id, request.cancelled)

    @activity.defn
    async def sync_documents(self, ref: CaseRef) -> SyncedDocuments:
        """The newest document of each type the case has in the database."""
        async with self._sessions() as session:
            rows = (
                await session.exec(
                    select(Document.doc_type, Document.document_id)
                    .where(Document.case_id == ref.case_id)
                    .order_by(Document.created_at, Document.document_id)
                )
            ).all()
        return SyncedDocuments(documents={DocType(kind): doc for kind, doc in rows})

    @activity.defn
    async def record_decision(self, request: RecordDecisionInput) -> RecordDecisionInput:
        """Record a person's decision (and close its task). Returns what it recorded, for
        the history's timeline (run as a local activity, its input is not kept)."""
        decision = request.request
        async with self._sessions() as session, session.begin():
            await session.exec(
                insert(Decision)
                .values(
                    decision_ref=request.decision_ref,
                    case_id=request.case_id,
                    task_id=request.task_id,
                    actor=decision.actor,
                    role=decision.role.value,
                    decision=decision.decision.value,
                    comment=decision.comment,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["decision_ref"])
            )
            await append_event(
                session,
                stream=request.case_id,
                event=f"decision.{decision.decision.value}",
                actor=decision.actor,
                details={
                    "task_id": request.task_id,
                    "role": decision.role.value,
                    "comment": decision.comment,
                    "documents": [d.value for d in decision.documents],
                },
                event_key=f"{request.decision_ref}:recorded",
            )
            if request.close_task and request.task_id:
                await _close_task(session, request.task_id, cancelled=False)
        return request


async def _close_task(session, task_id: str, cancelled: bool) -> None:
    state = TaskState.CANCELLED if cancelled else TaskState.DONE
    closed = await session.exec(
        update(HumanTask)
        .where(HumanTask.task_id == task_id, HumanTask.state == TaskState.OPEN)
        .values(state=state.value, closed_at=utcnow())
        .returning(HumanTask.case_id)
    )
    case_id = closed.scalar_one_or_none()
    if case_id is not None:
        # Nobody holds a case whose task is closed, however it closed.
        await session.exec(update(Case).where(Case.case_id == case_id).values(assignee=None))


def _case_vs_ledger(case: Case, loan: LoanRecord) -> list[str]:
    pairs = [
        ("borrower name", case.borrower_name, loan.borrower_name),
        ("ID number", case.borrower_id_number, loan.id_number),
        ("plate", case.plate_no, loan.plate_no),
        ("VIN", case.vin, loan.vin),
    ]
    return [
        label for label, ours, theirs in pairs if ours.strip().upper() != theirs.strip().upper()
    ]
