"""The reconciler: what the case rows, the workflows and the outbox say must
agree, and a case nobody is moving is put in front of a person.

Run by a Temporal Schedule every few minutes (`workflows.reconcile`, repairing)
and by `jieya doctor` (reporting; `--repair` to fix). Each repair is written
to the case's audit trail with the actor `reconciler`."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.notification_activities import Messengers
from activities.outbox import Outbox, from_row
from kernel.case_client import case_handle, case_input, start_case
from kernel.db import SessionFactory
from kernel.logging import get_logger
from models.audit import append_event
from models.case_contract import CASE_WORKFLOW, CaseQuery, CaseSignal
from models.enums import OPEN_STATUSES, CaseStatus, DocType, OutboxStatus, TaskKind, TaskState
from models.payloads import CaseState, DocumentUploaded, StallReport
from models.reconcile import (
    Check,
    Finding,
    OpenIncident,
    ReconcileInput,
    ReconcileReport,
    idle_allowance,
)
from models.tables import Case, Document, HumanTask, Notification, utcnow

log = get_logger("jieya.reconcile")

# Younger than this, a disagreement may just be work in flight (a start, a
# send, Temporal's eventually consistent visibility).
GRACE = timedelta(minutes=1)
OUTBOX_BATCH = 200
FAILED_LISTED = 50
# A workflow task this often attempted is code that cannot run the case.
FAILING_TASK_ATTEMPTS = 3
QUERY_TIMEOUT = timedelta(seconds=5)


def _beat(note: str) -> None:
    if activity.in_activity():
        activity.heartbeat(note)


class Reconciler:
    def __init__(
        self,
        client: Client,
        sessions: SessionFactory,
        messengers: Messengers | None,
        callback_url: str | None,
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._messengers = messengers
        self._callback_url = callback_url
        self._outbox = Outbox(sessions)

    @activity.defn
    async def reconcile(self, request: ReconcileInput) -> ReconcileReport:
        """Find (and repair) disagreements between case rows, workflows and the outbox."""
        report = await self.run(repair=request.repair)
        activity.logger.info(
            "reconciled",
            extra={"findings": len(report.findings), "unresolved": len(report.unresolved)},
        )
        return report

    async def run(self, repair: bool) -> ReconcileReport:
        now = utcnow()
        report = ReconcileReport()
        running = await self._running_case_ids()
        rows = await self._open_rows()
        report.running_workflows, report.open_cases = len(running), len(rows)
        for case in rows:
            if case.case_id not in running and case.updated_at < now - GRACE:
                _beat(case.case_id)
                await self._workflow_of(case, report, repair)
        await self._failed_workflows(report)
        await self._outbox_pending(now, report, repair)
        busy = await self._cases_with_open_tasks()
        for case in rows:
            if case.case_id in running and case.case_id not in busy:
                await self._idle(case, now, report, repair)
        report.incidents = await self._open_incidents()
        return report

    # --- rows and workflows ----------------------------------------------------------

    async def _running_case_ids(self) -> set[str]:
        query = f"WorkflowType = '{CASE_WORKFLOW}' AND ExecutionStatus = 'Running'"
        return {execution.id async for execution in self._client.list_workflows(query)}

    async def _open_rows(self) -> list[Case]:
        async with self._sessions() as session:
            query = select(Case).where(Case.status.in_([s.value for s in OPEN_STATUSES]))
            return list((await session.exec(query)).scalars())

    async def _workflow_of(self, case: Case, report: ReconcileReport, repair: bool) -> None:
        """A case row that visibility lists no running workflow for."""
        handle = case_handle(self._client, case.case_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            finding = report.found(
                Check.WORKFLOW_MISSING,
                case.case_id,
                f"opened {case.created_at:%Y-%m-%d %H:%M} UTC, no workflow was started",
            )
            if repair:
                await start_case(self._client, case_input(case, self._callback_url))
                await self._repaired(finding, "workflow_started", "started its workflow")
            return
        status = description.status
        if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
            return  # visibility had not caught up
        if status == WorkflowExecutionStatus.COMPLETED:
            ended = await handle.result()
            new_status, new_step = ended.status, ended.step
        else:
            # Terminated or failed from outside: the case is over, whatever its row says.
            new_status, new_step = CaseStatus.CANCELLED, f"workflow_{status.name.lower()}"
        finding = report.found(
            Check.ROW_BEHIND,
            case.case_id,
            f"row says {case.status}, its workflow ended {status.name} as {new_status.value}",
        )
        if repair:
            await self._fix_row(case.case_id, new_status, new_step, finding.detail)
            finding.repaired, finding.action = True, f"row set to {new_status.value}"

    async def _fix_row(self, case_id: str, status: CaseStatus, step: str, reason: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.exec(
                update(Case)
                .where(Case.case_id == case_id)
                .values(status=status.value, step=step, updated_at=utcnow(), closed_at=utcnow())
            )
            await self._append(
                session, case_id, "row_repaired", {"status": status.value, "reason": reason}
            )

    async def _failed_workflows(self, report: ReconcileReport) -> None:
        query = f"WorkflowType = '{CASE_WORKFLOW}' AND ExecutionStatus = 'Failed'"
        found = 0
        async for execution in self._client.list_workflows(query, limit=FAILED_LISTED):
            found += 1
            report.found(
                Check.WORKFLOW_FAILED,
                execution.id,
                f"run {execution.run_id} ended Failed at {execution.close_time}",
            )

    # --- the outbox ----------------------------------------------------------------

    async def _outbox_pending(self, now: datetime, report: ReconcileReport, repair: bool) -> None:
        quiet_since = now - GRACE
        async with self._sessions() as session:
            rows = (
                (
                    await session.exec(
                        select(Notification)
                        .where(
                            Notification.status == OutboxStatus.PENDING,
                            Notification.created_at < quiet_since,
                            (Notification.last_attempt_at.is_(None))
                            | (Notification.last_attempt_at < quiet_since),
                        )
                        .order_by(Notification.created_at)
                        .limit(OUTBOX_BATCH)
                    )
                )
                .scalars()
                .all()
            )
        for row in rows:
            _beat(row.dedupe_key)
            finding = report.found(
                Check.OUTBOX_PENDING,
                row.case_id,
                f"{row.channel} {row.milestone} pending since {row.created_at:%H:%M:%S} "
                f"({row.attempts} attempts{', ' + row.last_error if row.last_error else ''})",
            )
            if repair and self._messengers is not None:
                await self._resend(row, finding)

    async def _resend(self, row: Notification, finding: Finding) -> None:
        try:
            went = await self._outbox.send(from_row(row), self._messengers.deliver)
        except Exception as error:  # remembered on the row by the outbox; next run tries again
            finding.action = f"resend failed: {type(error).__name__}: {error}"[:300]
            return
        await self._repaired(
            finding, "message_resent", "resent under its own key", key=row.dedupe_key, went=went
        )

    # --- idle cases ------------------------------------------------------------------

    async def _cases_with_open_tasks(self) -> set[str]:
        async with self._sessions() as session:
            query = select(HumanTask.case_id).where(HumanTask.state == TaskState.OPEN.value)
            return set((await session.exec(query)).scalars())

    async def _idle(self, case: Case, now: datetime, report: ReconcileReport, repair: bool) -> None:
        status = CaseStatus(case.status)
        if status == CaseStatus.AWAITING_DOCUMENTS:
            await self._lost_uploads(case, now, report, repair)
        idle_since = case.updated_at
        if now - idle_since < idle_allowance(status, case.step):
            return
        _beat(case.case_id)
        description = await case_handle(self._client, case.case_id).describe()
        raw = description.raw_description
        if raw.pending_workflow_task.attempt >= FAILING_TASK_ATTEMPTS:
            report.found(
                Check.WORKFLOW_TASK_FAILING,
                case.case_id,
                f"its workflow task failed {raw.pending_workflow_task.attempt} times: "
                "the deployed code cannot run this case (see the worker's log)",
            )
            return
        if raw.pending_activities:
            return  # something is at work (or retrying within its budget)
        finding = report.found(
            Check.STALLED,
            case.case_id,
            f"{case.status}/{case.step}, no task and nothing running since "
            f"{idle_since:%Y-%m-%d %H:%M} UTC",
        )
        if repair:
            report_in = StallReport(step=case.step, idle_since=idle_since, reason=finding.detail)
            await case_handle(self._client, case.case_id).signal(CaseSignal.REPORT_STALL, report_in)
            await self._repaired(finding, "stall_reported", "incident opened on the case")

    async def _lost_uploads(
        self, case: Case, now: datetime, report: ReconcileReport, repair: bool
    ) -> None:
        """Documents stored for the case whose signal never reached its workflow."""
        async with self._sessions() as session:
            stored = (
                await session.exec(
                    select(Document.document_id, Document.doc_type)
                    .where(Document.case_id == case.case_id, Document.created_at < now - GRACE)
                    .order_by(Document.created_at, Document.document_id)
                )
            ).all()
        if not stored:
            return
        try:
            state = await case_handle(self._client, case.case_id).query(
                CaseQuery.STATE, result_type=CaseState, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as error:
            report.found(
                Check.UNRESPONSIVE,
                case.case_id,
                f"its workflow did not answer ({error.status.name}): "
                "is a worker serving the case queue?",
            )
            return
        seen = set(state.seen_documents)
        for document_id, doc_type in stored:
            if document_id in seen:
                continue
            finding = report.found(
                Check.LOST_UPLOAD,
                case.case_id,
                f"{doc_type} {document_id} is stored but its workflow was never told",
            )
            if repair:
                await case_handle(self._client, case.case_id).signal(
                    CaseSignal.DOCUMENT_UPLOADED,
                    DocumentUploaded(document_id=document_id, doc_type=DocType(doc_type)),
                )
                await self._repaired(
                    finding, "upload_resent", "told its workflow again", document_id=document_id
                )

    async def _open_incidents(self) -> list[OpenIncident]:
        async with self._sessions() as session:
            tasks = (
                await session.exec(
                    select(HumanTask)
                    .where(
                        HumanTask.state == TaskState.OPEN.value,
                        HumanTask.kind == TaskKind.INCIDENT.value,
                    )
                    .order_by(HumanTask.created_at)
                )
            ).scalars()
            return [
                OpenIncident(
                    case_id=t.case_id,
                    task_id=t.task_id,
                    step=str(t.details.get("step", "")),
                    error_type=str(t.details.get("error_type", "")),
                    since=str(t.details.get("since", t.created_at.isoformat())),
                )
                for t in tasks
            ]

    # --- audit -----------------------------------------------------------------------

    async def _repaired(self, finding: Finding, what: str, action: str, **details) -> None:
        """Record the repair in the case's audit trail and on the finding."""
        await self._audit(finding.case_id, what, {"reason": finding.detail, **details})
        finding.repaired, finding.action = True, action

    async def _audit(self, case_id: str, what: str, details: dict) -> None:
        async with self._sessions() as session, session.begin():
            await self._append(session, case_id, what, details)

    async def _append(self, session, case_id: str, what: str, details: dict) -> None:
        await append_event(
            session,
            stream=case_id,
            event=f"reconcile.{what}",
            actor="reconciler",
            details=details,
            event_key=f"reconcile:{case_id}:{what}:{uuid.uuid4().hex}",
        )
        log.info("reconciler repaired", case_id=case_id, repair=what)
