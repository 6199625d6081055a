"""Vehicle registry (车管所) simulator: mortgage deregistration with idempotency and callbacks.

The outcome of a deregistration is fixed when it is submitted (reject list and
delay are snapshotted) and revealed lazily from timestamps, so polling needs no
background work and a restart from the state file gives the same answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from fastapi import FastAPI, Header, Response
from pydantic import BaseModel, Field, HttpUrl

from kernel.settings import DEV_SECRET
from simulators import signing
from simulators._common import (
    FailNext,
    JsonStateFile,
    SimConfigBase,
    SimError,
    add_health_and_log,
    base_parser,
    ensure_same_body,
    install_error_handlers,
    install_fail_next,
    require_idempotency_key,
    serve_app,
    utc_iso,
)

log = logging.getLogger("simulators.registry")

# Back-off between callback attempts; after the last one the product has to poll,
# which is what a real registry's "best effort" webhook forces on it too.
CALLBACK_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 4.0)
REJECT_REASON = "车辆存在查封或其他登记限制，无法办理抵押注销"


class DeregistrationIn(BaseModel):
    case_ref: str = Field(min_length=1, max_length=64)
    contract_no: str = Field(min_length=1, max_length=64)
    plate_no: str = Field(min_length=2, max_length=16)
    # The registry refuses malformed VINs outright: 17 characters, never I, O or Q.
    vin: str = Field(pattern=r"^[A-HJ-NPR-Z0-9]{17}$")
    lender: str = Field(min_length=1, max_length=128)
    callback_url: HttpUrl | None = None


class DeregistrationStatus(BaseModel):
    registry_ref: str
    status: Literal["PENDING", "COMPLETED", "REJECTED"]
    reason: str | None
    completed_at: str | None


class SubmitResult(DeregistrationStatus):
    duplicate: bool


class RegistryConfigIn(SimConfigBase):
    reject_vins: list[str] | None = None
    complete_after_s: float | None = Field(None, ge=0, le=86_400)


class RegistryState:
    """Records by idempotency key, the request log, fault settings and pending callbacks."""

    def __init__(self, hmac_secret: str, complete_after_s: float, state_file: Path | None):
        self.hmac_secret = hmac_secret
        self.complete_after_s = complete_after_s
        self.reject_vins: set[str] = set()
        self.fail = FailNext()
        self.records: dict[str, dict[str, Any]] = {}
        self.log: list[dict[str, Any]] = []
        self.store = JsonStateFile(state_file)
        self.tasks: set[asyncio.Task[None]] = set()
        self.http: httpx.AsyncClient | None = None
        saved = self.store.load()
        if saved:
            self.records = saved["records"]

    def save(self) -> None:
        self.store.save({"records": self.records})

    def submit(self, key: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create the record for ``key`` once; later calls get the same record back."""
        now = time.time()
        existing = self.records.get(key)
        self.log.append(
            {
                "idempotency_key": key,
                "body": body,
                "received_at": utc_iso(now),
                "duplicate": existing is not None,
            }
        )
        if existing is not None:
            ensure_same_body(key, existing["request"], body)
            return existing, True
        rejected = body["vin"] in self.reject_vins
        record = {
            "idempotency_key": key,
            "registry_ref": f"CGS{time.strftime('%Y%m%d')}{len(self.records) + 1:06d}",
            "request": body,
            "submitted_at": now,
            "decide_at": now + self.complete_after_s,
            "outcome": "REJECTED" if rejected else "COMPLETED",
            "reason": REJECT_REASON if rejected else None,
            "callback_delivered": False,
            "callback_attempts": [],
        }
        self.records[key] = record
        self.save()
        if body.get("callback_url"):
            self.schedule_callback(record)
        return record, False

    def schedule_callback(self, record: dict[str, Any]) -> None:
        if self.http is None:
            raise RuntimeError("callbacks need the app lifespan (run the app under a server)")
        task = asyncio.create_task(self._deliver_callback(self.http, record))
        # Holding a reference keeps the task alive; the lifespan cancels leftovers.
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver_callback(self, http: httpx.AsyncClient, record: dict[str, Any]) -> None:
        await asyncio.sleep(max(0.0, record["decide_at"] - time.time()))
        payload = {
            "idempotency_key": record["idempotency_key"],
            "registry_ref": record["registry_ref"],
            "status": record["outcome"],
            "reason": record["reason"],
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        url = record["request"]["callback_url"]
        for attempt, backoff in enumerate(CALLBACK_BACKOFF_S, start=1):
            # A fresh timestamp per attempt keeps late retries inside the receiver's skew window.
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                signing.TIMESTAMP_HEADER: timestamp,
                signing.SIGNATURE_HEADER: signing.sign(self.hmac_secret, timestamp, body),
            }
            entry: dict[str, Any] = {"attempt": attempt, "at": utc_iso(time.time())}
            try:
                response = await http.post(url, content=body, headers=headers)
                entry["status_code"] = response.status_code
                delivered = response.is_success
            except httpx.HTTPError as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"
                delivered = False
            record["callback_attempts"].append(entry)
            record["callback_delivered"] = delivered
            self.save()
            if delivered:
                return
            log.warning("callback to %s failed (attempt %d): %s", url, attempt, entry)
            await asyncio.sleep(backoff)

    def configure(self, config: RegistryConfigIn) -> dict[str, Any]:
        if config.reject_vins is not None:
            self.reject_vins = {vin.strip().upper() for vin in config.reject_vins}
        if config.complete_after_s is not None:
            self.complete_after_s = config.complete_after_s
        if config.fail_next is not None:
            self.fail.remaining = config.fail_next
        return self.config_view()

    def config_view(self) -> dict[str, Any]:
        return {
            "reject_vins": sorted(self.reject_vins),
            "complete_after_s": self.complete_after_s,
            **self.fail.view(),
        }


