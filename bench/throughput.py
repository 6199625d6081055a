"""Cases per second through the real ReleaseCaseWorkflow on a dev server
(SQLite file), against a bare workflow of the same business shape, fixed:
13 no-op activities and one update. Also prints what one happy case costs in
Temporal: history events, activities and workflow tasks.

    .venv/bin/python bench/throughput.py [--cases 20]

OCR itself is measured by bench/ocr.py; here its cache is filled first so the
figure is about orchestration: workflow, PostgreSQL bookkeeping, registry and
SMS round-trips over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402
from temporalio.client import WorkflowUpdateFailedError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities.adapters.storage import LocalDocumentStore  # noqa: E402
from activities.ocr.cache import OcrCache  # noqa: E402
from activities.ocr.reader import build_reader  # noqa: E402
from bench.bare_workflow import BARE_TASK_QUEUE, BareWorkflow, bare_step  # noqa: E402
from bench.database import bench_database  # noqa: E402
from kernel.codec import KEYS_FILE, PayloadKeys, data_converter, new_key_entry  # noqa: E402
from kernel.db import create_engine, session_factory  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from kernel.temporal import CASE_STATUS_ATTR, RISK_GRADE_ATTR  # noqa: E402
from models.enums import CaseStatus, DecisionKind, Role, TaskKind, TaskState  # noqa: E402
from models.payloads import CaseTimings, DecisionRequest  # noqa: E402
from models.tables import Case, HumanTask  # noqa: E402
from tests.utils.factories import (  # noqa: E402
    REQUIRED,
    document_png,
    insert_loan,
    new_facts,
    open_case,
    upload,
)
from tests.utils.processes import start_process, stop_process  # noqa: E402
from workers.dev.binaries import temporal_cli_path  # noqa: E402
from workflows.release_case import ReleaseCaseWorkflow  # noqa: E402

TIMINGS = CaseTimings(registry_poll_first=timedelta(milliseconds=100))


async def warm_ocr_cache(sessions, store, documents, settings: Settings) -> None:
    # The worker's own reader, so its cache key (engines and version) is the one hit.
    reader = build_reader(settings.ocr_engine, settings.ocr_second_engine)
    cache = OcrCache(sessions, reader.version)
    gate = asyncio.Semaphore(settings.ocr_concurrency)

    async def one(doc_type, data):
        async with gate:
            sha = await store.put(data)
            reading = await asyncio.to_thread(reader.read, data, doc_type)
            await cache.put(sha, doc_type, reading)

    await asyncio.gather(*(one(t, d) for docs in documents for t, d in docs))


async def approve_from_inbox(sessions, handle) -> None:
    """Decide the way operators do: read open tasks from PostgreSQL (as the API
    does), not by querying the workflow, which would load the worker."""
    decided: set[str] = set()
    while True:
        async with sessions() as session:
            case = await session.get(Case, handle.id)
            open_tasks = (
                (
                    await session.exec(
                        select(HumanTask).where(
                            HumanTask.case_id == handle.id, HumanTask.state == TaskState.OPEN
                        )
                    )
                )
                .scalars()
                .all()
            )
        if CaseStatus(case.status).is_closed:
            return
        for task in open_tasks:
            if task.task_id in decided:
                continue
            senior = task.kind == TaskKind.SECOND_APPROVAL
            await handle.execute_update(
                ReleaseCaseWorkflow.decide,
                DecisionRequest(
                    decision=DecisionKind.APPROVE,
                    actor="bob" if senior else "dave",
                    role=Role.SENIOR if senior else Role.OPERATOR,
                ),
            )
            decided.add(task.task_id)
        await asyncio.sleep(0.1)


# The yardstick's shape: what a release case does for its business, whatever the code.
BARE_ACTIVITIES = 13


def _count(history, field: str) -> int:
    return sum(1 for e in history.events if e.HasField(field))


async def run_real_case(sessions, client, store, facts, docs) -> tuple[int, int, int]:
    handle = await open_case(sessions, client, facts, TIMINGS)
    for doc_type, data in docs:
        await upload(sessions, store, handle, doc_type, data)
    await approve_from_inbox(sessions, handle)
    final = await handle.result()
    assert final.status == CaseStatus.COMPLETED, final
    history = await handle.fetch_history()
    return (
        len(history.events),
        _count(history, "activity_task_scheduled_event_attributes"),
        _count(history, "workflow_task_completed_event_attributes"),
    )


async def run_bare_case(client, n: int, activities: int) -> None:
    handle = await client.start_workflow(
        BareWorkflow.run, activities, id=f"bare-{n}-{time.time_ns()}", task_queue=BARE_TASK_QUEUE
    )
    while True:  # the update may only be taken once the workflow is waiting
        try:
            await handle.execute_update(BareWorkflow.approve)
            break
        except WorkflowUpdateFailedError:
            await asyncio.sleep(0.1)
    await handle.result()


async def main(cases: int) -> None:
    with tempfile.TemporaryDirectory(prefix="jieya-bench-") as tmp:
        root = Path(tmp)
        async with AsyncExitStack() as exits:
            url = await bench_database(exits, root)
            engine = create_engine(url, pool_size=10)
            exits.push_async_callback(engine.dispose)
            sessions = session_factory(engine)
            sims = {}
            for name, extra in (("registry", ["--complete-after", "0.05"]), ("sms", [])):
                proc, match = start_process(
                    [sys.executable, "-m", f"simulators.{name}", "--port", "0", *extra],
                    r"LISTENING (\S+)",
                    timeout=30,
                    name=name,
                )
                exits.callback(stop_process, proc)
                sims[name] = match.group(1)
            keys = PayloadKeys.parse(new_key_entry("bench"))
            (root / KEYS_FILE).write_text(keys.serialise())  # the worker process reads it
            env = await WorkflowEnvironment.start_local(
                data_converter=data_converter(keys),
                dev_server_existing_path=str(temporal_cli_path()),
                dev_server_extra_args=["--db-filename", str(root / "temporal.db")],
                search_attributes=[CASE_STATUS_ATTR, RISK_GRADE_ATTR],
                dev_server_log_level="error",
            )
            exits.push_async_callback(env.shutdown)
            settings = Settings(
                env="test", data_dir=root, registry_url=sims["registry"], sms_url=sims["sms"]
            )
            store = LocalDocumentStore(settings.documents_dir)

            facts = [new_facts() for _ in range(cases)]
            documents = [
                [(t, document_png(t, f, seed=i)) for i, t in enumerate(REQUIRED)] for f in facts
            ]
            for f in facts:
                await insert_loan(sessions, f)
            started = time.perf_counter()
            await warm_ocr_cache(sessions, store, documents, settings)
            print(f"OCR cache warmed: {cases * 3} pages in {time.perf_counter() - started:.1f}s")

            # The case worker is its own process, as `jieya worker` is in production;
            # the bench process only plays the API and the operators.
            worker_proc, _ = start_process(
                [sys.executable, "-m", "workers.cli", "worker"],
                r"^READY",
                timeout=180,
                env={
                    "JIEYA_DATABASE_URL": url,
                    "JIEYA_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                    "JIEYA_REGISTRY_URL": sims["registry"],
                    "JIEYA_SMS_URL": sims["sms"],
                    "JIEYA_DATA_DIR": str(root),
                    "JIEYA_LOG_LEVEL": "WARNING",
                },
                name="worker",
            )
            exits.callback(stop_process, worker_proc)
            workers = [
                Worker(
                    env.client,
                    task_queue=BARE_TASK_QUEUE,
                    workflows=[BareWorkflow],
                    activities=[bare_step],
                )
            ]
            for worker in workers:
                await exits.enter_async_context(worker)

            started = time.perf_counter()
            counts = await asyncio.gather(
                *(
                    run_real_case(sessions, env.client, store, f, d)
                    for f, d in zip(facts, documents, strict=True)
                )
            )
            real_s = time.perf_counter() - started
            events, activities, tasks = (sum(c[i] for c in counts) / len(counts) for i in range(3))

            started = time.perf_counter()
            await asyncio.gather(
                *(run_bare_case(env.client, n, BARE_ACTIVITIES) for n in range(cases))
            )
            bare_s = time.perf_counter() - started

    real_rate, bare_rate = cases / real_s, cases / bare_s
    print(
        f"per happy case: {events:.0f} history events, {activities:.0f} activities, "
        f"{tasks:.0f} workflow tasks"
    )
    print(f"cases: {cases}; bare workflow: {BARE_ACTIVITIES} no-op activities and one update")
    print(f"ReleaseCaseWorkflow: {real_rate:.2f} cases/s ({real_s:.1f}s)")
    print(f"bare workflow:       {bare_rate:.2f} cases/s ({bare_s:.1f}s)")
    print(f"ratio real/bare:     {real_rate / bare_rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    asyncio.run(main(parser.parse_args().cases))
