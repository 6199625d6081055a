"""Who holds a human task, and who may take which one.

A task's holder is `HumanTask.assignee` (mirrored to `Case.assignee` for the case
search); every change of holder is written under the case's lock together with its
audit record. Who may take what is `models.rules`, the rules the `decide`
validator applies, so a person is turned away at the claim with the workflow's words."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import ColumnElement, exists, false, not_, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import is_active
from api.errors import ApiError
from api.records import lock_case
from api.scope import case_scope, find_visible_case
from models import rules
from models.audit import append_event
from models.enums import Role, TaskKind, TaskQueue, TaskState
from models.rules import Refusal, RefusalKind, Take
from models.tables import Case, HumanTask, Operator, utcnow

TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
# Where the workflow lists who already approved, in a second approval's details.
APPROVED_BY = "first"


def task_not_found(task_id: str) -> ApiError:
    return ApiError(404, "task_not_found", f"task {task_id} does not exist")


def task_claimed(task: HumanTask) -> ApiError:
    return ApiError(
        409,
        "task_claimed",
        f"task {task.task_id} is claimed by {task.assignee}; "
        "they or a senior must release it first",
    )


def inbox_scope(operator: Operator) -> list[ColumnElement[bool]]:
    """Which open tasks `operator`'s role may take (the branch rule is `case_scope`)."""
    offer = rules.inbox_offer(Role(operator.role))
    if offer.nothing:
        return [false()]
    conditions: list[ColumnElement[bool]] = []
    if offer.queues != frozenset(TaskQueue):
        conditions.append(HumanTask.queue.in_(sorted(q.value for q in offer.queues)))
    if offer.barred_kinds:
        conditions.append(HumanTask.kind.not_in(sorted(k.value for k in offer.barred_kinds)))
    if offer.unless_approved:
        # Four eyes: whoever gave the first approval is not asked for the second.
        conditions.append(
            not_(
                HumanTask.kind.in_(sorted(k.value for k in offer.unless_approved))
                & HumanTask.details.contains({APPROVED_BY: [operator.name]})
            )
        )
    return conditions


def overdue(now_overdue: bool) -> ColumnElement[bool]:
    now = utcnow()
    if now_overdue:
        return HumanTask.due_at < now
    return or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now)


def _as_take(task: HumanTask, case: Case) -> Take:
    return Take(
        kind=TaskKind(task.kind),
        queue=TaskQueue(task.queue),
        opened_by=case.opened_by,
        approved_by=tuple(task.details.get(APPROVED_BY, ())),
    )


def _refused(refusal: Refusal) -> ApiError:
    # Only the role and the four-eyes rules turn a take away: both 403, as the update's are.
    code = "four_eyes" if refusal.kind == RefusalKind.FOUR_EYES else "forbidden"
    return ApiError(403, code, refusal.message)


def take_refusal(
    task: HumanTask, case: Case, person: Operator, approving: bool = True
) -> ApiError | None:
    """Why `person` may not take `task` (None if they may). `approving=False` is for a
    reject or a request for documents, which the four-eyes rules do not restrict."""
    refusal = rules.take_refusal(Role(person.role), person.name, _as_take(task, case), approving)
    return _refused(refusal) if refusal else None


def check_take(task: HumanTask, case: Case, person: Operator, approving: bool = True) -> None:
    """Raise what `claim` would (409 held by another, 403 not theirs to take), writing nothing."""
    if task.assignee is not None and task.assignee != person.name:
        raise task_claimed(task)
    if refusal := take_refusal(task, case, person, approving):
        raise refusal


async def visible_task(session: AsyncSession, operator: Operator, task_id: str) -> HumanTask:
    """The task and (loaded alongside) its case, if `operator` may see the case; 404 otherwise."""
    row = None
    if TASK_ID.match(task_id):
        query = (
            select(HumanTask)
            .join(Case, Case.case_id == HumanTask.case_id)
            .where(HumanTask.task_id == task_id, case_scope(operator))
        )
        row = (await session.exec(query)).scalar_one_or_none()
    if row is None:
        raise task_not_found(task_id)
    return row


async def _reread(session: AsyncSession, task: HumanTask) -> tuple[HumanTask, Case]:
    """Take the case's lock, then re-read the task and case as they are now."""
    await lock_case(session, task.case_id)
    await session.refresh(task)
    case = await session.get(Case, task.case_id, populate_existing=True)
    assert case is not None  # the foreign key guarantees it
    return task, case


