"""Deregistration at the vehicle registry (车管所)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.adapters.errors import PermanentExternalError
from activities.adapters.ledger import Ledger
from activities.adapters.registry import DeregistrationRequest, RegistryClient, RegistryStatus
from activities.bookkeeping import write_transitions
from activities.errors import (
    CASE_NOT_FOUND,
    LOAN_NOT_FOUND,
    REGISTRY_PENDING,
    REGISTRY_REFUSED,
    business_error,
)
from kernel.db import SessionFactory
from models.audit import append_event
from models.enums import RegistryOutcome
from models.payloads import CheckDeregistrationInput, RegistryResult, SubmitDeregistrationInput
from models.registry import apply_registry_outcome
from models.tables import Case, RegistryRequest, utcnow


class RegistryActivities:
    def __init__(self, sessions: SessionFactory, ledger: Ledger, registry: RegistryClient) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._registry = registry

    @activity.defn
    async def submit_deregistration(self, request: SubmitDeregistrationInput) -> RegistryResult:
        """Ask the registry to lift the mortgage; the key makes a resubmission harmless."""
        async with self._sessions() as session:
            case = await session.get(Case, request.case_id)
        if case is None:
            raise business_error(CASE_NOT_FOUND, f"case {request.case_id} does not exist")
        loan = await self._ledger.get_loan(case.loan_contract_no)
        if loan is None:
            raise business_error(
                LOAN_NOT_FOUND, f"loan {case.loan_contract_no} is not in the ledger"
            )
        async with self._sessions() as session, session.begin():
            await write_transitions(session, request.records)
            await session.exec(
                insert(RegistryRequest)
                .values(
                    idempotency_key=request.idempotency_key,
                    case_id=case.case_id,
                    status=RegistryOutcome.PENDING.value,
                    attempts=0,
                    submitted_at=utcnow(),
                    updated_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
        try:
            status = await self._registry.submit(
                request.idempotency_key,
                DeregistrationRequest(
                    case_ref=case.case_id,
                    contract_no=case.loan_contract_no,
                    plate_no=case.plate_no,
                    vin=case.vin,
                    lender=loan.lender,
                    callback_url=request.callback_url,
                ),
            )
        except PermanentExternalError as error:
            raise business_error(
                REGISTRY_REFUSED, f"registry refused the request: {error}"
            ) from error
        activity.logger.info(
            "deregistration submitted",
            extra={"registry_ref": status.registry_ref, "outcome": status.status},
        )
        return await self._store(request.case_id, request.idempotency_key, status, "submitted")

    @activity.defn
    async def check_deregistration(self, request: CheckDeregistrationInput) -> RegistryResult:
        """Poll the registry for the outcome of an earlier submission."""
        try:
            status = await self._registry.status(request.idempotency_key)
        except PermanentExternalError as error:
            raise business_error(REGISTRY_REFUSED, f"registry lost the request: {error}") from error
        return await self._store(request.case_id, request.idempotency_key, status, "polled")

    @activity.defn
    async def await_deregistration(self, request: CheckDeregistrationInput) -> RegistryResult:
        """Ask once; while the registry has not decided, fail with RegistryPending so
        the retry policy asks again later (workflows.policies.registry_wait)."""
        result = await self.check_deregistration(request)
        if result.outcome == RegistryOutcome.PENDING:
            raise ApplicationError(
                f"the registry has not decided {request.idempotency_key} yet",
                type=REGISTRY_PENDING,
                # Expected, every poll: not worth a traceback in the worker's log.
                category=ApplicationErrorCategory.BENIGN,
            )
        return result

    async def _store(
        self, case_id: str, key: str, status: RegistryStatus, how: str
    ) -> RegistryResult:
        outcome = RegistryOutcome(status.status)
        async with self._sessions() as session, session.begin():
            # A late PENDING never undoes a final answer a callback already stored.
            changed = await apply_registry_outcome(
                session, key, outcome, status.registry_ref, status.reason, count_attempt=True
            )
            if changed and (outcome != RegistryOutcome.PENDING or how == "submitted"):
                await append_event(
                    session,
                    stream=case_id,
                    event=f"registry.{how}"
                    if outcome == RegistryOutcome.PENDING
                    else "registry.result",
                    actor="registry",
                    details={
                        "key": key,
                        "outcome": outcome.value,
                        "reason": status.reason,
                        "registry_ref": status.registry_ref,
                    },
                    event_key=f"{key}:{outcome.value}:{how}",
                )
        return RegistryResult(
            idempotency_key=key,
            outcome=outcome,
            registry_ref=status.registry_ref,
            reason=status.reason,
        )