def status_view(record: dict[str, Any], now: float | None = None) -> DeregistrationStatus:
    decided = (time.time() if now is None else now) >= record["decide_at"]
    return DeregistrationStatus(
        registry_ref=record["registry_ref"],
        status=record["outcome"] if decided else "PENDING",
        reason=record["reason"] if decided else None,
        completed_at=utc_iso(record["decide_at"]) if decided else None,
    )


def create_app(
    hmac_secret: str, complete_after_s: float = 1.0, state_file: Path | None = None
) -> FastAPI:
    state = RegistryState(hmac_secret, complete_after_s, state_file)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # trust_env=False: a proxy from the environment must never see loopback callbacks.
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
            state.http = http
            # Callbacks that were still owed when the previous process stopped are resumed.
            for record in state.records.values():
                if record["request"].get("callback_url") and not record["callback_delivered"]:
                    state.schedule_callback(record)
            try:
                yield
            finally:
                for task in list(state.tasks):
                    task.cancel()
                await asyncio.gather(*state.tasks, return_exceptions=True)
                state.http = None

    app = FastAPI(title="Vehicle registry simulator", lifespan=lifespan)
    app.state.sim = state
    install_error_handlers(app)
    install_fail_next(app, state.fail)
    add_health_and_log(app, lambda: state.log)

    @app.post("/api/v1/deregistrations", status_code=202, response_model=SubmitResult)
    async def submit(
        request: DeregistrationIn,
        response: Response,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> SubmitResult:
        """Ask for a mortgage deregistration; one per Idempotency-Key."""
        key = require_idempotency_key(idempotency_key)
        record, duplicate = state.submit(key, request.model_dump(mode="json"))
        if duplicate:
            response.status_code = 200
        return SubmitResult(**status_view(record).model_dump(), duplicate=duplicate)

    @app.get("/api/v1/deregistrations/{idempotency_key}", response_model=DeregistrationStatus)
    async def status(idempotency_key: str) -> DeregistrationStatus:
        """Current status of one deregistration."""
        record = state.records.get(idempotency_key)
        if record is None:
            raise SimError(404, "not_found", f"no deregistration for key {idempotency_key!r}")
        return status_view(record)

    @app.get("/_sim/deregistrations")
    async def records() -> list[dict[str, Any]]:
        """Every record with its decided outcome and callback attempts."""
        return [{**record, **status_view(record).model_dump()} for record in state.records.values()]

    @app.get("/_sim/config")
    async def read_config() -> dict[str, Any]:
        """Current fault and timing settings."""
        return state.config_view()

    @app.post("/_sim/config")
    async def write_config(config: RegistryConfigIn) -> dict[str, Any]:
        """Change rejections, delay or injected failures for the next requests."""
        return state.configure(config)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = base_parser("Vehicle registry (车管所) simulator")
    parser.add_argument("--hmac-secret", default=DEV_SECRET)
    parser.add_argument("--complete-after", type=float, default=1.0)
    args = parser.parse_args(argv)
    app = create_app(args.hmac_secret, args.complete_after, args.state_file)
    serve_app(app, args.host, args.port)


if __name__ == "__main__":
    main()
