"""`jieya api` as a real process over real HTTP, with a real worker on the
Temporal dev server: what operators' tools and the console talk to."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

from kernel.settings import Settings
from models.enums import Role
from models.operators import add_operator
from tests.utils.processes import start_process, stop_process
from workers.dev.procs import free_port
from workers.worker import Queue, build_workers

PEOPLE = (
    ("alice", Role.OPERATOR),
    ("bob", Role.SENIOR),
    ("carol", Role.AUDITOR),
    ("dave", Role.OPERATOR),
)


@dataclass
class Live:
    base_url: str
    api: httpx.AsyncClient
    tokens: dict[str, str]

    def auth(self, who: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **headers}


@asynccontextmanager
async def running_api(
    dev_env, database_url, sessions, registry_sim, sms_sim, data_dir, prefix: str
) -> AsyncIterator[Live]:
    """Operators are named `{prefix}alice` etc., so modules sharing a database don't collide."""
    port = free_port()
    settings = Settings(
        env="test", data_dir=data_dir, registry_url=registry_sim, sms_url=sms_sim, api_port=port
    )
    tokens = {name: await add_operator(sessions, prefix + name, role) for name, role in PEOPLE}
    env = {
        "JIEYA_DATABASE_URL": database_url,
        "JIEYA_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "JIEYA_DATA_DIR": str(data_dir),
        "JIEYA_API_PORT": str(port),
        "JIEYA_LOG_FORMAT": "json",
    }
    api_proc, _ = start_process(
        [sys.executable, "-m", "workers.cli", "api"],
        r"Uvicorn running|Application startup complete",
        timeout=60,
        env=env,
        name="api",
    )
    async with AsyncExitStack() as exits:
        exits.callback(stop_process, api_proc)
        http = await exits.enter_async_context(httpx.AsyncClient(timeout=10))
        for worker in build_workers(dev_env.client, settings, sessions, http, Queue.ALL, exits):
            await exits.enter_async_context(worker)
        base_url = f"http://127.0.0.1:{port}"
        api = await exits.enter_async_context(
            httpx.AsyncClient(base_url=f"{base_url}/api/v1", timeout=60)
        )
        yield Live(base_url, api, tokens)
