"""Activities against real PostgreSQL and the simulators (ActivityEnvironment)."""

from __future__ import annotations

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.adapters.ledger import DatabaseLedger
from activities.adapters.registry import RegistryClient
from activities.adapters.sms import SmsGateway
from activities.case_activities import CaseActivities
from activities.errors import CASE_NOT_FOUND
from activities.notification_activities import NotificationActivities
from activities.registry_activities import RegistryActivities
from models.audit import GENESIS_HASH, event_hash
from models.enums import CaseStatus, Milestone, RegistryOutcome
from models.payloads import (
    CaseRef,
    CheckDeregistrationInput,
    NotifyCustomerInput,
    RecordTransitionInput,
    SubmitDeregistrationInput,
)
from models.tables import AuditEvent, Notification, RegistryRequest
from tests.utils.factories import insert_case_row, insert_loan, new_facts, phone_for


@pytest_asyncio.fixture(loop_scope="session")
async def http():
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def case_id(sessions):
    facts = new_facts()
    await insert_loan(sessions, facts)
    return await insert_case_row(sessions, facts), facts


async def test_transitions_update_the_row_and_chain_the_audit_trail(sessions, case_id):
    cid, _ = case_id
    cases = CaseActivities(sessions, DatabaseLedger(sessions))
    env = ActivityEnvironment()
    for n, status in enumerate([CaseStatus.AWAITING_DOCUMENTS, CaseStatus.IN_REVIEW], start=1):
        step = RecordTransitionInput(
            case_id=cid, status=status, step=f"s{n}", event=f"status.{n}", event_key=f"{cid}:{n}"
        )
        await env.run(cases.record_transition, step)
        await env.run(cases.record_transition, step)  # a retry must not append twice
    async with sessions() as session:
        events = (
            (
                await session.exec(
                    select(AuditEvent).where(AuditEvent.stream == cid).order_by(AuditEvent.seq)
                )
            )
            .scalars()
            .all()
        )
    assert [e.seq for e in events] == [1, 2]
    previous = GENESIS_HASH
    for e in events:
        assert e.prev_hash == previous
        assert e.hash == event_hash(
            previous, e.stream, e.seq, e.event, e.actor, e.details, e.created_at
        )
        previous = e.hash


async def test_unknown_case_is_a_non_retryable_business_error(sessions):
    cases = CaseActivities(sessions, DatabaseLedger(sessions))
    with pytest.raises(ApplicationError) as error:
        await ActivityEnvironment().run(cases.verify_repayment, CaseRef(case_id="RC-NOPE"))
    assert error.value.type == CASE_NOT_FOUND and error.value.non_retryable


async def test_repayment_check_reads_the_ledger(sessions, case_id):
    cid, _ = case_id
    cases = CaseActivities(sessions, DatabaseLedger(sessions))
    check = await ActivityEnvironment().run(cases.verify_repayment, CaseRef(case_id=cid))
    assert check.settled and check.settled_at is not None


async def test_notification_is_sent_once_even_when_retried(sessions, case_id, sms_sim, http):
    cid, facts = case_id
    notifier = NotificationActivities(sessions, SmsGateway(http, sms_sim), mailer=None)
    request = NotifyCustomerInput(case_id=cid, milestone=Milestone.RECEIVED)
    first = await ActivityEnvironment().run(notifier.notify_customer, request)
    again = await ActivityEnvironment().run(notifier.notify_customer, request)
    assert len(first.sent) == 1 and again.sent == [] and again.skipped_duplicates == first.sent
    # Even if our "sent" mark were lost, the gateway's dedupe on our key holds.
    async with sessions() as session, session.begin():
        row = (
            await session.exec(select(Notification).where(Notification.case_id == cid))
        ).scalar_one()
        row.status = "pending"
    await ActivityEnvironment().run(notifier.notify_customer, request)
    log = (await http.get(f"{sms_sim}/_sim/log")).json()
    assert len([m for m in log if m["to"] == phone_for(facts)]) == 1


async def test_deregistration_is_submitted_once_per_key(sessions, case_id, registry_sim, http):
    cid, _ = case_id
    registry = RegistryActivities(
        sessions, DatabaseLedger(sessions), RegistryClient(http, registry_sim)
    )
    request = SubmitDeregistrationInput(case_id=cid, idempotency_key=f"{cid}-dereg-1")
    first = await ActivityEnvironment().run(registry.submit_deregistration, request)
    again = await ActivityEnvironment().run(registry.submit_deregistration, request)
    assert first.registry_ref == again.registry_ref
    records = (await http.get(f"{registry_sim}/_sim/deregistrations")).json()
    assert sum(1 for r in records if r["request"]["case_ref"] == cid) == 1
    import asyncio

    await asyncio.sleep(0.5)  # the simulator completes after 0.3 s
    result = await ActivityEnvironment().run(
        registry.check_deregistration,
        CheckDeregistrationInput(case_id=cid, idempotency_key=request.idempotency_key),
    )
    assert result.outcome == RegistryOutcome.COMPLETED
    async with sessions() as session:
        row = await session.get(RegistryRequest, request.idempotency_key)
    assert row.status == RegistryOutcome.COMPLETED and row.attempts >= 2
