"""Record the committed replay histories: every path in `paths.PATHS` runs once on
the time-skipping server with the real worker, real PostgreSQL, real OCR and the
simulators, and its history is written to `tests/histories/<path>.json`.

    .venv/bin/python -m tests.histories.record              # every path
    .venv/bin/python -m tests.histories.record --only happy,four_eyes

Re-record after any deliberate workflow change (and keep the old files as long
as cases started under the old code may still be running)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from activities.adapters.storage import LocalDocumentStore
from kernel.case_history import load_case_runs
from kernel.db import create_engine, session_factory, upgrade_database
from kernel.settings import Settings
from tests.conftest import TEST_CONVERTER, TEST_KEYS, register_search_attributes
from tests.histories.paths import PATHS, Stage
from tests.utils.processes import start_process, stop_process
from workers.commands.replay import build_replayer, replay_history
from workers.dev.binaries import temporal_test_server_path
from workers.dev.embedded_pg import EmbeddedPostgres
from workers.worker import Queue, build_workers

HISTORIES_DIR = Path(__file__).resolve().parent


async def _database(exits: AsyncExitStack) -> str:
    """A fresh migrated database: on JIEYA_DATABASE_URL's server, else an embedded one."""
    name = f"jieya_record_{uuid.uuid4().hex[:8]}"
    external = os.environ.get("JIEYA_DATABASE_URL")
    if external:
        import asyncpg

        admin = await asyncpg.connect(external.replace("+asyncpg", ""))
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = f"{external.rsplit('/', 1)[0]}/{name}"
    else:
        # Outside /tmp/pytest-of-*: PostgreSQL may run as another user when we are root.
        root = Path(tempfile.mkdtemp(prefix="jieya-record-pg-"))
        exits.callback(shutil.rmtree, root, ignore_errors=True)
        server = EmbeddedPostgres(root / "data")
        server.start()
        exits.callback(server.stop)
        await server.wait_ready(timeout=60)
        url = await server.ensure_database(name)
    await upgrade_database(url)
    return url


def _simulator(exits: AsyncExitStack, module: str, *args: str, ready=r"LISTENING (\S+)"):
    proc, match = start_process(
        [sys.executable, "-m", f"simulators.{module}", *args], ready, timeout=30, name=module
    )
    exits.callback(stop_process, proc)
    return match


async def record(names: list[str], out_dir: Path) -> dict[str, Path]:
    written: dict[str, Path] = {}
    async with AsyncExitStack() as exits:
        data_dir = Path(tempfile.mkdtemp(prefix="jieya-record-data-"))
        exits.callback(shutil.rmtree, data_dir, ignore_errors=True)
        engine = create_engine(await _database(exits))
        exits.push_async_callback(engine.dispose)
        sessions = session_factory(engine)
        registry = _simulator(exits, "registry", "--port", "0", "--complete-after", "0.3")[1]
        sms = _simulator(exits, "sms", "--port", "0")[1]
        smtp = _simulator(
            exits,
            "mail",
            *("--smtp-port", "0", "--http-port", "0"),
            ready=r"LISTENING smtp=(\S+):(\d+) http=(\S+)",
        )
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=TEST_CONVERTER,
            test_server_existing_path=str(temporal_test_server_path()),
        )
        exits.push_async_callback(env.shutdown)
        await register_search_attributes(env)
        settings = Settings(
            env="test",
            data_dir=data_dir,
            registry_url=registry,
            sms_url=sms,
            smtp_host=smtp[1],
            smtp_port=int(smtp[2]),
            ocr_concurrency=2,
        )
        http = await exits.enter_async_context(httpx.AsyncClient(timeout=10))
        for worker in build_workers(env.client, settings, sessions, http, Queue.ALL, exits):
            await exits.enter_async_context(worker)
        stage = Stage(
            env, sessions, LocalDocumentStore(settings.documents_dir), http, registry, sms
        )
        for name in names:
            started = time.monotonic()
            handle = await PATHS[name](stage)
            # A case that continued as new is kept run by run: `name.json` is its
            # first run, `name.run2.json` the next, and so on.
            runs = await load_case_runs(env.client, None, handle.id)
            for run, history in enumerate((r.history for r in runs), start=1):
                # A history today's code cannot replay must never be committed.
                outcome = await replay_history(history, build_replayer(TEST_KEYS))
                if not outcome.ok:
                    raise SystemExit(f"{name}: recorded history does not replay: {outcome.message}")
                target = out_dir / (f"{name}.json" if run == 1 else f"{name}.run{run}.json")
                target.write_text(json.dumps(history.to_json_dict(), indent=1) + "\n")
                written[f"{name}#{run}"] = target
                print(
                    f"recorded {name} run {run}: {len(history.events)} events "
                    f"in {time.monotonic() - started:.1f}s -> {target}"
                )
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated path names (default: all)")
    parser.add_argument("--out", type=Path, default=HISTORIES_DIR, help="output directory")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(PATHS)
    unknown = [n for n in names if n not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {', '.join(unknown)}; known: {', '.join(PATHS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(record(names, args.out))


if __name__ == "__main__":
    main()
