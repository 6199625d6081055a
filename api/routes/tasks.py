"""The work queue: open human tasks the caller may act on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, not_, select

from api.auth import CurrentOperator
from api.deps import SessionDep
from api.views import TasksPublic, task_view
from models.enums import Role, TaskKind, TaskState
from models.tables import HumanTask
from workflows.decisions import SENIOR_ROLES

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("", response_model=TasksPublic)
async def list_tasks(
    operator: CurrentOperator,
    session: SessionDep,
    kind: TaskKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TasksPublic:
    """Open tasks, oldest first; second approvals only for seniors who have not approved yet."""
    role = Role(operator.role)
    if not role.may_decide:
        return TasksPublic(data=[], count=0)
    conditions = [HumanTask.state == TaskState.OPEN.value]
    if kind is not None:
        conditions.append(HumanTask.kind == kind.value)
    if role in SENIOR_ROLES:
        # Four eyes: whoever gave the first approval is not asked for the second.
        conditions.append(
            not_(
                (HumanTask.kind == TaskKind.SECOND_APPROVAL.value)
                & HumanTask.details.contains({"first": [operator.name]})
            )
        )
    else:
        conditions.append(HumanTask.kind != TaskKind.SECOND_APPROVAL.value)
    total = select(func.count()).select_from(HumanTask).where(*conditions)
    count = (await session.exec(total)).scalar_one()
    tasks = (
        await session.exec(
            select(HumanTask)
            .where(*conditions)
            .order_by(HumanTask.created_at, HumanTask.task_id)
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return TasksPublic(data=[task_view(task) for task in tasks], count=count)
