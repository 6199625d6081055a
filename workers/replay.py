"""Replay case histories with today's workflow code."""

from __future__ import annotations

import time
from dataclasses import dataclass

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.release_case import ReleaseCaseWorkflow


@dataclass(frozen=True)
class ReplayOutcome:
    workflow_id: str
    run_id: str
    ok: bool
    seconds: float
    message: str = ""


async def replay_history(history: WorkflowHistory) -> ReplayOutcome:
    replayer = Replayer(workflows=[ReleaseCaseWorkflow], data_converter=pydantic_data_converter)
    started = time.perf_counter()
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    return ReplayOutcome(
        history.workflow_id,
        history.run_id,
        failure is None,
        time.perf_counter() - started,
        repr(failure),
    )
