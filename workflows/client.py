"""Typed client-side calls on ReleaseCaseWorkflow, used by the API and the CLI.
(Runs in ordinary processes, never inside a workflow.)"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from kernel.settings import CASES_TASK_QUEUE
from kernel.temporal import CASE_STATUS_ATTR
from models.enums import CaseStatus
from models.payloads import LedgerUpdated, ReleaseCaseInput
from workflows.release_case import ReleaseCaseWorkflow


def case_handle(client: Client, case_id: str) -> WorkflowHandle:
    return client.get_workflow_handle_for(ReleaseCaseWorkflow.run, case_id)


async def start_case(client: Client, case: ReleaseCaseInput) -> WorkflowHandle:
    """Start the case's workflow; starting it again (a client retry) is harmless."""
    try:
        return await client.start_workflow(
            ReleaseCaseWorkflow.run,
            case,
            id=case.case_id,
            task_queue=CASES_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CASE_STATUS_ATTR, CaseStatus.AWAITING_DOCUMENTS.value)]
            ),
        )
    except WorkflowAlreadyStartedError:
        return case_handle(client, case.case_id)


async def signal_ledger_updated(client: Client, case_ids: list[str], contract_no: str) -> int:
    """Wake cases waiting for a loan to settle; returns how many were told."""
    told = 0
    for case_id in case_ids:
        try:
            await case_handle(client, case_id).signal(
                ReleaseCaseWorkflow.ledger_updated, LedgerUpdated(contract_no=contract_no)
            )
            told += 1
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
    return told
