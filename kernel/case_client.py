"""Client-side calls on a case's workflow, used by the API, the CLI and the
reconciler. They address the workflow by the names in `models.case_contract`,
so a process that only talks to cases never imports the workflow (and, through
it, every activity and the OCR stack)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from kernel.settings import CASES_TASK_QUEUE, Settings
from kernel.temporal import CASE_STATUS_ATTR
from models.case_contract import CASE_WORKFLOW, CaseSignal
from models.enums import CaseStatus
from models.payloads import CaseState, CaseTimings, LedgerUpdated, ReleaseCaseInput
from models.tables import Case


def case_handle(client: Client, case_id: str) -> WorkflowHandle:
    return client.get_workflow_handle(case_id, result_type=CaseState)


async def start_case(client: Client, case: ReleaseCaseInput) -> WorkflowHandle:
    """Start the case's workflow; starting it again (a client retry) is harmless."""
    try:
        return await client.start_workflow(
            CASE_WORKFLOW,
            case,
            result_type=CaseState,
            id=case.case_id,
            task_queue=CASES_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CASE_STATUS_ATTR, CaseStatus.AWAITING_DOCUMENTS.value)]
            ),
        )
    except WorkflowAlreadyStartedError:
        return case_handle(client, case.case_id)


def callback_url(settings: Settings) -> str | None:
    """Where the registry should post its result; None (poll only) when the port is not fixed."""
    if not settings.api_port:
        return None
    host = "127.0.0.1" if settings.api_host in ("", "0.0.0.0", "::") else settings.api_host
    return f"http://{host}:{settings.api_port}/api/v1/registry/callbacks"


def case_input(case: Case, callback_url: str | None) -> ReleaseCaseInput:
    """What a case's workflow starts with, from its row."""
    return ReleaseCaseInput(
        case_id=case.case_id,
        loan_contract_no=case.loan_contract_no,
        opened_by=case.opened_by,
        branch=case.branch,
        timings=CaseTimings(registry_callback_url=callback_url),
    )


async def signal_ledger_updated(client: Client, case_ids: list[str], contract_no: str) -> int:
    """Wake cases waiting for a loan to settle; returns how many were told."""
    told = 0
    for case_id in case_ids:
        try:
            await case_handle(client, case_id).signal(
                CaseSignal.LEDGER_UPDATED, LedgerUpdated(contract_no=contract_no)
            )
            told += 1
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
    return told
