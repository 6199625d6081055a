"""The API as a real process (`jieya api`) over real HTTP, with a real worker
on the Temporal dev server: what an operator's tool sees."""

from __future__ import annotations

import asyncio

import httpx
import pytest_asyncio

from tests.utils.factories import REQUIRED, document_png, loan_csv, new_facts, phone_for
from tests.utils.live import running_api


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(dev_env, database_url, sessions, registry_sim, sms_sim, data_dir):
    async with running_api(
        dev_env, database_url, sessions, registry_sim, sms_sim, data_dir, prefix="h-"
    ) as running:
        yield running.api, running.tokens


def auth(tokens, who, **headers):
    return {"Authorization": f"Bearer {tokens[who]}", **headers}


def case_body(facts, **borrower):
    return {
        "loan_contract_no": facts.contract_no,
        "borrower": {
            "name": facts.name,
            "id_number": facts.id_number,
            "phone": phone_for(facts),
            **borrower,
        },
        "vehicle": {"plate_no": facts.plate_no, "vin": facts.vin},
    }


def has_open_task(case) -> bool:
    return case["status"] == "AWAITING_APPROVAL" and any(
        t["state"] == "open" for t in case["tasks"]
    )


async def poll(api, tokens, case_id, predicate, timeout=120):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        case = (await api.get(f"/cases/{case_id}", headers=auth(tokens, "carol"))).json()
        if predicate(case):
            return case
        await asyncio.sleep(0.3)
    raise AssertionError(f"case {case_id} stuck at {case['status']}/{case['step']}")


async def test_a_case_from_opening_to_completed_over_http(live):
    api, tokens = live
    facts = new_facts()
    imported = await api.post(
        "/loans/import",
        headers=auth(tokens, "bob"),
        files={"file": ("l.csv", loan_csv(facts), "text/csv")},
    )
    assert imported.status_code == 200, imported.text
    opened = await api.post(
        "/cases",
        headers=auth(tokens, "alice", **{"Idempotency-Key": facts.contract_no}),
        json=case_body(facts),
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    again = await api.post(
        "/cases",
        headers=auth(tokens, "alice", **{"Idempotency-Key": facts.contract_no}),
        json=case_body(facts),
    )
    assert again.json()["case_id"] == case_id
    duplicate = await api.post("/cases", headers=auth(tokens, "alice"), json=case_body(facts))
    assert duplicate.status_code == 409 and "already open" in duplicate.json()["error"]["message"]

    early = await api.post(
        f"/cases/{case_id}/decisions", headers=auth(tokens, "dave"), json={"decision": "approve"}
    )
    assert early.status_code == 409, early.text
    for index, doc_type in enumerate(REQUIRED):
        uploaded = await api.post(
            f"/cases/{case_id}/documents",
            headers=auth(tokens, "alice"),
            data={"doc_type": doc_type.value},
            files={"file": ("scan.png", document_png(doc_type, facts, index), "image/png")},
        )
        assert uploaded.status_code == 201, uploaded.text

    case = await poll(api, tokens, case_id, has_open_task)
    tasks = (await api.get("/tasks", headers=auth(tokens, "dave"))).json()["data"]
    assert any(t["case_id"] == case_id for t in tasks)
    refused = await api.post(
        f"/cases/{case_id}/decisions", headers=auth(tokens, "carol"), json={"decision": "approve"}
    )
    assert refused.status_code == 403
    approvers = ["dave"] if case["risk"]["required_approvals"] == 1 else ["dave", "bob"]
    for name in approvers:
        await poll(
            api,
            tokens,
            case_id,
            lambda c: (
                c["status"] == "AWAITING_APPROVAL" and any(t["state"] == "open" for t in c["tasks"])
            ),
        )
        decided = await api.post(
            f"/cases/{case_id}/decisions",
            headers=auth(tokens, name),
            json={"decision": "approve", "comment": "ok"},
        )
        assert decided.status_code == 200, decided.text
    final = await poll(api, tokens, case_id, lambda c: c["status"] == "COMPLETED")
    assert final["borrower"]["id_number"] != facts.id_number  # masked by default
    history = (await api.get(f"/cases/{case_id}/history", headers=auth(tokens, "carol"))).json()[
        "data"
    ]
    events = [e["event"] for e in history]
    assert events[0] == "case.opened" and "status.completed" in events
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))


