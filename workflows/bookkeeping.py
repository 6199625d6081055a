"""The case's bookkeeping in ReleaseCaseWorkflow: its row follows the workflow and
every step leaves one audit record — without an activity of its own per record.

Records queue up (`_event`, `_enter`, `_move_to`) and ride with the next step's
own activity (`_carrying`), written first in that activity's transaction; where
the case is about to wait with no step to ride on (for documents, for the loan
to settle, at its end) `_flush` writes them with one local activity. Histories
from before this (`self._resilient` false) wrote each record with its own
`record_transition` activity, and still do on replay. A mixin of ReleaseCaseWorkflow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CaseActivities
    from kernel.temporal import CASE_STATUS_ATTR
    from models.enums import CaseStatus, RiskGrade, Step
    from models.payloads import RecordTransitionInput, RecordTransitionsInput
    from workflows.policies import DB_ACTIVITY

T = TypeVar("T")
Carried = list[RecordTransitionInput]


class Bookkeeping:
    def _record(
        self,
        event: str,
        details: dict | None = None,
        actor: str = "system",
        risk_grade: RiskGrade | None = None,
    ) -> RecordTransitionInput:
        self._event_seq += 1
        return RecordTransitionInput(
            case_id=self._case_id,
            status=self._status,
            step=self._step,
            event=event,
            event_key=f"{workflow.info().run_id}:{self._event_seq}",
            actor=actor,
            details=details or {},
            risk_grade=risk_grade,
            round=self._round,
            missing_documents=self._missing_documents(),
        )

    async def _enter(self, status: CaseStatus, step: str) -> None:
        self._status, self._step = status, step
        self._index(CASE_STATUS_ATTR.value_set(status.value))
        await self._event(f"status.{status.value.lower()}", {})

    def _index(self, *updates) -> None:
        """Search attributes: each upsert is a history event, so the current code
        skips one that changes nothing and sends the risk grade with the next status."""
        if not self._resilient:
            workflow.upsert_search_attributes(list(updates))
            return
        self._index_later.extend(u for u in updates if u.key != CASE_STATUS_ATTR)
        status = next((u for u in updates if u.key == CASE_STATUS_ATTR), None)
        if status is None or status.value == self._indexed_status:
            return
        workflow.upsert_search_attributes([*self._index_later, status])
        self._index_later, self._indexed_status = [], status.value

    def _move_to(self, step: str) -> None:
        """A step within the status: the row shows it, no audit record is written."""
        self._step = step
        if self._resilient:
            self._pending.append(self._record(""))

    async def _event(
        self,
        event: str,
        details: dict,
        actor: str = "system",
        risk_grade: RiskGrade | None = None,
    ) -> None:
        """Mirror the step into the case row and append its audit record: queued for
        the next carrier (an incident's task record carries its own)."""
        request = self._record(event, details, actor, risk_grade)
        if not self._resilient:
            await workflow.execute_activity_method(
                CaseActivities.record_transition, request, **DB_ACTIVITY
            )
            return
        self._pending.append(request)

    async def _carrying(self, call: Callable[[Carried], Awaitable[T]]) -> T:
        """Run a step's activity with the queued records for it to write first."""
        records = list(self._pending)
        result = await call(records)
        self._written(records)
        return result

    def _written(self, records: Carried) -> None:
        done = {record.event_key for record in records}
        self._pending = [record for record in self._pending if record.event_key not in done]

    async def _flush(self) -> None:
        """Write what is queued now (one local activity): the case is about to wait."""
        if not self._resilient or not self._pending:
            return
        records = list(self._pending)

        def write():
            return workflow.execute_local_activity_method(
                CaseActivities.record_transitions,
                RecordTransitionsInput(records=records),
                **DB_ACTIVITY,
            )

        await self._guarded(Step.RECORD, write)
        self._written(records)
