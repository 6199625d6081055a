"""Human decisions, delivered as the workflow's `decide` update so a refusal is immediate.

One straight path: the claim rules are checked (nothing written), the update is
sent, and once the case has taken the decision its holder is recorded and the case
let go in one transaction. A refusal writes nothing, so nothing is undone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from api.auth import DeciderOperator
from api.case_view import case_view
from api.claims import check_take, decided
from api.deps import IdempotencyKeyHeader, SessionDep, TemporalClientDep
from api.errors import ApiError, temporal_error
from api.inputs import DecisionIn
from api.schemas import CasePublic
from api.scope import CaseDep
from kernel.case_client import case_handle
from models.case_contract import CaseUpdate
from models.enums import DecisionKind, Role, TaskState
from models.payloads import DecisionOutcome, DecisionRequest
from models.tables import HumanTask
from workflows.decisions import target_task

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
        .where(HumanTask.case_id == case_id, HumanTask.state == TaskState.OPEN)
        .order_by(HumanTask.created_at.desc(), HumanTask.task_id.desc())
    )
    rows = list((await session.exec(query)).scalars())
    beside = sorted((t for t in rows if t.details.get("side")), key=lambda t: t.created_at)
    return [t for t in rows if not t.details.get("side")] + beside


class DecisionPublic(CasePublic):
    """The case after the decision, and what the case itself said on taking it."""

    outcome: DecisionOutcome


@router.post("/{case_id}/decisions", response_model=DecisionPublic)
async def decide(
    body: DecisionIn,
    operator: DeciderOperator,
    case: CaseDep,
    session: SessionDep,
    client: TemporalClientDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> DecisionPublic:
    """Decide the case's open task: approve, reject or ask for documents; on an
    incident retry, skip or end the case; `task_id` names the task when several are open."""
    task = target_task(await _open_tasks(session, case.case_id), body.decision, body.task_id or "")
    # With no open task row the workflow itself says why no decision is expected.
    if task is not None:
        check_take(task, case, operator, approving=body.decision == DecisionKind.APPROVE)
    # Only read so far: end the transaction rather than hold it open across the update.
    await session.commit()
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
        CaseUpdate.DECIDE, request, result_type=DecisionOutcome, rpc_timeout=DECIDE_TIMEOUT
    )
    try:
        outcome = await asyncio.wait_for(update_call, DECIDE_TIMEOUT.total_seconds() + 1)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise _timed_out() from None
    except (WorkflowUpdateFailedError, RPCError) as error:
        raise temporal_error(error) from None
    if task is not None:
        await decided(session, task, operator)
    await session.refresh(case)
    view = await case_view(session, case)
    return DecisionPublic(**dict(view), outcome=outcome)
