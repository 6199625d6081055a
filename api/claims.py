"""Who holds a human task, and who may take which one.

A task's holder is `HumanTask.assignee` (mirrored to `Case.assignee` for the case
search); every change of holder is written under the case's lock together with its
audit record. The take rules mirror the `decide` validator (`workflows.decisions`)
so a person is turned away at the claim with the message the workflow would give."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import ColumnElement, false, not_, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import case_scope, find_visible_case, is_active, lock_case
from api.errors import ApiError
from models.audit import append_event
from models.enums import Role, TaskKind, TaskState
from models.tables import Case, HumanTask, Operator, utcnow
from workflows.decisions import APPROVALS, SENIOR_ROLES

TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
SENIOR_QUEUE = "senior"


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
    role = Role(operator.role)
    if not role.may_decide:
        return [false()]
    if role not in SENIOR_ROLES:
        return [
            HumanTask.queue != SENIOR_QUEUE,
            HumanTask.kind != TaskKind.SECOND_APPROVAL.value,
        ]
    # Four eyes: whoever gave the first approval is not asked for the second.
    return [
        not_(
            (HumanTask.kind == TaskKind.SECOND_APPROVAL.value)
            & HumanTask.details.contains({"first": [operator.name]})
        )
    ]


def overdue(now_overdue: bool) -> ColumnElement[bool]:
    now = utcnow()
    if now_overdue:
        return HumanTask.due_at < now
    return or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now)


def take_refusal(
    task: HumanTask, case: Case, person: Operator, approving: bool = True
) -> ApiError | None:
    """Why `person` may not take `task` (None if they may). `approving=False` is for a
    reject or a request for documents, which the four-eyes rules do not restrict."""
    role = Role(person.role)
    if not role.may_decide:
        return ApiError(403, "forbidden", f"role {role.value} may not decide cases")
    if task.queue == SENIOR_QUEUE and role not in SENIOR_ROLES:
        why = (
            "is an incident"
            if task.kind == TaskKind.INCIDENT.value
            else "passed its deadline and was escalated"
        )
        return ApiError(403, "forbidden", f"this task {why}: it is in the senior queue")
    if not approving:
        return None
    if task.kind in APPROVALS and person.name == case.opened_by:
        return ApiError(403, "four_eyes", f"{person.name} opened this case and may not approve it")
    if task.kind == TaskKind.SECOND_APPROVAL:
        if role not in SENIOR_ROLES:
            return ApiError(403, "four_eyes", "the second approval must come from a senior")
        if person.name in task.details.get("first", []):
            return ApiError(
                403, "four_eyes", f"{person.name} already approved; a different person must"
            )
    return None


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


async def locked(session: AsyncSession, task: HumanTask) -> tuple[HumanTask, Case]:
    """Take the case's lock, then re-read the task and case as they are now."""
    await lock_case(session, task.case_id)
    await session.refresh(task)
    case = await session.get(Case, task.case_id, populate_existing=True)
    assert case is not None  # the foreign key guarantees it
    if task.state != TaskState.OPEN.value:
        raise ApiError(409, "task_closed", f"task {task.task_id} is {task.state}")
    return task, case


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
    """Make `holder` (None: nobody) hold `task`, with its audit record, and commit."""
    now = utcnow()
    previous = task.assignee
    task.assignee, task.claimed_at = holder, now if holder else None
    case.assignee, case.updated_at = holder, now
    session.add_all([task, case])
    await append_event(
        session,
        stream=case.case_id,
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
    await session.commit()


async def claim(
    session: AsyncSession, task: HumanTask, operator: Operator, approving: bool = True, **details
) -> bool:
    """`operator` takes `task`; False if they already held it. 403/409 say why not."""
    task, case = await locked(session, task)
    if task.assignee == operator.name:
        await session.commit()
        return False
    if task.assignee is not None:
        raise task_claimed(task)
    if refusal := take_refusal(task, case, operator, approving):
        raise refusal
    await hand_over(
        session, task, case, operator.name, actor=operator.name, event="task.claimed", **details
    )
    return True


async def release(session: AsyncSession, task: HumanTask, operator: Operator, **details) -> None:
    """Give `task` back to its queue: its holder may, and so may a senior or admin."""
    task, case = await locked(session, task)
    if task.assignee is None:
        raise ApiError(409, "task_not_claimed", f"task {task.task_id} is not claimed")
    if task.assignee != operator.name and Role(operator.role) not in SENIOR_ROLES:
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


def _invalid_assignee(message: str) -> ApiError:
    return ApiError(422, "invalid_assignee", message)
