"""The registry's answers as stored state: which outcome a `registry_requests` row may take,
and which callback deliveries were already taken.

Callbacks and polls race and arrive out of order, so every writer of a row's
outcome goes through `apply_registry_outcome`; it runs inside the caller's
transaction (the API's request session, or an activity's `session.begin()`)."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from models.enums import RegistryOutcome
from models.tables import RegistryCallbackReceipt, RegistryRequest, utcnow


async def apply_registry_outcome(
    session: AsyncSession,
    key: str,
    outcome: RegistryOutcome,
    registry_ref: str | None,
    reason: str | None,
    *,
    count_attempt: bool = False,
) -> bool:
    """Store `outcome` on the request `key`; False when the row is final with another outcome.

    A final outcome is never undone: a late PENDING (or a contradicting final
    answer) leaves the row as it is. Repeating the row's own outcome is taken,
    so a retried delivery still counts as news for the workflow. A missing
    `registry_ref` keeps the one already known. `count_attempt` is for callers
    that asked the registry (submit, poll), not for callbacks."""
    values: dict = {
        "status": outcome.value,
        "reason": reason,
        "registry_ref": func.coalesce(registry_ref, RegistryRequest.registry_ref),
        "updated_at": utcnow(),
    }
    if count_attempt:
        values["attempts"] = RegistryRequest.attempts + 1
    # One conditional UPDATE: the row lock it takes makes two racing writers see
    # each other's result, so no read-then-write window can undo a final outcome.
    changed = await session.exec(
        update(RegistryRequest)
        .where(
            RegistryRequest.idempotency_key == key,
            or_(
                RegistryRequest.status == RegistryOutcome.PENDING.value,
                RegistryRequest.status == outcome.value,
            ),
        )
        .values(**values)
        .returning(RegistryRequest.idempotency_key)
    )
    return changed.first() is not None


async def take_callback(
    session: AsyncSession, callback_id: str, key: str, outcome: RegistryOutcome
) -> bool:
    """Record a callback delivery by its id; False when that id was taken before (a replay).

    A concurrent delivery of the same id waits on the primary key until this
    transaction ends, then sees the conflict, so only one of them is taken."""
    taken = await session.exec(
        insert(RegistryCallbackReceipt)
        .values(
            callback_id=callback_id,
            idempotency_key=key,
            status=outcome.value,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["callback_id"])
        .returning(RegistryCallbackReceipt.callback_id)
    )
    return taken.first() is not None


async def forget_callback(session: AsyncSession, callback_id: str) -> None:
    """Drop a receipt, so the registry's next delivery of that callback is taken again."""
    await session.exec(
        delete(RegistryCallbackReceipt).where(RegistryCallbackReceipt.callback_id == callback_id)
    )
