"""The case workflow's public face by name: its type and the messages it takes.

Processes that only talk to a case (the API, the CLI, the reconciler) address
it by these names, so they need not import the workflow and, through it, every
activity and the OCR stack. `tests/test_case_contract.py` holds the names to
the workflow's own definition, so neither side can drift."""

from __future__ import annotations

from enum import StrEnum

CASE_WORKFLOW = "ReleaseCaseWorkflow"


class CaseSignal(StrEnum):
    DOCUMENT_UPLOADED = "document_uploaded"
    LEDGER_UPDATED = "ledger_updated"
    REGISTRY_RESULT = "registry_result"
    REPORT_STALL = "report_stall"


class CaseUpdate(StrEnum):
    DECIDE = "decide"


class CaseQuery(StrEnum):
    STATE = "state"
