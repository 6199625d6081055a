"""The `jieya` command line (typer)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from kernel.logging import configure_logging
from kernel.settings import STACK_FILE, Settings, get_settings
from models.enums import Role

app = typer.Typer(help="jieya 解押 — car-loan mortgage release", no_args_is_help=True)
operator_app = typer.Typer(help="Operator accounts and tokens", no_args_is_help=True)
loans_app = typer.Typer(help="The loan ledger", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail", no_args_is_help=True)
case_app = typer.Typer(help="One case, for auditors", no_args_is_help=True)
keys_app = typer.Typer(help="Payload encryption keys", no_args_is_help=True)
app.add_typer(operator_app, name="operator")
app.add_typer(loans_app, name="loans")
app.add_typer(audit_app, name="audit")
app.add_typer(case_app, name="case")
app.add_typer(keys_app, name="keys")

T = TypeVar("T")


def _settings(find_stack: bool = True) -> Settings:
    """Settings from the environment; for commands that talk to a running stack,
    completed from the `jieya dev` on the data dir (`Settings.with_running_stack`).
    The processes themselves (`dev`, `worker`, `api`, `migrate`) take only what they
    are given, so a production worker never follows a dev stack's file."""
    settings = get_settings()
    if find_stack:
        settings = settings.with_running_stack()
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _require_database(settings: Settings) -> str:
    if not settings.database_url:
        typer.echo(
            "JIEYA_DATABASE_URL is not set (commands that talk to a running `jieya dev` "
            f"also look in {settings.data_dir / STACK_FILE}; JIEYA_DATA_DIR names its data dir)",
            err=True,
        )
        raise typer.Exit(2)
    return settings.database_url


async def _with_sessions(settings: Settings, action: Callable[..., Awaitable[T]]) -> T:
    from kernel.db import create_engine, session_factory

    engine = create_engine(_require_database(settings), pool_size=2)
    try:
        return await action(session_factory(engine))
    finally:
        await engine.dispose()


@app.command()
def dev() -> None:
    """Start the whole embedded stack (PostgreSQL, Temporal, simulators, worker, API)."""
    from workers.dev.stack import run_dev_stack

    raise typer.Exit(asyncio.run(run_dev_stack(_settings(find_stack=False))))


@app.command()
def worker(
    queue: Annotated[str, typer.Option(help="cases | ocr | all")] = "all",
) -> None:
    """Run a Temporal worker for the case queue, the OCR queue, or both."""
    from workers.worker import Queue, run_worker

    try:
        chosen = Queue(queue)
    except ValueError:
        typer.echo(f"--queue must be one of: {', '.join(q.value for q in Queue)}", err=True)
        raise typer.Exit(2) from None
    asyncio.run(run_worker(_settings(find_stack=False), chosen))


@app.command()
def api() -> None:
    """Serve the operator HTTP API (uvicorn)."""
    import uvicorn

    from api.app import create_app

    settings = _settings(find_stack=False)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        proxy_headers=False,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations up to the newest revision."""
    from kernel.db import upgrade_database

    settings = _settings(find_stack=False)
    asyncio.run(upgrade_database(_require_database(settings)))
    typer.echo("database is at the newest revision")


@operator_app.command("add")
def operator_add(
    name: str,
    role: Annotated[Role, typer.Option(help="operator | senior | auditor | admin")],
    branch: Annotated[str, typer.Option(help="branch whose cases they see")] = "HQ",
    valid_days: Annotated[int | None, typer.Option(help="token expiry in days")] = None,
) -> None:
    """Create an operator (or give one a new token); prints the token once."""
    from models.operators import add_operator

    token = asyncio.run(
        _with_sessions(_settings(), lambda s: add_operator(s, name, role, branch, valid_days))
    )
    typer.echo(token)


@operator_app.command("revoke")
def operator_revoke(name: str) -> None:
    """Revoke an operator's token at once."""
    from models.operators import revoke_operator

    if not asyncio.run(_with_sessions(_settings(), lambda s: revoke_operator(s, name))):
        typer.echo(f"no active operator named {name}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {name}")


