"""The API in-process over ASGI with a stand-in for Temporal, for tests about who may
do what and what the API answers, where no workflow needs to run."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from kernel.settings import Settings
from models.enums import CaseStatus
from models.identity import id_check_char, vin_check_digit
from models.payloads import DecisionOutcome
from models.tables import Case

UNREACHABLE_TEMPORAL = "127.0.0.1:1"


# --- test data ------------------------------------------------------------------


def id_number() -> str:
    body = "11010119900307123"
    return body + id_check_char(body)


def vin() -> str:
    body = "LSVAU2180N2183294"
    return body[:8] + vin_check_digit(body) + body[9:]


def loan(contract_no: str, settled: bool = True) -> dict:
    return {
        "contract_no": contract_no,
        "borrower_name": "张三",
        "id_number": id_number(),
        "phone": "13812345678",
        "plate_no": "京A12345",
        "vin": vin(),
        "lender": "华夏汽车金融有限公司",
        "status": "settled" if settled else "active",
        "outstanding_amount": 0 if settled else 1000,
        "settled_at": None,
        "guarantor": None,
    }


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "white").save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class FakeHandle:
    client: FakeTemporal
    workflow_id: str

    async def signal(self, signal: Any, arg: Any = None, **_: Any) -> None:
        self.client.signals.append((self.workflow_id, arg))

    async def execute_update(self, update: Any, arg: Any = None, **_: Any) -> DecisionOutcome:
        self.client.updates.append((self.workflow_id, arg))
        if self.client.refuse is not None:
            kind, message = self.client.refuse
            raise WorkflowUpdateFailedError(ApplicationError(message, type=kind))
        return DecisionOutcome(status="AWAITING_APPROVAL", step="decided", message="ok")

    async def query(self, query: Any, *_: Any, **__: Any) -> None:
        # The API reads cases from PostgreSQL only: a query here is a regression.
        self.client.queries.append((self.workflow_id, query))
        raise RuntimeError("no live state in these tests")

    async def fetch_history(self, **_: Any) -> None:
        # As a namespace answers once retention has dropped a case.
        raise RPCError("no workflow histories in these tests", RPCStatusCode.NOT_FOUND, b"")


@dataclass
class FakeTemporal:
    """Takes starts, signals, updates and queries and remembers them; `refuse` makes
    the `decide` validator refuse with (type, message)."""

    signals: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    queries: list = field(default_factory=list)
    refuse: tuple[str, str] | None = None

    def get_workflow_handle(self, workflow_id: str, **_: Any) -> FakeHandle:
        return FakeHandle(self, workflow_id)

    async def start_workflow(self, _run: Any, arg: Any, *, id: str, **_: Any) -> FakeHandle:
        return FakeHandle(self, id)


@asynccontextmanager
async def in_process_api(
    database_url: str, data_dir: Path, temporal: FakeTemporal, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """An httpx client on a fresh app (also given) whose Temporal client is `temporal`;
    `overrides` change the app's settings."""
    settings = Settings(
        **{
            "env": "test",
            "database_url": database_url,
            "temporal_address": UNREACHABLE_TEMPORAL,
            "data_dir": data_dir,
            **overrides,
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.temporal = temporal  # also ends the lifespan's reconnect loop
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jieya.test") as client:
            yield client, app


def case_row(case_id: str, contract_no: str, **fields: Any) -> Case:
    """A `cases` row for the loan `loan(contract_no)`, its borrower and vehicle."""
    values: dict[str, Any] = dict(
        case_id=case_id,
        loan_contract_no=contract_no,
        borrower_name="张三",
        borrower_id_number=id_number(),
        borrower_phone="13812345678",
        plate_no="京A12345",
        vin=vin(),
        status=CaseStatus.AWAITING_APPROVAL.value,
        step="awaiting_approval",
        opened_by="someone",
    )
    values.update(fields)
    return Case(**values)
