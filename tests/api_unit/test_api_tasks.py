"""The HTTP API in-process: who I am, PII on request, task claims and the inbox.

Needs PostgreSQL and the offline time-skipping Temporal
test server; no worker runs, so workflows are started and signalled but never advance."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from api.routes import decisions
from models.enums import Role, TaskKind, TaskState
from models.loans import upsert_loans
from models.masking import masked
from models.operators import add_operator
from models.tables import Case, HumanTask, RiskAssessment, utcnow
from tests.utils.api_unit import (
    RUN,
    assert_error,
    auth,
    loan_row,
)
from tests.utils.inprocess import FakeHandle, FakeTemporal, case_row, id_number, vin
from workflows.decisions import FOUR_EYES

pytestmark = [pytest.mark.timeout(120)]


# --- who I am, PII on request, claims and the inbox ------------------------------------


async def task_case(sessions, *, kind=TaskKind.APPROVAL, opened_by="someone", **task) -> str:
    """A case of branch SH waiting on one open task (rows only: no workflow)."""
    contract_no = f"HT-{RUN}-{uuid.uuid4().hex[:6]}"
    await upsert_loans(sessions, [loan_row(contract_no)])
    case_id = f"RC-U{uuid.uuid4().hex[:9].upper()}"
    async with sessions() as session, session.begin():
        session.add(
            case_row(
                case_id,
                contract_no,
                step=f"awaiting_{kind.value}",
                branch="SH",
                opened_by=opened_by,
                assignee=task.get("assignee"),
            )
        )
        await session.flush()
        session.add(
            HumanTask(
                task_id=f"{case_id}-{kind.value}-1",
                case_id=case_id,
                kind=kind.value,
                state=TaskState.OPEN.value,
                **task,
            )
        )
    return case_id


def task_of(case_id: str, kind: TaskKind = TaskKind.APPROVAL) -> str:
    return f"{case_id}-{kind.value}-1"


async def events_of(api, tokens, case_id) -> list[tuple[str, str, dict]]:
    history = await api.get(f"/api/v1/cases/{case_id}/history", headers=auth(tokens, "carol"))
    return [(e["event"], e["actor"], e["details"]) for e in history.json()["data"]]


async def test_me_names_role_and_branch(api, tokens):
    response = await api.get("/api/v1/me", headers=auth(tokens, "bob"))
    assert response.json() == {"name": f"ubob-{RUN}", "role": "senior", "branch": "SH"}


async def test_pii_is_masked_everywhere_unless_revealed_and_each_reveal_is_audited(
    api, tokens, sessions
):
    quoted = f"id_card.id_number: document says {id_number()!r}; call 13812345678"
    case_id = await task_case(sessions, details={"reasons": [quoted]})
    async with sessions() as session, session.begin():
        session.add(RiskAssessment(case_id=case_id, grade="HIGH", reasons=[quoted]))
    masked_view = await api.get(f"/api/v1/cases/{case_id}", headers=auth(tokens, "bob"))
    assert masked_view.status_code == 200, masked_view.text
    inbox = await api.get("/api/v1/tasks?limit=200", headers=auth(tokens, "bob"))
    listing = await api.get("/api/v1/cases?q=张三", headers=auth(tokens, "bob"))
    for response in (masked_view, inbox, listing):
        assert id_number() not in response.text and "13812345678" not in response.text
    assert "110101********" in masked_view.json()["risk"]["reasons"][0]

    denied = await api.get(f"/api/v1/cases/{case_id}?reveal=pii", headers=auth(tokens, "alice"))
    assert "may not see full ID and phone numbers" in assert_error(denied, 403, "forbidden")
    for who in ("bob", "carol"):
        full = await api.get(f"/api/v1/cases/{case_id}?reveal=true", headers=auth(tokens, who))
        assert full.status_code == 200, full.text
        assert full.json()["borrower"] == {
            "name": "张三",
            "id_number": id_number(),
            "phone": "13812345678",
        }
        assert full.json()["risk"]["reasons"] == [quoted]
    reveals = [(a, d) for e, a, d in await events_of(api, tokens, case_id) if e == "pii.revealed"]
    assert reveals == [
        (f"u{who}-{RUN}", {"fields": ["borrower.id_number", "borrower.phone"], "role": role})
        for who, role in (("bob", "senior"), ("carol", "auditor"))
    ]
    assert_error(
        await api.get(f"/api/v1/cases/{case_id}?reveal=all", headers=auth(tokens, "bob")), 422
    )


async def test_claim_release_and_assign(api, tokens, sessions):
    frank = await add_operator(sessions, f"ufrank-{RUN}", Role.OPERATOR, branch="SH")
    await add_operator(sessions, f"ugina-{RUN}", Role.OPERATOR, branch="BJ")
    tokens = {**tokens, "frank": frank}
    case_id = await task_case(sessions, opened_by=f"ufrank-{RUN}")
    task = task_of(case_id)

    async def post(who: str, action: str, **body) -> httpx.Response:
        return await api.post(
            f"/api/v1/tasks/{task}/{action}", json=body or None, headers=auth(tokens, who)
        )

    claimed = await post("alice", "claim")
    assert claimed.status_code == 200 and claimed.json()["assignee"] == f"ualice-{RUN}"
    assert (await post("alice", "claim")).status_code == 200  # already hers: no-op
    held = await api.get(f"/api/v1/cases?assignee=ualice-{RUN}", headers=auth(tokens, "bob"))
    assert case_id in {c["case_id"] for c in held.json()["data"]}
    assert f"claimed by ualice-{RUN}" in assert_error(
        await post("bob", "claim"), 409, "task_claimed"
    )
    assert "only they or a senior" in assert_error(await post("frank", "release"), 403)
    released = await post("bob", "release")
    assert released.status_code == 200 and released.json()["assignee"] is None
    assert_error(await post("bob", "release"), 409, "task_not_claimed")
    # The opener may not take the approval of their own case.
    assert "opened this case" in assert_error(await post("frank", "claim"), 403, "four_eyes")

    assert_error(await post("alice", "assign", operator=f"uerin-{RUN}"), 403, "forbidden")
    for target, reason in (
        ("nobody", "no active operator"),
        (f"umallory-{RUN}", "no active operator"),  # revoked
        (f"ucarol-{RUN}", "may not decide"),
        (f"ugina-{RUN}", "cannot see this case"),
        (f"ufrank-{RUN}", "opened this case"),
    ):
        refused = await post("bob", "assign", operator=target)
        assert reason in assert_error(refused, 422, "invalid_assignee"), target
    assigned = await post("bob", "assign", operator=f"uerin-{RUN}")
    assert assigned.status_code == 200 and assigned.json()["assignee"] == f"uerin-{RUN}"
    trail = [(e, a, d["assignee"]) for e, a, d in await events_of(api, tokens, case_id)]
    assert trail == [
        ("task.claimed", f"ualice-{RUN}", f"ualice-{RUN}"),
        ("task.released", f"ubob-{RUN}", None),
        ("task.assigned", f"ubob-{RUN}", f"uerin-{RUN}"),
    ]
    assert_error(await api.post("/api/v1/tasks/RC-NOPE-x/claim", headers=auth(tokens, "bob")), 404)


async def test_inbox_filters_and_the_senior_queue(api, tokens, sessions):
    past = utcnow() - timedelta(hours=1)
    overdue = task_of(await task_case(sessions, due_at=past))
    escalated = task_of(await task_case(sessions, due_at=past, queue="senior", escalated_at=past))
    second = TaskKind.SECOND_APPROVAL
    first_by_bob = task_of(
        await task_case(sessions, kind=second, details={"first": [f"ubob-{RUN}"]}), second
    )
    held = task_of(
        await task_case(sessions, assignee=f"ualice-{RUN}", due_at=utcnow() + timedelta(days=1))
    )
    ours = {overdue, escalated, first_by_bob, held}

    async def inbox(who: str, query: str = "") -> set[str]:
        response = await api.get(f"/api/v1/tasks?limit=200&{query}", headers=auth(tokens, who))
        assert response.status_code == 200, response.text
        return {t["task_id"] for t in response.json()["data"]} & ours

    assert await inbox("alice") == {overdue, held}
    assert await inbox("alice", "overdue=true") == {overdue}
    assert await inbox("alice", "overdue=false") == {held}
    assert await inbox("alice", "mine=true") == {held}
    assert await inbox("bob", f"assignee=ualice-{RUN}") == {held}
    assert await inbox("alice", "queue=senior") == set()
    assert await inbox("alice", "branch=BJ") == set()
    assert await inbox("bob", "queue=senior") == {escalated}
    assert await inbox("bob") == {overdue, escalated, held}  # bob gave the first approval
    assert await inbox("erin", "kind=second_approval") == {first_by_bob}
    assert_error(await api.get("/api/v1/tasks?queue=vip", headers=auth(tokens, "bob")), 422)

    async def claim(who: str, task_id: str) -> httpx.Response:
        return await api.post(f"/api/v1/tasks/{task_id}/claim", headers=auth(tokens, who))

    assert "escalated: it is in the senior queue" in assert_error(
        await claim("alice", escalated), 403
    )
    assert "from a senior" in assert_error(await claim("alice", first_by_bob), 403, "four_eyes")
    assert "already approved" in assert_error(await claim("bob", first_by_bob), 403, "four_eyes")
    assert (await claim("bob", escalated)).status_code == 200


async def test_a_decision_acts_on_a_claimed_task(api, tokens, sessions, monkeypatch):
    fake = FakeTemporal()
    monkeypatch.setattr(
        decisions, "case_handle", lambda _client, case_id: FakeHandle(fake, case_id)
    )
    case_id = await task_case(sessions, opened_by=f"ualice-{RUN}")
    task = task_of(case_id)

    async def decide(who: str, decision: str = "approve") -> httpx.Response:
        return await api.post(
            f"/api/v1/cases/{case_id}/decisions",
            json={"decision": decision},
            headers=auth(tokens, who),
        )

    async def holder() -> tuple[str | None, str | None]:
        async with sessions() as session:
            row = await session.get(HumanTask, task)
            case = await session.get(Case, case_id)
            return row.assignee, case.assignee

    # Refused before the workflow hears of it, with the validator's own words.
    assert "opened this case" in assert_error(await decide("alice"), 403, "four_eyes")
    assert fake.updates == [] and await holder() == (None, None)
    await api.post(f"/api/v1/tasks/{task}/claim", headers=auth(tokens, "erin"))
    assert f"claimed by uerin-{RUN}" in assert_error(await decide("bob"), 409, "task_claimed")
    await api.post(f"/api/v1/tasks/{task}/release", headers=auth(tokens, "erin"))

    fake.refuse = (FOUR_EYES, "the workflow says no")
    assert assert_error(await decide("bob"), 403, "four_eyes") == "the workflow says no"
    assert await holder() == (None, None)  # a refused decision writes no claim
    fake.refuse = None
    decided = await decide("bob")
    assert decided.status_code == 200, decided.text
    assert decided.json()["outcome"]["step"] == "decided"  # the case's own answer
    assert await holder() == (f"ubob-{RUN}", None)  # who decided; the case waits on nobody
    request = fake.updates[-1][1]
    assert (request.actor, request.role, request.decision) == (
        f"ubob-{RUN}",
        Role.SENIOR,
        "approve",
    )
    events = [(e, d.get("auto")) for e, _, d in await events_of(api, tokens, case_id)]
    # Erin's claim and release; the refused decision left no trace; bob's decision.
    assert events == [
        ("task.claimed", None),
        ("task.released", None),
        ("task.claimed", True),
    ]


def test_masking_reaches_ocr_readings_mismatches_and_free_text():
    ocr = {
        "fields": {"id_number": {"value": "1101011990O307123X", "confidence": 0.8}},
        "mismatches": [{"field": "id_number", "ocr_value": "11O1", "expected": id_number()}],
        "issues": [f"low confidence on {id_number()}", "phone 13812345678 unreadable"],
        "vin": vin(),
    }
    assert masked(ocr) == {
        "fields": {"id_number": {"value": "110101********123X", "confidence": 0.8}},
        "mismatches": [
            {
                "field": "id_number",
                "ocr_value": "****",
                "expected": "110101********" + id_number()[-4:],
            }
        ],
        "issues": [
            f"low confidence on 110101********{id_number()[-4:]}",
            "phone 138****5678 unreadable",
        ],
        "vin": vin(),  # 17 characters: a VIN is no ID number
    }
