"""`jieya case export`: everything an auditor needs about one case in one JSON
file they can keep — the records, the hash-chained audit trail and whether it
verifies, the timeline, and the raw Temporal history (replayable with
`jieya replay --file`)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select
from sqlmodel import SQLModel
from temporalio.client import Client

from kernel.case_history import load_case_runs
from kernel.codec import PayloadKeys, decrypt_json
from kernel.db import SessionFactory
from kernel.settings import Settings
from kernel.temporal import connect_temporal
from models.audit_verify import verify_chains
from models.tables import (
    AuditEvent,
    Case,
    Decision,
    Document,
    HumanTask,
    OcrResult,
    RegistryRequest,
    RiskAssessment,
)
from models.timeline import build_timeline
from workers.commands.replay import build_replayer, replay_history

EXPORT_FORMAT = "jieya-case-export/1"


def _rows(rows) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json") for row in rows]


async def _all(session, table: type[SQLModel], case_id: str, *order) -> list:
    return list(
        (
            await session.exec(select(table).where(table.case_id == case_id).order_by(*order))
        ).scalars()
    )


async def case_export(
    sessions: SessionFactory,
    client: Client | None,
    case_id: str,
    keys: PayloadKeys | None = None,
) -> dict | None:
    """The export document, or None when there is no such case. Its histories are
    decrypted with `keys`: an auditor's file reads (and replays) without them."""
    async with sessions() as session:
        case = await session.get(Case, case_id)
        if case is None:
            return None
        audit = list(
            (
                await session.exec(
                    select(AuditEvent).where(AuditEvent.stream == case_id).order_by(AuditEvent.seq)
                )
            ).scalars()
        )
        records = {
            "documents": _rows(await _all(session, Document, case_id, Document.created_at)),
            "ocr_results": _rows(await _all(session, OcrResult, case_id, OcrResult.id)),
            "risk_assessments": _rows(
                await _all(session, RiskAssessment, case_id, RiskAssessment.id)
            ),
            "tasks": _rows(await _all(session, HumanTask, case_id, HumanTask.created_at)),
            "decisions": _rows(await _all(session, Decision, case_id, Decision.id)),
            "registry_requests": _rows(
                await _all(session, RegistryRequest, case_id, RegistryRequest.submitted_at)
            ),
        }
        runs = await load_case_runs(client, session, case_id)
    async with sessions() as session:
        verification = await verify_chains(session, case_id)
    loaded = runs[-1] if runs else None
    readable = [decrypt_json(run.as_dict(), keys) for run in runs]
    history = readable[-1] if readable else None
    replay = await replay_history(loaded.history, build_replayer(keys)) if loaded else None
    return {
        "format": EXPORT_FORMAT,
        "exported_at": datetime.now(UTC).isoformat(),
        "case": case.model_dump(mode="json"),
        **records,
        "audit": {
            "records": _rows(audit),
            "verification": verification.model_dump(mode="json"),
        },
        "timeline": build_timeline(history, audit).model_dump(mode="json"),
        "replay": None
        if replay is None
        else {"ok": replay.ok, "events": replay.events, "detail": replay.describe()},
        "history_source": loaded.source.value if loaded else None,
        "run_id": loaded.run_id if loaded else None,
        "history": history,
        # A case that continued as new: its earlier runs, first to last.
        "earlier_runs": readable[:-1],
    }


def write_export(document: dict, out: Path | None) -> Path:
    """Write `<case>.json` into `out` (a directory, default the current one) or to `out` itself."""
    name = f"{document['case']['case_id']}.json"
    if out is None:
        target = Path(name)
    elif out.is_dir():
        target = out / name
    else:
        target = out
    # Borrower identity and OCR readings are inside: readable by the owner only.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    return target


async def run_case_export(
    sessions: SessionFactory, settings: Settings, case_id: str, out: Path | None
) -> int:
    try:
        client = await connect_temporal(settings)
    except RuntimeError as error:  # the SDK's "failed client connect"
        typer.echo(f"Temporal not reachable ({error}); exporting the archived history", err=True)
        client = None
    document = await case_export(sessions, client, case_id, settings.payload_keyring())
    if document is None:
        typer.echo(f"no case {case_id}", err=True)
        return 3
    target = write_export(document, out)
    verdict = "intact" if document["audit"]["verification"]["ok"] else "DAMAGED"
    typer.echo(
        f"wrote {target}: {len(document['audit']['records'])} audit records ({verdict}), "
        f"history from {document['history_source'] or 'nowhere (none left)'}"
    )
    return 0
