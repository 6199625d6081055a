"""The names other processes use to talk to a case are the workflow's own."""

from __future__ import annotations

import subprocess
import sys

from temporalio.workflow import _Definition

from models.case_contract import CASE_WORKFLOW, CaseQuery, CaseSignal, CaseUpdate
from workflows.release_case import ReleaseCaseWorkflow


def test_contract_names_are_the_workflows_handlers() -> None:
    definition = _Definition.must_from_class(ReleaseCaseWorkflow)
    assert definition.name == CASE_WORKFLOW
    assert {s.value for s in CaseSignal} == set(definition.signals)
    assert {u.value for u in CaseUpdate} == set(definition.updates)
    assert {q.value for q in CaseQuery} == set(definition.queries)


def test_api_process_loads_neither_workflow_nor_ocr_stack() -> None:
    """Upload checks and case messages must not pull OpenCV/NumPy/ONNX into the API."""
    probe = (
        "import sys, api.app\n"
        "heavy = ('cv2', 'numpy', 'onnxruntime', 'activities.ocr', 'workflows.release_case')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
