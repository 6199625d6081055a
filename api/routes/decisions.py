"""Human decisions, delivered as the workflow's `decide` update so a refusal is immediate.

A decision acts on the case's open task and needs its claim: the caller's own, or
taken for them here when nobody holds it (and given back if the case refuses)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import exists, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from api.auth import DeciderOperator
from api.claims import claim, release
from api.deps import CaseDep, IdempotencyKeyHeader, SessionDep, TemporalClientDep, lock_case
from api.errors import ApiError, temporal_error
from api.inputs import DecisionIn
from api.views import CasePublic, case_view
from models.enums import DecisionKind, Role, TaskState
from models.payloads import DecisionRequest
from models.tables import Case, HumanTask, Operator
from workflows.client import case_handle
from workflows.decisions import target_task
from workflows.release_case import ReleaseCaseWorkflow

router = APIRouter(prefix="/cases", tags=["decisions"])

DECIDE_TIMEOUT = timedelta(seconds=30)


def _timed_out() -> ApiError:
    return ApiError(
        504,
        "timeout",
        f"the case did not confirm the decision within {DECIDE_TIMEOUT.seconds} s; "
        "read the case before deciding again",
    )


async def _open_tasks(session: AsyncSession, case_id: str) -> list[HumanTask]:
    """The case's open tasks as the workflow orders them: its main flow's task
    first, then incidents raised beside it, oldest first."""
    query = (
        select(HumanTask)
        .where(HumanTask.case_id == case_id, HumanTask.state == TaskState.OPEN.value)
        .order_by(HumanTask.created_at.desc(), HumanTask.task_id.desc())
    )
    rows = list((await session.exec(query)).scalars())
    beside = sorted((t for t in rows if t.details.get("side")), key=lambda t: t.created_at)
    return [t for t in rows if not t.details.get("side")] + beside


async def _let_go(session: AsyncSession, case_id: str, task_id: str, operator: Operator) -> None:
    """The decided task no longer needs `operator`: clear them from the case unless they
    already hold the case's next task."""
    await lock_case(session, case_id)
    holds_another = exists().where(
        HumanTask.case_id == case_id,
        HumanTask.state == TaskState.OPEN.value,
        HumanTask.task_id != task_id,
        HumanTask.assignee == operator.name,
    )
    await session.exec(
        update(Case)
        .where(Case.case_id == case_id, Case.assignee == operator.name, ~holds_another)
        .values(assignee=None)
    )
    await session.commit()


@router.post("/{case_id}/decisions", response_model=CasePublic)
async def decide(
    body: DecisionIn,
    operator: DeciderOperator,
    case: CaseDep,
    session: SessionDep,
    client: TemporalClientDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CasePublic:
    """Decide the case's open task: approve, reject or ask for documents; on an
    incident retry, skip or end the case; `task_id` names the task when several are open."""
    task = target_task(await _open_tasks(session, case.case_id), body.decision, body.task_id or "")
    claimed = False
    if task is not None:
        # No open task row: the workflow itself says why no decision is expected.
        approving = body.decision == DecisionKind.APPROVE
        claimed = await claim(session, task, operator, approving, auto=True)
    request = DecisionRequest(
        decision=body.decision,
        actor=operator.name,
        role=Role(operator.role),
        comment=body.comment,
        documents=body.documents,
        request_id=idempotency_key or uuid.uuid4().hex,
        task_id=task.task_id if task is not None else body.task_id or "",
    )
    update_call = case_handle(client, case.case_id).execute_update(
        ReleaseCaseWorkflow.decide, request, rpc_timeout=DECIDE_TIMEOUT
    )
    try:
        await asyncio.wait_for(update_call, DECIDE_TIMEOUT.total_seconds() + 1)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise _timed_out() from None  # it may have landed: the claim stays
    except (WorkflowUpdateFailedError, RPCError) as error:
        if claimed and task is not None:
            # Give back what we took for this decision; if the task moved on, so be it.
            with contextlib.suppress(ApiError):
                await release(session, task, operator, reason="the case refused the decision")
        raise temporal_error(error) from None
    if task is not None:
        await _let_go(session, case.case_id, task.task_id, operator)
    # The row may trail the workflow by a moment; `live` in the view is current.
    await session.refresh(case)
    return await case_view(session, case, client)
