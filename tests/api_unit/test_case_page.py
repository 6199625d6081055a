"""The case page from PostgreSQL alone, and reads of a document's file: each one
audited, and only for the roles that work or audit cases."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from api.auth import DOCUMENT_READERS
from models.enums import CaseStatus, Role, TaskKind, TaskState
from models.loans import upsert_loans
from models.operators import add_operator
from models.tables import (
    AuditEvent,
    Decision,
    Document,
    HumanTask,
    OcrResult,
    RiskAssessment,
    utcnow,
)
from tests.utils.api_unit import RUN, assert_error, auth, loan_row
from tests.utils.inprocess import FakeTemporal, case_row, id_number, in_process_api, png


@pytest.fixture(scope="module")
async def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture(scope="module")
async def page_api(database_url, tmp_path_factory, temporal):
    async with in_process_api(
        database_url, tmp_path_factory.mktemp("case-page"), temporal
    ) as served:
        yield served


async def a_case(sessions, store, **fields) -> tuple[str, str]:
    """A case of branch SH with a document read by OCR: (case_id, document_id)."""
    contract_no = f"HT-{RUN}-{uuid.uuid4().hex[:6]}"
    await upsert_loans(sessions, [loan_row(contract_no)])
    case_id = f"RC-P{uuid.uuid4().hex[:9].upper()}"
    document_id = f"DOC-P{uuid.uuid4().hex[:10].upper()}"
    sha = await store.put(png())
    async with sessions() as session, session.begin():
        session.add(case_row(case_id, contract_no, branch="SH", **fields))
        await session.flush()
        session.add(
            Document(
                document_id=document_id,
                case_id=case_id,
                doc_type="id_card",
                sha256=sha,
                filename="id.png",
                media_type="image/png",
                size_bytes=len(png()),
                uploaded_by="someone",
            )
        )
        await session.flush()
        session.add(
            OcrResult(
                document_id=document_id,
                case_id=case_id,
                sha256=sha,
                doc_type="id_card",
                engine="rapidocr",
                fields={"id_number": {"value": id_number(), "confidence": 0.9, "valid": True}},
                needs_review=False,
                issues=[],
                mismatches=[],
                ms=10,
            )
        )
    return case_id, document_id


async def viewed_events(sessions, case_id: str) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(AuditEvent.stream == case_id, AuditEvent.event == "document.viewed")
            .order_by(AuditEvent.seq)
        )
        return list(rows.scalars())


# --- the case page ------------------------------------------------------------------


async def test_the_case_page_is_read_from_postgresql_without_asking_the_workflow(
    page_api, tokens, sessions, temporal
):
    api, app = page_api
    case_id, document_id = await a_case(
        sessions,
        app.state.store,
        status=CaseStatus.AWAITING_DOCUMENTS.value,
        step="awaiting_documents",
        round=2,
        missing_documents=["driving_license", "settlement_certificate"],
    )
    now = utcnow()
    async with sessions() as session, session.begin():
        session.add_all(
            [
                RiskAssessment(case_id=case_id, round=1, grade="HIGH", reasons=["old"]),
                RiskAssessment(case_id=case_id, round=2, grade="LOW", reasons=[]),
                HumanTask(
                    task_id=f"{case_id}-approval-1",
                    case_id=case_id,
                    kind=TaskKind.APPROVAL.value,
                    state=TaskState.DONE.value,
                    created_at=now - timedelta(hours=2),
                    closed_at=now - timedelta(hours=1),
                ),
                HumanTask(
                    task_id=f"{case_id}-incident-1",
                    case_id=case_id,
                    kind=TaskKind.INCIDENT.value,
                    state=TaskState.OPEN.value,
                    queue="senior",
                    created_at=now,
                    details={
                        "step": "notify",
                        "error_type": "SmsDown",
                        "message": "no",
                        "side": True,
                    },
                ),
                Decision(
                    decision_ref=f"{case_id}-approval-1:request_documents:x",
                    case_id=case_id,
                    task_id=f"{case_id}-approval-1",
                    actor="x",
                    role="operator",
                    decision="request_documents",
                ),
            ]
        )
    response = await api.get(f"/api/v1/cases/{case_id}", headers=auth(tokens, "alice"))
    assert response.status_code == 200, response.text
    view = response.json()
    assert "live" not in view
    assert view["round"] == 2
    assert view["missing_documents"] == ["driving_license", "settlement_certificate"]
    assert view["risk"] == {"grade": "LOW", "reasons": [], "required_approvals": 1}
    assert [d["document_id"] for d in view["documents"]] == [document_id]
    reading = view["documents"][0]["ocr"]["fields"]["id_number"]
    assert reading["value"] == "110101********" + id_number()[-4:]
    assert [t["kind"] for t in view["tasks"]] == ["approval", "incident"]
    assert view["incident"]["task_id"] == f"{case_id}-incident-1" and view["incident"]["side"]
    assert [a["decision"] for a in view["approvals"]] == ["request_documents"]
    assert view["created_at"].endswith("Z") and view["tasks"][0]["created_at"].endswith("Z")
    assert temporal.queries == []


async def test_another_branchs_case_page_is_404_like_a_missing_one(page_api, sessions):
    api, app = page_api
    case_id, _ = await a_case(sessions, app.state.store)
    stranger = await add_operator(sessions, f"ustranger-{RUN}", Role.SENIOR, branch="GZ")
    headers = {"Authorization": f"Bearer {stranger}"}
    for path in (f"/api/v1/cases/{case_id}", "/api/v1/cases/RC-NOSUCHCASE"):
        assert_error(await api.get(path, headers=headers), 404, "case_not_found")


# --- reads of a document's file -------------------------------------------------------


async def test_every_read_of_a_document_is_audited_before_the_bytes_leave(
    page_api, tokens, sessions
):
    api, app = page_api
    case_id, document_id = await a_case(sessions, app.state.store)
    path = f"/api/v1/cases/{case_id}/documents/{document_id}/content"
    for who in ("alice", "carol", "alice"):
        read = await api.get(path, headers=auth(tokens, who))
        assert read.status_code == 200 and read.content == png()
        assert read.headers["cache-control"] == "private, no-store"
    events = await viewed_events(sessions, case_id)
    assert [(e.actor, e.details) for e in events] == [
        (f"u{who}-{RUN}", {"document_id": document_id, "doc_type": "id_card", "role": role})
        for who, role in (("alice", "operator"), ("carol", "auditor"), ("alice", "operator"))
    ]
    history = await api.get(f"/api/v1/cases/{case_id}/history", headers=auth(tokens, "carol"))
    assert history.json()["verification"]["ok"] is True


async def test_a_read_that_finds_nothing_is_not_recorded(page_api, tokens, sessions):
    api, app = page_api
    case_id, document_id = await a_case(sessions, app.state.store)
    missing = await api.get(
        f"/api/v1/cases/{case_id}/documents/DOC-NOSUCHDOC/content", headers=auth(tokens, "alice")
    )
    assert_error(missing, 404, "document_not_found")
    async with sessions() as session, session.begin():
        document = await session.get(Document, document_id)
        document.sha256 = "0" * 64  # its file is gone from the store
    gone = await api.get(
        f"/api/v1/cases/{case_id}/documents/{document_id}/content", headers=auth(tokens, "alice")
    )
    assert_error(gone, 404, "document_content_missing")
    assert await viewed_events(sessions, case_id) == []


# Roles that neither work nor audit cases (the ledger feed `integration`, guarantee
# `partner`s): none today, so this runs once Role grows them.
NON_READERS = [role for role in Role if role not in DOCUMENT_READERS]


@pytest.mark.parametrize("role", NON_READERS)
async def test_roles_that_do_not_work_cases_never_read_a_document(page_api, sessions, role):
    """They get a 403 that says why, not a borrower's ID card, and nothing is recorded."""
    api, app = page_api
    case_id, document_id = await a_case(sessions, app.state.store)
    token = await add_operator(sessions, f"u{role.value}-{RUN}", role, branch="SH")
    read = await api.get(
        f"/api/v1/cases/{case_id}/documents/{document_id}/content",
        headers={"Authorization": f"Bearer {token}"},
    )
    message = assert_error(read, 403, "forbidden")
    assert f"role {role.value} may not read documents' files" in message
    assert await viewed_events(sessions, case_id) == []
