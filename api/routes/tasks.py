"""The work queue: open human tasks the caller may act on, and who holds each one."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from fastapi import APIRouter, Path, Query
from sqlalchemy import Integer, Select, bindparam, func, select

from api.auth import CurrentOperator, DeciderOperator, SeniorOperator
from api.case_view import TASK_COLUMNS, task_values, task_view
from api.claims import assign, claim, inbox_scope, overdue, release, visible_task
from api.deps import SessionDep
from api.inputs import TaskAssign, TaskFilter
from api.schemas import TaskPublic, TasksPublic
from api.scope import case_scope, visible_branch
from models.enums import TaskState
from models.tables import Case, HumanTask, Operator

router = APIRouter(prefix="/tasks", tags=["tasks"])

TaskIdPath = Annotated[str, Path(max_length=48)]


class TaskShape(NamedTuple):
    """What one `GET /tasks` statement serves: the caller (their scope, role and name:
    the four-eyes rule and `mine` name them) and which filters are given."""

    scope: str | None
    role: str
    name: str
    mine: bool
    assignee: bool = False
    kind: bool = False
    queue: bool = False
    branch: bool = False


_STATEMENTS: dict[TaskShape, tuple[Select, Select]] = {}
_STATEMENTS_KEPT = 1024


def _statements(shape: TaskShape, operator: Operator) -> tuple[Select, Select]:
    """The page and count statements of `shape`, built once (the values are parameters):
    building and keying a fresh statement costs more than running it."""
    if (made := _STATEMENTS.get(shape)) is not None:
        return made
    conditions = [
        HumanTask.state == TaskState.OPEN,
        case_scope(operator),
        *inbox_scope(operator),
    ]
    if shape.mine:
        conditions.append(HumanTask.assignee == operator.name)
    if shape.assignee:
        conditions.append(HumanTask.assignee == bindparam("assignee"))
    if shape.kind:
        conditions.append(HumanTask.kind == bindparam("kind"))
    if shape.queue:
        conditions.append(HumanTask.queue == bindparam("queue"))
    if shape.branch:
        conditions.append(Case.branch == bindparam("branch"))
    joined = Case, Case.case_id == HumanTask.case_id
    page = (
        select(*TASK_COLUMNS)
        .join(*joined)
        .where(*conditions)
        .order_by(HumanTask.created_at, HumanTask.task_id)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    count = select(func.count()).select_from(HumanTask).join(*joined).where(*conditions)
    if len(_STATEMENTS) >= _STATEMENTS_KEPT:
        _STATEMENTS.clear()
    _STATEMENTS[shape] = page, count
    return page, count


@router.get("", response_model=TasksPublic)
async def list_tasks(
    operator: CurrentOperator, session: SessionDep, wanted: Annotated[TaskFilter, Query()]
) -> TasksPublic:
    """Open tasks of the caller's branch that their role may take, oldest first."""
    given = {
        name: value
        for name in ("assignee", "kind", "queue", "branch")
        if (value := getattr(wanted, name)) is not None
    }
    shape = TaskShape(
        visible_branch(operator),
        operator.role,
        operator.name,
        wanted.mine,
        **dict.fromkeys(given, True),
    )
    page, count_query = _statements(shape, operator)
    if wanted.overdue is not None:
        # "Now" changes with every request: this filter is added to the built statements.
        page, count_query = (q.where(overdue(wanted.overdue)) for q in (page, count_query))
    # One row more than the page: without it, the page alone gives the total.
    params = given | {"limit": wanted.limit + 1, "offset": wanted.offset}
    rows = (await session.exec(page, params=params)).all()
    rows, more = rows[: wanted.limit], len(rows) > wanted.limit
    if not more and (rows or not wanted.offset):
        count = wanted.offset + len(rows)
    else:
        count = (await session.exec(count_query, params=params)).scalar_one()
    return TasksPublic.model_validate(
        {"data": [task_values(row) for row in rows], "count": count}
    )


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
