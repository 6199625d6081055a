"""Fixtures of the in-process API unit tests: the app over ASGI against real
PostgreSQL and the time-skipping server (no worker), and its operators."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from kernel.settings import Settings
from models.enums import Role
from models.loans import upsert_loans
from models.operators import add_operator, revoke_operator
from models.tables import Operator, utcnow
from tests.utils.api_unit import HMAC_SECRET, MAX_UPLOAD, RUN, auth, case_body, loan_row


@pytest.fixture(scope="module")
async def tokens(sessions) -> dict[str, str]:
    people = {
        "alice": Role.OPERATOR,
        "bob": Role.SENIOR,
        "erin": Role.SENIOR,
        "carol": Role.AUDITOR,
        "mallory": Role.OPERATOR,
        "trudy": Role.OPERATOR,
    }
    tokens = {}
    for name, role in people.items():
        tokens[name] = await add_operator(sessions, f"u{name}-{RUN}", role, branch="SH")
    await revoke_operator(sessions, f"umallory-{RUN}")
    async with sessions() as session:
        trudy = await session.get(Operator, f"utrudy-{RUN}")
        trudy.expires_at = utcnow() - timedelta(days=1)
        session.add(trudy)
        await session.commit()
    return tokens


def api_settings(database_url, time_env, data_dir, **overrides) -> Settings:
    values = {
        "env": "test",
        "database_url": database_url,
        "temporal_address": time_env.client.service_client.config.target_host,
        "data_dir": data_dir,
        "max_upload_bytes": MAX_UPLOAD,
        "registry_hmac_secret": HMAC_SECRET,
    }
    return Settings(**{**values, **overrides})


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for `app` while its lifespan runs."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jieya.test") as client:
            yield client


@pytest.fixture(scope="module")
async def api_app(sessions, database_url, time_env, tmp_path_factory) -> AsyncIterator[FastAPI]:
    app = create_app(api_settings(database_url, time_env, tmp_path_factory.mktemp("jieya")))

    async def boom() -> None:
        raise RuntimeError("secret internals 110101199003071234")

    app.add_api_route("/api/v1/_boom", boom)
    yield app


@pytest.fixture(scope="module")
async def api(api_app) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(api_app) as client:
        yield client


@pytest.fixture
def stored_files(api, api_app):
    """Every file in the app's document store, as a callable (`api` has started the store)."""

    def files() -> set[str]:
        root = api_app.state.store.root
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    return files


@pytest.fixture
async def contract(sessions) -> str:
    contract_no = f"HT-{RUN}-{uuid.uuid4().hex[:6]}"
    await upsert_loans(sessions, [loan_row(contract_no)])
    return contract_no


@pytest.fixture
async def case_id(api, tokens, contract) -> str:
    response = await api.post(
        "/api/v1/cases", json=case_body(contract), headers=auth(tokens, "alice")
    )
    assert response.status_code == 201, response.text
    return response.json()["case_id"]
