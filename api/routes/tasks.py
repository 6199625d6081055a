"""The work queue: open human tasks the caller may act on, and who holds each one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from api.auth import CurrentOperator, DeciderOperator, SeniorOperator
from api.case_view import task_view
from api.claims import assign, claim, inbox_scope, overdue, release, visible_task
from api.deps import SessionDep
from api.inputs import TaskAssign, TaskFilter
from api.schemas import TaskPublic, TasksPublic
from api.scope import case_scope
from models.enums import TaskState
from models.tables import Case, HumanTask

router = APIRouter(prefix="/tasks", tags=["tasks"])

TaskIdPath = Annotated[str, Path(max_length=48)]


@router.get("", response_model=TasksPublic)
async def list_tasks(
    operator: CurrentOperator, session: SessionDep, wanted: Annotated[TaskFilter, Query()]
) -> TasksPublic:
    """Open tasks of the caller's branch that their role may take, oldest first."""
    conditions = [
        HumanTask.state == TaskState.OPEN,
        case_scope(operator),
        *inbox_scope(operator),
    ]
    if wanted.mine:
        conditions.append(HumanTask.assignee == operator.name)
    if wanted.assignee is not None:
        conditions.append(HumanTask.assignee == wanted.assignee)
    if wanted.kind is not None:
        conditions.append(HumanTask.kind == wanted.kind)
    if wanted.overdue is not None:
        conditions.append(overdue(wanted.overdue))
    if wanted.queue is not None:
        conditions.append(HumanTask.queue == wanted.queue)
    if wanted.branch is not None:
        conditions.append(Case.branch == wanted.branch)
    joined = select(HumanTask).join(Case, Case.case_id == HumanTask.case_id).where(*conditions)
    count = (await session.exec(select(func.count()).select_from(joined.subquery()))).scalar_one()
    tasks = (
        await session.exec(
            joined.order_by(HumanTask.created_at, HumanTask.task_id)
            .limit(wanted.limit)
            .offset(wanted.offset)
        )
    ).scalars()
    return TasksPublic(data=[task_view(task) for task in tasks], count=count)


@router.post("/{task_id}/claim", response_model=TaskPublic)
async def claim_task(
    operator: DeciderOperator, session: SessionDep, task_id: TaskIdPath
) -> TaskPublic:
    """Take the task; 409 if someone else holds it. Claiming your own task again is a no-op."""
    task = await visible_task(session, operator, task_id)
    await claim(session, task, operator)
    return task_view(task)


@router.post("/{task_id}/release", response_model=TaskPublic)
async def release_task(
    operator: DeciderOperator, session: SessionDep, task_id: TaskIdPath
) -> TaskPublic:
    """Give the task back to its queue (its holder, or a senior)."""
    task = await visible_task(session, operator, task_id)
    await release(session, task, operator)
    return task_view(task)


@router.post("/{task_id}/assign", response_model=TaskPublic)
async def assign_task(
    body: TaskAssign, operator: SeniorOperator, session: SessionDep, task_id: TaskIdPath
) -> TaskPublic:
    """Hand the task to someone of the case's branch who may decide it."""
    task = await visible_task(session, operator, task_id)
    await assign(session, task, operator, body.operator)
    return task_view(task)
