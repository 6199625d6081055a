"""OCR review inside the workflow, with the OCR activities on their own worker
(`jieya worker --queue ocr`) and the case activities on another: documents that
disagree with the ledger stop the case at a document-review task."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import httpx
import pytest_asyncio
from sqlalchemy import func, select

from activities.adapters.storage import LocalDocumentStore
from kernel.settings import Settings
from models.enums import CaseStatus, DocType, TaskKind
from models.tables import HumanTask, OcrCacheEntry, OcrResult
from tests.utils.factories import (
    REQUIRED,
    document_png,
    insert_loan,
    new_facts,
    open_case,
    upload,
    wait_for_state,
)
from workers.worker import Queue, build_workers


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def split_workers(time_env, sessions, registry_sim, sms_sim, data_dir):
    settings = Settings(env="test", data_dir=data_dir, registry_url=registry_sim, sms_url=sms_sim)
    async with AsyncExitStack() as exits:
        http = await exits.enter_async_context(httpx.AsyncClient(timeout=10))
        cases = build_workers(time_env.client, settings, sessions, http, Queue.CASES, exits)
        ocr = build_workers(time_env.client, settings, sessions, http, Queue.OCR, exits)
        assert [w.task_queue for w in cases] == ["jieya-cases"]
        assert [w.task_queue for w in ocr] == ["jieya-ocr"]
        for worker in (*cases, *ocr):
            await exits.enter_async_context(worker)
        yield time_env.client, LocalDocumentStore(settings.documents_dir)


async def test_a_document_that_disagrees_stops_at_a_document_review_task(split_workers, sessions):
    client, store = split_workers
    facts = new_facts(seed=401)
    await insert_loan(sessions, facts)
    handle = await open_case(sessions, client, facts)
    someone_else = facts.model_copy(
        update={"name": "欧阳明轩" if facts.name != "欧阳明轩" else "司马静怡"}
    )
    for index, doc_type in enumerate(REQUIRED):
        shown = someone_else if doc_type == DocType.ID_CARD else facts
        await upload(sessions, store, handle, doc_type, document_png(doc_type, shown, index))

    state = await wait_for_state(
        handle,
        lambda s: s.status == CaseStatus.AWAITING_APPROVAL and s.open_task is not None,
        timeout=120,
    )
    assert state.open_task.kind == TaskKind.DOCUMENT_REVIEW
    # The workflow knows its task a moment before the row is written.
    task = await _task_row(sessions, state.open_task.task_id)
    async with sessions() as session:
        readings = (
            (await session.exec(select(OcrResult).where(OcrResult.case_id == handle.id)))
            .scalars()
            .all()
        )
    [mismatch] = [m for m in task.details["mismatches"] if m["doc_type"] == "id_card"]
    assert mismatch["field"] == "name"
    assert mismatch["expected"] == facts.name and mismatch["ocr_value"] == someone_else.name
    assert 0 < mismatch["confidence"] <= 1 and len(mismatch["box"]) == 4
    assert any("id_card.name" in reason for reason in task.details["reasons"])
    id_card = next(r for r in readings if r.doc_type == "id_card")
    assert id_card.mismatches and id_card.mismatches[0]["field"] == "name"


async def test_the_same_file_is_read_once(split_workers, sessions):
    client, store = split_workers
    data = document_png(DocType.ID_CARD, new_facts(seed=402), 7)
    handles = []
    for seed in (403, 404):  # two cases, each sent the very same ID-card file
        facts = new_facts(seed=seed)
        await insert_loan(sessions, facts)
        handle = await open_case(sessions, client, facts)
        await upload(sessions, store, handle, DocType.ID_CARD, data)
        for index, doc_type in enumerate(REQUIRED[:1] + REQUIRED[2:]):
            await upload(sessions, store, handle, doc_type, document_png(doc_type, facts, index))
        handles.append(handle)
    for handle in handles:
        await wait_for_state(
            handle, lambda s: s.status == CaseStatus.AWAITING_APPROVAL, timeout=120
        )

    async with sessions() as session:
        readings = (
            (
                await session.exec(
                    select(OcrResult).where(
                        OcrResult.case_id.in_([h.id for h in handles]),
                        OcrResult.doc_type == "id_card",
                    )
                )
            )
            .scalars()
            .all()
        )
        [sha] = {r.sha256 for r in readings}
        entries = (
            await session.exec(
                select(func.count()).select_from(OcrCacheEntry).where(OcrCacheEntry.sha256 == sha)
            )
        ).scalar_one()
    assert len(readings) == 2 and entries == 1
    assert sorted(r.from_cache for r in readings) == [False, True]
    assert readings[0].fields == readings[1].fields


async def _task_row(sessions, task_id: str, timeout: float = 30.0) -> HumanTask:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async with sessions() as session:
            task = await session.get(HumanTask, task_id)
        if task is not None:
            return task
        await asyncio.sleep(0.2)
    raise AssertionError(f"task {task_id} was never written")
