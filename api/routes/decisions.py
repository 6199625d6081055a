"""Human decisions, delivered as the workflow's `decide` update so a refusal is immediate."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from fastapi import APIRouter
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from api.auth import DeciderOperator
from api.deps import CaseDep, IdempotencyKeyHeader, SessionDep, TemporalClientDep
from api.errors import ApiError, temporal_error
from api.inputs import DecisionIn
from api.views import CasePublic, case_view
from models.enums import Role
from models.payloads import DecisionRequest
from workflows.client import case_handle
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


@router.post("/{case_id}/decisions", response_model=CasePublic)
async def decide(
    body: DecisionIn,
    operator: DeciderOperator,
    case: CaseDep,
    session: SessionDep,
    client: TemporalClientDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CasePublic:
    """Approve, reject or ask for documents on the case's open task."""
    request = DecisionRequest(
        decision=body.decision,
        actor=operator.name,
        role=Role(operator.role),
        comment=body.comment,
        documents=body.documents,
        request_id=idempotency_key or uuid.uuid4().hex,
    )
    update = case_handle(client, case.case_id).execute_update(
        ReleaseCaseWorkflow.decide, request, rpc_timeout=DECIDE_TIMEOUT
    )
    try:
        await asyncio.wait_for(update, DECIDE_TIMEOUT.total_seconds() + 1)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise _timed_out() from None
    except (WorkflowUpdateFailedError, RPCError) as error:
        raise temporal_error(error) from None
    # The row may trail the workflow by a moment; `live` in the view is current.
    await session.refresh(case)
    return await case_view(session, case, client)
