"""Test data: loans, cases and documents built the way the product builds them."""

from __future__ import annotations

import asyncio
import io
import random
import uuid
from collections.abc import Callable
from datetime import date, timedelta

from temporalio.client import Client, WorkflowHandle

from activities.adapters.storage import LocalDocumentStore
from kernel.case_client import start_case
from kernel.db import SessionFactory
from models.enums import CaseStatus, DocType
from models.loans import LOAN_COLUMNS, read_loans_csv, upsert_loans
from models.payloads import CaseState, CaseTimings, DocumentUploaded, ReleaseCaseInput
from models.tables import Case, Document
from simulators.docgen import DocumentFacts, render
from workflows.release_case import ReleaseCaseWorkflow

LENDER = "华夏汽车金融有限公司"
REQUIRED = (
    DocType.SETTLEMENT_CERTIFICATE,
    DocType.ID_CARD,
    DocType.VEHICLE_REGISTRATION_CERTIFICATE,
)


def new_facts(seed: int | None = None) -> DocumentFacts:
    rng = random.Random(seed if seed is not None else uuid.uuid4().int)
    facts = DocumentFacts.random(rng)
    facts.lender = LENDER
    facts.contract_no = f"T-{uuid.uuid4().hex[:10].upper()}"
    facts.settled_date = (date.today() - timedelta(days=20)).isoformat()
    return facts


def phone_for(facts: DocumentFacts) -> str:
    return "138" + str(abs(hash(facts.contract_no)) % 10**8).zfill(8)


def loan_csv(facts: DocumentFacts, settled: bool = True) -> str:
    row = [
        facts.contract_no,
        facts.name,
        facts.id_number,
        phone_for(facts),
        facts.plate_no,
        facts.vin,
        facts.lender,
        "settled" if settled else "active",
        "0.00" if settled else "12000.00",
        facts.settled_date if settled else "",
    ]
    return ",".join(LOAN_COLUMNS) + "\n" + ",".join(row) + "\n"


async def insert_loan(sessions: SessionFactory, facts: DocumentFacts, settled: bool = True) -> None:
    await upsert_loans(sessions, read_loans_csv(loan_csv(facts, settled)))


async def open_case(
    sessions: SessionFactory,
    client: Client,
    facts: DocumentFacts,
    timings: CaseTimings | None = None,
    opened_by: str = "alice",
    phone: str | None = None,
    email: str | None = None,
) -> WorkflowHandle:
    """What `POST /cases` does, minus HTTP: the row first, then the workflow."""
    case_id = await insert_case_row(sessions, facts, opened_by, phone, email)
    return await start_case(
        client,
        ReleaseCaseInput(
            case_id=case_id,
            loan_contract_no=facts.contract_no,
            opened_by=opened_by,
            timings=timings or CaseTimings(),
        ),
    )


async def insert_case_row(
    sessions: SessionFactory,
    facts: DocumentFacts,
    opened_by: str = "alice",
    phone: str | None = None,
    email: str | None = None,
) -> str:
    case_id = f"RC-T{uuid.uuid4().hex[:9].upper()}"
    async with sessions() as session, session.begin():
        session.add(
            Case(
                case_id=case_id,
                loan_contract_no=facts.contract_no,
                borrower_name=facts.name,
                borrower_id_number=facts.id_number,
                borrower_phone=phone or phone_for(facts),
                borrower_email=email,
                plate_no=facts.plate_no,
                vin=facts.vin,
                status=CaseStatus.AWAITING_DOCUMENTS.value,
                step="opened",
                opened_by=opened_by,
            )
        )
    return case_id


def document_png(doc_type: DocType, facts: DocumentFacts, seed: int = 0) -> bytes:
    image, _ = render(doc_type, facts, seed=seed)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def upload(
    sessions: SessionFactory,
    store: LocalDocumentStore,
    handle: WorkflowHandle,
    doc_type: DocType,
    data: bytes,
) -> str:
    """What `POST /cases/{id}/documents` does: durable file, row, then signal."""
    sha = await store.put(data)
    document_id = f"DOC-{uuid.uuid4().hex[:12].upper()}"
    async with sessions() as session, session.begin():
        session.add(
            Document(
                document_id=document_id,
                case_id=handle.id,
                doc_type=doc_type.value,
                sha256=sha,
                filename=f"{doc_type.value}.png",
                media_type="image/png",
                size_bytes=len(data),
                uploaded_by="alice",
            )
        )
    await handle.signal(
        ReleaseCaseWorkflow.document_uploaded,
        DocumentUploaded(document_id=document_id, doc_type=doc_type),
    )
    return document_id


async def upload_all(sessions, store, handle, facts, doc_types=REQUIRED) -> None:
    for index, doc_type in enumerate(doc_types):
        await upload(sessions, store, handle, doc_type, document_png(doc_type, facts, seed=index))


async def wait_for_state(
    handle: WorkflowHandle, predicate: Callable[[CaseState], bool], timeout: float = 60.0
) -> CaseState:
    """Poll the `state` query until `predicate` holds; fail loudly on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    state = None
    while asyncio.get_running_loop().time() < deadline:
        state = await handle.query(ReleaseCaseWorkflow.state)
        if predicate(state):
            return state
        await asyncio.sleep(0.2)
    raise AssertionError(f"case never reached the expected state; last: {state}")


async def approve_until_closed(
    handle: WorkflowHandle, operator: str = "dave", senior: str = "bob", timeout: float = 300.0
) -> CaseState:
    """Approve whatever the case asks for — a document review if OCR doubted
    something, one approval, or two (the second by a senior) — until it closes."""
    from models.enums import DecisionKind, Role, TaskKind
    from models.payloads import DecisionRequest

    while True:
        state = await wait_for_state(
            handle, lambda s: s.status.is_closed or s.open_task is not None, timeout=timeout
        )
        if state.status.is_closed:
            return await asyncio.wait_for(handle.result(), timeout)
        if state.open_task.kind == TaskKind.INCIDENT:
            # Not ours to answer: whoever made the step fail decides.
            await wait_for_state(
                handle, lambda s, t=state.open_task: s.open_task != t, timeout=timeout
            )
            continue
        needs_senior = state.open_task.kind == TaskKind.SECOND_APPROVAL or state.open_task.escalated
        await handle.execute_update(
            ReleaseCaseWorkflow.decide,
            DecisionRequest(
                decision=DecisionKind.APPROVE,
                actor=senior if needs_senior else operator,
                role=Role.SENIOR if needs_senior else Role.OPERATOR,
            ),
        )
        await wait_for_state(handle, lambda s, t=state.open_task: s.open_task != t, timeout=timeout)