async def locked(session: AsyncSession, task: HumanTask) -> tuple[HumanTask, Case]:
    """The task and case as they are now, under the case's lock; 409 if the task closed."""
    task, case = await _reread(session, task)
    if task.state != TaskState.OPEN:
        raise ApiError(409, "task_closed", f"task {task.task_id} is {task.state}")
    return task, case


async def _note_holder(
    session: AsyncSession, task: HumanTask, holder: str | None, *, actor: str, event: str, **details
) -> None:
    """`holder` (None: nobody) holds `task`, with the audit record saying so."""
    previous = task.assignee
    task.assignee, task.claimed_at = holder, utcnow() if holder else None
    session.add(task)
    await append_event(
        session,
        stream=task.case_id,
        event=event,
        actor=actor,
        details={
            "task_id": task.task_id,
            "kind": task.kind,
            "assignee": holder,
            "previous": previous,
            **details,
        },
        event_key=f"{task.task_id}:{event}:{uuid.uuid4().hex}",
    )


async def hand_over(
    session: AsyncSession,
    task: HumanTask,
    case: Case,
    holder: str | None,
    *,
    actor: str,
    event: str,
    **details: object,
) -> None:
    """Make `holder` (None: nobody) hold `task` and the case, with its audit record, and commit."""
    await _note_holder(session, task, holder, actor=actor, event=event, **details)
    case.assignee, case.updated_at = holder, utcnow()
    session.add(case)
    await session.commit()


async def claim(
    session: AsyncSession, task: HumanTask, operator: Operator, approving: bool = True, **details
) -> bool:
    """`operator` takes `task`; False if they already held it. 403/409 say why not."""
    task, case = await locked(session, task)
    if task.assignee == operator.name:
        await session.commit()
        return False
    check_take(task, case, operator, approving)
    await hand_over(
        session, task, case, operator.name, actor=operator.name, event="task.claimed", **details
    )
    return True


async def release(session: AsyncSession, task: HumanTask, operator: Operator, **details) -> None:
    """Give `task` back to its queue: its holder may, and so may a senior or admin."""
    task, case = await locked(session, task)
    if task.assignee is None:
        raise ApiError(409, "task_not_claimed", f"task {task.task_id} is not claimed")
    if not rules.may_release(Role(operator.role), operator.name, task.assignee):
        raise ApiError(
            403,
            "forbidden",
            f"task {task.task_id} is claimed by {task.assignee}; "
            "only they or a senior may release it",
        )
    await hand_over(
        session, task, case, None, actor=operator.name, event="task.released", **details
    )


async def assign(session: AsyncSession, task: HumanTask, operator: Operator, name: str) -> None:
    """A senior hands `task` to `name`: active, able to see the case, allowed to take it."""
    target = await session.get(Operator, name)
    if target is None or not is_active(target):
        raise _invalid_assignee(f"there is no active operator named {name}")
    if await find_visible_case(session, target, task.case_id) is None:
        raise _invalid_assignee(
            f"{target.name} works in branch {target.branch} and cannot see this case"
        )
    task, case = await locked(session, task)
    if refusal := take_refusal(task, case, target):
        raise _invalid_assignee(f"{target.name} may not take this task: {refusal.message}")
    if task.assignee == target.name:
        await session.commit()
        return
    await hand_over(session, task, case, target.name, actor=operator.name, event="task.assigned")


async def decided(session: AsyncSession, task: HumanTask, operator: Operator) -> None:
    """The case took `operator`'s decision on `task`: record that they held it (a
    `task.claimed` with `auto`, unless they had claimed it) and let the case wait on
    nobody unless they hold its next task. One transaction, whatever state the
    workflow has meanwhile moved the task to."""
    task, case = await _reread(session, task)
    if task.assignee != operator.name:
        await _note_holder(
            session, task, operator.name, actor=operator.name, event="task.claimed", auto=True
        )
    holds_another = exists().where(
        HumanTask.case_id == case.case_id,
        HumanTask.state == TaskState.OPEN,
        HumanTask.task_id != task.task_id,
        HumanTask.assignee == operator.name,
    )
    if case.assignee == operator.name and not (await session.exec(select(holds_another))).scalar():
        case.assignee, case.updated_at = None, utcnow()
        session.add(case)
    await session.commit()


def _invalid_assignee(message: str) -> ApiError:
    return ApiError(422, "invalid_assignee", message)
