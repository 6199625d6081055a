"""The case as its pages show it, from PostgreSQL only, with every ID and phone
number masked unless the caller asked to see them (and was allowed: the routes
decide that and audit it).

The case page is one query: the row and, as JSON arrays aggregated by PostgreSQL,
its latest risk grading, its documents with their OCR readings, its tasks and its
decisions. The workflow writes the row (status, step, round, missing documents)
with every step, so the page needs no query to the workflow."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, lru_cache
from itertools import chain
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnClause
from sqlmodel.ext.asyncio.session import AsyncSession

from api.schemas import (
    AuditEventPublic,
    BorrowerPublic,
    CasePublic,
    CaseSummary,
    DecisionPublic,
    DocumentPublic,
    HistoryPublic,
    IncidentPublic,
    OcrPublic,
    RiskPublic,
    TaskPublic,
)
from api.scope import CASE_ID, branch_scope, visible_branch
from kernel.case_history import HistorySource
from models.audit_verify import ChainReport
from models.enums import TaskKind, TaskState
from models.masking import mask_id_number, mask_phone, mask_text, masked
from models.tables import (
    AuditEvent,
    Case,
    Decision,
    Document,
    HumanTask,
    OcrResult,
    Operator,
    RiskAssessment,
)
from models.timeline import Timeline

# --- the query ------------------------------------------------------------------


def _shown(table: Table, schema: type[BaseModel]) -> list[ColumnClause]:
    """The columns of `table` that `schema` shows."""
    return [table.c[name] for name in schema.model_fields if name in table.c]


def _json_object(columns: list[ColumnElement]) -> ColumnElement:
    """`{"name": value, ...}` of `columns`, each named by its key."""
    return func.json_build_object(
        *chain.from_iterable((literal_column(f"'{column.key}'"), column) for column in columns)
    )


def _json_rows(row: ColumnElement, *order_by: ColumnElement) -> ColumnElement:
    """`row` of every matching row, in `order_by` order, as one JSON array (`[]` when none)."""
    return func.coalesce(
        func.json_agg(aggregate_order_by(row, *order_by)), literal_column("'[]'::json")
    )


# Each part is a scalar subquery on the case's id: correlated to `cases` when the
# row is read in the same query, a parameter when the row is already at hand.


def _latest_risk(case_id: ColumnElement) -> ColumnElement:
    risk = RiskAssessment.__table__
    return (
        select(_json_object(_shown(risk, RiskPublic)))
        .where(risk.c.case_id == case_id)
        .order_by(risk.c.round.desc(), risk.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _documents(case_id: ColumnElement) -> ColumnElement:
    documents, ocr = Document.__table__, OcrResult.__table__
    reading = sql_case((ocr.c.id.is_(None), None), else_=_json_object(_shown(ocr, OcrPublic)))
    row = _json_object([*_shown(documents, DocumentPublic), reading.label("ocr")])
    return (
        select(_json_rows(row, documents.c.created_at, documents.c.document_id))
        .select_from(documents.outerjoin(ocr, ocr.c.document_id == documents.c.document_id))
        .where(documents.c.case_id == case_id)
        .scalar_subquery()
    )


def _tasks(case_id: ColumnElement) -> ColumnElement:
    tasks = HumanTask.__table__
    row = _json_object(_shown(tasks, TaskPublic))
    return (
        select(_json_rows(row, tasks.c.created_at, tasks.c.task_id))
        .where(tasks.c.case_id == case_id)
        .scalar_subquery()
    )


def _approvals(case_id: ColumnElement) -> ColumnElement:
    decisions = Decision.__table__
    row = _json_object(_shown(decisions, DecisionPublic))
    return (
        select(_json_rows(row, decisions.c.created_at, decisions.c.id))
        .where(decisions.c.case_id == case_id)
        .scalar_subquery()
    )


_PART_NAMES = ("risk", "documents", "tasks", "approvals")


def _parts(case_id: ColumnElement) -> list[ColumnElement]:
    return [
        _latest_risk(case_id).label("risk"),
        _documents(case_id).label("documents"),
        _tasks(case_id).label("tasks"),
        _approvals(case_id).label("approvals"),
    ]


# Built once, the case id a parameter: building these costs more than running them.


@cache
def _parts_query() -> Select:
    """The parts of the case `:case_id`."""
    return select(*_parts(bindparam("case_id", type_=String)))


@lru_cache(maxsize=256)
def _page_query(branch: str | None) -> Select:
    """The row and the parts of the case `:case_id`, if it is of `branch` (None: any).
    Columns, not the table model: a row is all the page needs, and cheaper to load."""
    return select(*Case.__table__.c, *_parts(Case.case_id)).where(
        Case.case_id == bindparam("case_id", type_=String), branch_scope(branch)
    )


# --- the views ------------------------------------------------------------------


async def case_view(session: AsyncSession, case: Case, reveal: bool = False) -> CasePublic:
    """The page of a case already read (and known visible); masked unless `reveal`."""
    parts = (await session.exec(_parts_query(), params={"case_id": case.case_id})).one()
    return _page(case, parts._mapping, reveal)


async def find_case_view(
    session: AsyncSession, operator: Operator, case_id: str, reveal: bool = False
) -> CasePublic | None:
    """The page of the case, in one query, if `operator` may see it; else None."""
    if not CASE_ID.match(case_id):
        return None
    query = _page_query(visible_branch(operator))
    row = (await session.exec(query, params={"case_id": case_id})).one_or_none()
    if row is None:
        return None
    return _page(row, row._mapping, reveal)


def _page(case: Case | Row, parts: Mapping[str, Any], reveal: bool) -> CasePublic:
    """The page of `case` (the table model or a row of its columns) with its `parts`."""
    values = CasePublic.row_values(case) | {name: parts[name] for name in _PART_NAMES}
    if not reveal:
        # Masked as a whole before it is read: OCR readings, mismatches, risk reasons and
        # comments all quote numbers. The borrower is still the row: its schema masks it.
        values = masked(values) | {"borrower": BorrowerPublic.model_validate(case).masked()}
    view = CasePublic.model_validate(values)
    view.incident = open_incident(view.tasks)
    return view


def open_incident(tasks: list[TaskPublic]) -> IncidentPublic | None:
    """The oldest open incident task of a case, as the case view shows it."""
    for task in tasks:
        if task.kind == TaskKind.INCIDENT.value and task.state == TaskState.OPEN.value:
            details = task.details
            return IncidentPublic(
                task_id=task.task_id,
                step=str(details.get("step", "")),
                error_type=str(details.get("error_type", "")),
                message=str(details.get("message", "")),
                attempts=int(details.get("attempts") or 0),
                since=details.get("since") or task.created_at,
                skippable=bool(details.get("skippable")),
                side=bool(details.get("side")),
            )
    return None


# A line of `GET /cases` is a row of these columns: the summary's own, then the
# borrower's and the vehicle's (flat columns of `cases`). Columns, not the table
# model: 50 rows load in a fraction of the time 50 entities take.
_SUMMARY_FLAT = [name for name in CaseSummary.model_fields if name in Case.__table__.c]
SUMMARY_COLUMNS = [
    Case.__table__.c[name]
    for name in (
        *_SUMMARY_FLAT,
        "borrower_name",
        "borrower_id_number",
        "borrower_phone",
        "plate_no",
        "vin",
    )
]


def summary_values(row: Row, reveal: bool = False) -> dict[str, Any]:
    """A row of `SUMMARY_COLUMNS` as `CaseSummary` reads it; ID and phone masked unless
    `reveal`. Plain values for one validation of the whole page, not one per line."""
    name, id_number, phone, plate_no, vin = row[-5:]
    if not reveal:
        id_number, phone = mask_id_number(id_number), mask_phone(phone)
    values = dict(zip(_SUMMARY_FLAT, row, strict=False))
    values["borrower"] = {"name": name, "id_number": id_number, "phone": phone}
    values["vehicle"] = {"plate_no": plate_no, "vin": vin}
    return values


# A line of `GET /tasks` is a row of these columns, in the schema's order.
TASK_COLUMNS = [HumanTask.__table__.c[name] for name in TaskPublic.model_fields]


def task_values(row: Row, reveal: bool = False) -> dict[str, Any]:
    """A row of `TASK_COLUMNS` as `TaskPublic` reads it, details masked unless `reveal`."""
    values = dict(zip(TaskPublic.model_fields, row, strict=True))
    if not reveal:
        values["details"] = masked(values["details"])
    return values


def task_view(task: HumanTask, reveal: bool = False) -> TaskPublic:
    view = TaskPublic.model_validate(task)
    if not reveal:
        # Details quote the risk reasons, which may quote an ID number.
        view.details = masked(view.details)
    return view


def history_view(
    events: list[AuditEvent],
    timeline: Timeline,
    verification: ChainReport,
    source: HistorySource | None,
) -> HistoryPublic:
    """The history endpoint's answer, with ID and phone numbers masked like every
    other view (the hashes cover the unmasked records: verify with the CLI)."""
    data = [
        AuditEventPublic.model_validate(e).model_copy(update={"details": masked(e.details)})
        for e in events
    ]
    entries = [
        entry.model_copy(
            update={
                "what": mask_text(entry.what),
                "comment": masked(entry.comment),
                "failure": masked(entry.failure),
            }
        )
        for entry in timeline.entries
    ]
    return HistoryPublic(
        data=data,
        count=len(data),
        verification=verification,
        history_source=source,
        timeline=timeline.model_copy(update={"entries": entries}),
    )
