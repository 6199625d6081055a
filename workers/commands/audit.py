"""`jieya audit verify`: check the audit hash chains and name the first bad
record of every damaged stream."""

from __future__ import annotations

import typer

from kernel.db import SessionFactory
from models.audit_verify import BreakKind, ChainBreak, ChainReport, verify_chains
from models.tables import Case

EXIT_OK, EXIT_TAMPERED, EXIT_MISSING = 0, 1, 3


def describe_break(found: ChainBreak) -> str:
    record = f"id {found.record_id}" if found.record_id is not None else "no id"
    return (
        f"TAMPERED stream {found.stream} seq {found.seq} ({record}): "
        f"{found.kind.value} — {found.reason}"
    )


async def audit_report(sessions: SessionFactory, case_id: str | None) -> ChainReport | None:
    """The chain report; None when `case_id` names no case and no audit stream."""
    async with sessions() as session:
        report = await verify_chains(session, case_id)
    if case_id is None or report.streams:
        return report
    async with sessions() as session:
        case = await session.get(Case, case_id)
    if case is None:
        return None
    # Every case's trail begins when it is opened: none at all means it was deleted.
    gone = ChainBreak(
        stream=case_id,
        seq=1,
        record_id=None,
        kind=BreakKind.REMOVED,
        reason="the case exists but every audit record and the chain head are gone",
    )
    return report.model_copy(update={"ok": False, "breaks": [gone]})


async def run_audit_verify(sessions: SessionFactory, case_id: str | None, as_json: bool) -> int:
    report = await audit_report(sessions, case_id)
    if report is None:
        typer.echo(f"no case and no audit records named {case_id}", err=True)
        return EXIT_MISSING
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    elif report.ok:
        typer.echo(f"OK audit trail intact: {report.records} records in {report.streams} stream(s)")
    else:
        for found in report.breaks:
            typer.echo(describe_break(found))
        typer.echo(
            f"{len(report.breaks)} of {report.streams} stream(s) damaged "
            f"({report.records} records checked)"
        )
    return EXIT_OK if report.ok else EXIT_TAMPERED
