"""The fault benchmark, small: a few cases through a real `jieya dev` while the
registry and SMS gateway fail, the registry refuses some requests for good, and
the worker, Temporal and PostgreSQL are each killed once. Every case must end
completed or in front of a person; nothing may fail, repeat or get lost."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from bench.faults import report, run_fault_bench

pytestmark = pytest.mark.slow


async def test_a_small_fault_run_loses_nothing_and_does_nothing_twice():
    # Outside pytest's tmp dir: the embedded PostgreSQL must reach its data dir as root.
    data_dir = Path(tempfile.mkdtemp(prefix="jieya-faults-test-"))
    try:
        figures = await run_fault_bench(cases=4, seed=3, data_dir=data_dir)
        print("\n" + report(figures))
        assert figures.accounted, report(figures)
        assert figures.failed_workflows == 0
        assert figures.duplicate_deregistrations == 0 and figures.duplicate_sms == 0
        assert figures.lost_uploads == 0 and figures.uploads == 12
        assert figures.audit_ok, figures.audit_verify
        assert len([k for k in figures.kills if "back in" in k]) == 3, figures.kills
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
