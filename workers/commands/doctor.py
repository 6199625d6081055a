"""`jieya doctor`: the reconciler's report for people — case rows against their
workflows, the outbox, stalled cases, open incidents — and, with `--repair`,
the same repairs the scheduled reconciler makes. Exit 1 while anything is wrong."""

from __future__ import annotations

import httpx
import typer

from activities.reconcile_activities import Reconciler
from kernel.case_client import callback_url
from kernel.db import create_engine, session_factory
from kernel.settings import Settings
from kernel.temporal import connect_temporal
from models.reconcile import ReconcileReport
from workers.worker import messengers

EXIT_OK, EXIT_WRONG, EXIT_USAGE = 0, 1, 2


def render(report: ReconcileReport) -> list[str]:
    lines = [
        f"{report.open_cases} open case(s), {report.running_workflows} running case workflow(s)"
    ]
    for finding in report.findings:
        mark = "FIXED" if finding.repaired else "WRONG"
        action = f" → {finding.action}" if finding.action else ""
        lines.append(
            f"{mark:<6} {finding.check.value:<22} {finding.case_id or '-':<14} "
            f"{finding.detail}{action}"
        )
    for incident in report.incidents:
        lines.append(
            f"{'TASK':<6} {'incident':<22} {incident.case_id:<14} "
            f"{incident.step} gave up ({incident.error_type}) since {incident.since}; "
            f"a senior decides task {incident.task_id}"
        )
    left = len(report.unresolved)
    lines.append("nothing is wrong" if not left else f"{left} problem(s) need attention")
    return lines


async def run_doctor(settings: Settings, repair: bool, as_json: bool) -> int:
    if not settings.database_url:
        typer.echo("JIEYA_DATABASE_URL is not set and no running stack was found", err=True)
        return EXIT_USAGE
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        client = await connect_temporal(settings)
        async with httpx.AsyncClient(timeout=10.0) as http:
            channels = messengers(settings, http) if repair and settings.sms_url else None
            reconciler = Reconciler(
                client, session_factory(engine), channels, callback_url(settings)
            )
            report = await reconciler.run(repair=repair)
    finally:
        await engine.dispose()
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        for line in render(report):
            typer.echo(line)
    return EXIT_WRONG if report.unresolved else EXIT_OK