@operator_app.command("list")
def operator_list() -> None:
    """List operators (never their tokens)."""
    from models.operators import list_operators

    for op in asyncio.run(_with_sessions(_settings(), list_operators)):
        state = "revoked" if op.revoked_at else "active"
        expiry = op.expires_at.date().isoformat() if op.expires_at else "-"
        typer.echo(f"{op.name:<16} {op.role:<9} {op.branch:<8} {state:<8} expires {expiry}")


@loans_app.command("import")
def loans_import(file: Path) -> None:
    """Upsert the loan ledger from a CSV file and wake cases waiting on it."""
    from workers.commands.ledger_sync import import_ledger_file

    settings = _settings()
    try:
        imported, told = asyncio.run(import_ledger_file(settings, file))
    except (OSError, ValueError) as error:
        typer.echo(f"import failed: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"imported {imported} loan(s); told {told} waiting case(s)")


@app.command()
def ocr(
    files: Annotated[list[Path], typer.Argument(help="document images or PDFs")],
    doc_type: Annotated[str, typer.Option("--doc-type", help="auto or a document type")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per file")] = False,
) -> None:
    """Read documents with the same OCR path as the workflow's review step."""
    from workers.ocr_command import run_ocr_command

    settings = get_settings()
    raise typer.Exit(run_ocr_command(files, doc_type, as_json, settings.ocr_engine))


@app.command()
def replay(
    case_id: Annotated[str | None, typer.Argument(help="the case to replay")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="a history JSON file, or a case export")
    ] = None,
    all_cases: Annotated[bool, typer.Option("--all", help="every case the database knows")] = False,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="with --all: cases changed on or after this day"),
    ] = None,
    timeline: Annotated[
        bool | None,
        typer.Option(help="print each case's timeline (default: yes for one case, no for --all)"),
    ] = None,
) -> None:
    """Replay case histories with today's workflow code (exit 1 on non-determinism)."""
    from workers.commands.replay import run_replay

    day = since.date() if since else None
    code = asyncio.run(run_replay(_settings(), case_id, file, all_cases, day, timeline))
    raise typer.Exit(code)


@audit_app.command("verify")
def audit_verify(
    case_id: Annotated[str | None, typer.Argument(help="one case's trail (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the full report as JSON")] = False,
) -> None:
    """Check the audit hash chains; exit 1 naming the first bad record of each damaged stream."""
    from workers.commands.audit import run_audit_verify

    code = asyncio.run(_with_sessions(_settings(), lambda s: run_audit_verify(s, case_id, as_json)))
    raise typer.Exit(code)


@case_app.command("export")
def case_export(
    case_id: str,
    out: Annotated[
        Path | None, typer.Option(help="directory (default: current) or file to write")
    ] = None,
) -> None:
    """Write the case's records, audit trail, timeline and history as one JSON file."""
    from workers.commands.export import run_case_export

    settings = _settings()
    code = asyncio.run(
        _with_sessions(settings, lambda s: run_case_export(s, settings, case_id, out))
    )
    raise typer.Exit(code)


@keys_app.command("new")
def keys_new(key_id: Annotated[str | None, typer.Option("--id")] = None) -> None:
    """Print a fresh payload key entry (`id:base64key`). To rotate, put it first
    in JIEYA_PAYLOAD_KEYS and keep the old ones after it: new payloads use it, old
    ones stay readable."""
    from kernel.codec import CodecError, PayloadKeys, new_key_entry

    try:
        entry = new_key_entry(key_id)
        if key_id is not None:
            PayloadKeys(((key_id, bytes(32)),))  # refuses an id the key list cannot hold
    except CodecError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(entry)


@app.command()
def doctor(
    repair: Annotated[bool, typer.Option(help="also make the repairs it finds")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
) -> None:
    """Reconciliation report: case rows vs workflows, pending outbox, stuck cases (exit 1 if wrong)."""
    from workers.commands.doctor import run_doctor

    raise typer.Exit(asyncio.run(run_doctor(_settings(), repair, as_json)))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":
    sys.exit(app())