async def test_bad_input_gets_a_clear_4xx(live):
    api, tokens = live
    facts = new_facts()
    bad_id = await api.post(
        "/cases",
        headers=auth(tokens, "alice"),
        json=case_body(facts, id_number="110105194912310021"),
    )
    assert bad_id.status_code == 422 and "id_number" in bad_id.text
    missing = await api.post("/cases", headers=auth(tokens, "alice"), json={"borrower": {}})
    assert missing.status_code == 422 and "loan_contract_no" in missing.text
    unknown = await api.get("/cases/RC-NOSUCHCASE", headers=auth(tokens, "alice"))
    assert unknown.status_code == 404 and unknown.json()["error"]["message"]
    no_token = await api.get("/cases")
    assert no_token.status_code == 401
    not_an_image = await api.post(
        "/cases/RC-NOSUCHCASE/documents",
        headers=auth(tokens, "alice"),
        data={"doc_type": "id_card"},
        files={"file": ("x.png", b"GIF89a not really", "image/png")},
    )
    assert not_an_image.status_code in (404, 415)


async def test_an_incident_over_http_is_seen_filtered_counted_and_resolved(live, sms_sim):
    """A refused SMS: the case goes on, shows its incident, lists under
    `incident=true`, counts in /metrics, and only a senior resolves it."""
    from tests.utils.simulators import sim_faults

    api, tokens = live
    facts = new_facts()
    await api.post(
        "/loans/import",
        headers=auth(tokens, "bob"),
        files={"file": ("l.csv", loan_csv(facts), "text/csv")},
    )
    async with (
        httpx.AsyncClient(timeout=10) as http,
        sim_faults(http, sms_sim, fail_keys=[":received:"]),
    ):
        opened = await api.post("/cases", headers=auth(tokens, "alice"), json=case_body(facts))
        case_id = opened.json()["case_id"]
        case = await poll(api, tokens, case_id, lambda c: c["incident"] is not None)
    incident = case["incident"]
    assert case["status"] == "AWAITING_DOCUMENTS" and incident["side"]
    assert incident["step"] == "notify_customer"
    assert incident["error_type"] == "PermanentExternalError" and incident["skippable"]

    listed = (await api.get("/cases?incident=true", headers=auth(tokens, "carol"))).json()
    assert case_id in [c["case_id"] for c in listed["data"]]
    seniors = (await api.get("/tasks?kind=incident", headers=auth(tokens, "bob"))).json()
    assert incident["task_id"] in [t["task_id"] for t in seniors["data"]]
    operators = (await api.get("/tasks?kind=incident", headers=auth(tokens, "alice"))).json()
    assert incident["task_id"] not in [t["task_id"] for t in operators["data"]]
    metrics = (await api.get("/metrics")).text
    assert 'jieya_open_incidents{step="notify_customer"}' in metrics

    url = f"/cases/{case_id}/decisions"
    refused = await api.post(
        url, headers=auth(tokens, "dave"), json={"decision": "skip", "comment": "x"}
    )
    assert refused.status_code == 403, refused.text
    bare = await api.post(url, headers=auth(tokens, "bob"), json={"decision": "skip"})
    assert bare.status_code == 422 and bare.json()["error"]["code"] == "comment_required"
    wrong = await api.post(url, headers=auth(tokens, "bob"), json={"decision": "approve"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_decision"
    skipped = await api.post(
        url, headers=auth(tokens, "bob"), json={"decision": "skip", "comment": "已电话通知客户"}
    )
    assert skipped.status_code == 200, skipped.text
    case = await poll(api, tokens, case_id, lambda c: c["incident"] is None)
    assert case["status"] == "AWAITING_DOCUMENTS"
    big = await api.post(
        url, headers=auth(tokens, "bob"), json={"decision": "reject", "documents": ["id_card"] * 10}
    )
    assert big.status_code == 422 and "documents" in big.json()["error"]["message"]
