"""What the reconciler checks and reports: case rows against their workflows,
the outbox, and cases idle past their step's allowance. Plain models, so the
report crosses Temporal (the scheduled run) and prints the same in `jieya doctor`."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from models.enums import CaseStatus
from models.payloads import CaseTimings


class Check(StrEnum):
    WORKFLOW_MISSING = "workflow_missing"  # a case row whose workflow was never started
    ROW_BEHIND = "row_behind_workflow"  # the workflow closed, the row says open
    WORKFLOW_FAILED = "workflow_failed"  # a ReleaseCaseWorkflow run that ended Failed
    OUTBOX_PENDING = "outbox_pending"  # a message nobody has tried to send for a while
    LOST_UPLOAD = "lost_upload"  # a stored document the workflow was never told of
    STALLED = "stalled"  # no task, no activity, idle past the step's allowance
    WORKFLOW_TASK_FAILING = "workflow_task_failing"  # code that cannot run this case
    UNRESPONSIVE = "workflow_unresponsive"  # no worker answers for it


# Checks a repair cannot fix: a person (or a developer) must.
NEEDS_A_PERSON = frozenset({Check.WORKFLOW_FAILED, Check.WORKFLOW_TASK_FAILING, Check.UNRESPONSIVE})


class Finding(BaseModel):
    check: Check
    case_id: str | None = None
    detail: str
    repaired: bool = False
    action: str = ""


class OpenIncident(BaseModel):
    case_id: str
    task_id: str
    step: str
    error_type: str
    since: str


class ReconcileInput(BaseModel):
    repair: bool = True


class ReconcileReport(BaseModel):
    open_cases: int = 0
    running_workflows: int = 0
    findings: list[Finding] = Field(default_factory=list)
    incidents: list[OpenIncident] = Field(default_factory=list)

    def found(self, check: Check, case_id: str | None, detail: str) -> Finding:
        finding = Finding(check=check, case_id=case_id, detail=detail)
        self.findings.append(finding)
        return finding

    @property
    def unresolved(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]


# How long a case may sit without a task, an activity or a new audit record
# before the reconciler calls it stalled. Each is the step's own deadline plus
# a margin: the workflow acts at its deadline; the reconciler only catches what
# did not.
_MARGIN = timedelta(hours=1)
_QUICK_STEPS = timedelta(minutes=15)


def idle_allowance(status: CaseStatus, step: str, timings: CaseTimings | None = None) -> timedelta:
    timings = timings or CaseTimings()
    if status == CaseStatus.AWAITING_DOCUMENTS:
        return timings.documents_deadline + _MARGIN
    if status == CaseStatus.IN_REVIEW and step == "waiting_for_settlement":
        return timings.ledger_recheck + _MARGIN  # it re-checks (and records) daily
    if status == CaseStatus.IN_REVIEW:
        return _MARGIN  # OCR and risk take seconds to minutes
    if status == CaseStatus.DEREGISTERING:
        return timings.registry_deadline + _MARGIN
    return _QUICK_STEPS  # AWAITING_APPROVAL with no open task row
