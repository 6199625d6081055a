"""Vehicle registry (车管所) simulator: mortgage deregistration with idempotency and callbacks.

The outcome of a deregistration is fixed when it is submitted (reject and
pending lists, delay and the callback faults are snapshotted) and revealed
lazily from timestamps, so polling needs no background work and a restart from
the state file gives the same answers.

Each callback is a delivery event with its own ``callback_id``, planned at
submission: the final outcome, maybe a duplicate of it (same id) and maybe a
stale PENDING one sent after it (own id). Events go out in that order, each
retried until the receiver answers 2xx or 409 ("already have it").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from fastapi import FastAPI, Header, Response
from pydantic import BaseModel, Field, HttpUrl, field_validator

from kernel.settings import DEV_SECRET
from simulators import signing
from simulators._common import (
    JsonStateFile,
    SimError,
    add_health_and_log,
    base_parser,
    ensure_same_body,
    install_error_handlers,
    require_idempotency_key,
    serve_app,
    utc_iso,
)
from simulators.faults import (
    HTTP_COUNTERS,
    ConfigActions,
    Faults,
    HttpKnobs,
    Rate,
    install_http_faults,
)

log = logging.getLogger("simulators.registry")

# Back-off between callback attempts; after the last one the product has to poll,
# which is what a real registry's "best effort" webhook forces on it too.
CALLBACK_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 4.0)
REJECT_REASON = "车辆存在查封或其他登记限制，无法办理抵押注销"
# The registry refuses malformed VINs outright: 17 characters, never I, O or Q.
VIN_PATTERN = r"^[A-HJ-NPR-Z0-9]{17}$"
Vin = Annotated[str, Field(pattern=VIN_PATTERN)]
REGISTRY_COUNTERS = (*HTTP_COUNTERS, "duplicates", "out_of_order", "pending_forever")


class DeregistrationIn(BaseModel):
    case_ref: str = Field(min_length=1, max_length=64)
    contract_no: str = Field(min_length=1, max_length=64)
    plate_no: str = Field(min_length=2, max_length=16)
    vin: Vin
    lender: str = Field(min_length=1, max_length=128)
    callback_url: HttpUrl | None = None


class DeregistrationStatus(BaseModel):
    registry_ref: str
    status: Literal["PENDING", "COMPLETED", "REJECTED"]
    reason: str | None
    completed_at: str | None


class SubmitResult(DeregistrationStatus):
    duplicate: bool


class RegistryKnobs(HttpKnobs):
    """The shared HTTP knobs plus what only a registry does: decide slowly, refuse, call back."""

    reject_vins: list[Vin] = Field(default_factory=list, max_length=10_000)
    # Never decided: polling answers PENDING for ever and no callback is sent.
    pending_vins: list[Vin] = Field(default_factory=list, max_length=10_000)
    complete_after_s: float = Field(1.0, ge=0, le=86_400)
    duplicate_callbacks: Rate = 0.0
    out_of_order_callbacks: Rate = 0.0

    @field_validator("reject_vins", "pending_vins", mode="before")
    @classmethod
    def _normalise_vins(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value  # the type check reports it
        return [vin.strip().upper() if isinstance(vin, str) else vin for vin in value]

    @field_validator("reject_vins", "pending_vins")
    @classmethod
    def _unique_vins(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class RegistryConfigIn(RegistryKnobs, ConfigActions):
    """``POST /_sim/config``: omitted fields keep their value."""


def new_callback_id() -> str:
    # Random, not derived from registry_ref: refs restart at 1 in a fresh simulator, and a
    # receiver that remembers callback ids must never mistake a new run's event for an old one.
    return f"cb-{uuid.uuid4().hex}"


def upgrade_record(record: dict[str, Any]) -> None:
    """Give a record from an older state file the delivery plan newer code expects."""
    if "callbacks" in record:
        return
    record["callbacks"] = []
    if record["request"].get("callback_url"):
        record["callbacks"].append(
            {
                "callback_id": new_callback_id(),
                "kind": "final",
                "status": record["outcome"],
                "delivered": record["callback_delivered"],
            }
        )


class RegistryState:
    """Records by idempotency key, the request log, fault settings and pending callbacks."""

    def __init__(self, hmac_secret: str, knobs: RegistryKnobs, state_file: Path | None):
        self.hmac_secret = hmac_secret
        self.faults = Faults(knobs, REGISTRY_COUNTERS)
        self.records: dict[str, dict[str, Any]] = {}
        self.log: list[dict[str, Any]] = []
        self.store = JsonStateFile(state_file)
        self.tasks: set[asyncio.Task[None]] = set()
        self.http: httpx.AsyncClient | None = None
        saved = self.store.load()
        if saved:
            self.records = saved["records"]
            for record in self.records.values():
                upgrade_record(record)

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
        knobs = self.faults.knobs
        if body["vin"] in knobs.pending_vins:
            # Checked before reject_vins: a registry that never decides cannot reject either.
            outcome, reason, decide_at = "PENDING", None, None
            self.faults.count("pending_forever")
        elif body["vin"] in knobs.reject_vins:
            outcome, reason, decide_at = "REJECTED", REJECT_REASON, now + knobs.complete_after_s
        else:
            outcome, reason, decide_at = "COMPLETED", None, now + knobs.complete_after_s
        record = {
            "idempotency_key": key,
            "registry_ref": f"CGS{time.strftime('%Y%m%d')}{len(self.records) + 1:06d}",
            "request": body,
            "submitted_at": now,
            "decide_at": decide_at,
            "outcome": outcome,
            "reason": reason,
            "callbacks": self.plan_callbacks(key, outcome, bool(body.get("callback_url"))),
            "callback_delivered": False,
            "callback_attempts": [],
        }
        self.records[key] = record
        self.save()
        if record["callbacks"]:
            self.schedule_callback(record)
        return record, False

    def plan_callbacks(self, key: str, outcome: str, wanted: bool) -> list[dict[str, Any]]:
        """The delivery events owed for one deregistration, in the order they will be sent."""
        if not wanted or outcome == "PENDING":
            return []
        knobs = self.faults.knobs
        final = {"callback_id": new_callback_id(), "kind": "final", "status": outcome}
        events = [final]
        if self.faults.key_share(key, "duplicate") < knobs.duplicate_callbacks:
            events.append({**final, "kind": "duplicate"})
        if self.faults.key_share(key, "out-of-order") < knobs.out_of_order_callbacks:
            events.append({"callback_id": new_callback_id(), "kind": "stale", "status": "PENDING"})
        return [{**event, "delivered": False} for event in events]

    def schedule_callback(self, record: dict[str, Any]) -> None:
        if self.http is None:
            raise RuntimeError("callbacks need the app lifespan (run the app under a server)")
        task = asyncio.create_task(self._deliver_callbacks(self.http, record))
        # Holding a reference keeps the task alive; the lifespan cancels leftovers.
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver_callbacks(self, http: httpx.AsyncClient, record: dict[str, Any]) -> None:
        await asyncio.sleep(max(0.0, record["decide_at"] - time.time()))
        for event in record["callbacks"]:
            if not event["delivered"] and not await self._deliver(http, record, event):
                return  # given up: later events wait for a restart, the product has to poll

    async def _deliver(
        self, http: httpx.AsyncClient, record: dict[str, Any], event: dict[str, Any]
    ) -> bool:
        payload = {
            "callback_id": event["callback_id"],
            "idempotency_key": record["idempotency_key"],
            "registry_ref": record["registry_ref"],
            "status": event["status"],
            "reason": record["reason"] if event["status"] == record["outcome"] else None,
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        url = record["request"]["callback_url"]
        if event["kind"] == "duplicate":
            self.faults.count("duplicates")
        elif event["kind"] == "stale":
            self.faults.count("out_of_order")
        for attempt, backoff in enumerate(CALLBACK_BACKOFF_S, start=1):
            # A fresh timestamp per attempt keeps late retries inside the receiver's skew window.
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                signing.TIMESTAMP_HEADER: timestamp,
                signing.SIGNATURE_HEADER: signing.sign(self.hmac_secret, timestamp, body),
            }
            entry: dict[str, Any] = {
                "callback_id": event["callback_id"],
                "kind": event["kind"],
                "attempt": attempt,
                "at": utc_iso(time.time()),
            }
            try:
                response = await http.post(url, content=body, headers=headers)
                entry["status_code"] = response.status_code
                # 409 is the receiver saying it already has this event: delivered all the same.
                delivered = response.is_success or response.status_code == 409
            except httpx.HTTPError as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"
                delivered = False
            record["callback_attempts"].append(entry)
            event["delivered"] = delivered
            record["callback_delivered"] = all(e["delivered"] for e in record["callbacks"])
            self.save()
            if delivered:
                return True
            log.warning("callback to %s failed (attempt %d): %s", url, attempt, entry)
            await asyncio.sleep(backoff)
        return False

    def owes_callbacks(self, record: dict[str, Any]) -> bool:
        return any(not event["delivered"] for event in record["callbacks"])


def status_view(record: dict[str, Any], now: float | None = None) -> DeregistrationStatus:
    decide_at = record["decide_at"]
    decided = decide_at is not None and (time.time() if now is None else now) >= decide_at
    return DeregistrationStatus(
        registry_ref=record["registry_ref"],
        status=record["outcome"] if decided else "PENDING",
        reason=record["reason"] if decided else None,
        completed_at=utc_iso(record["decide_at"]) if decided else None,
    )


def create_app(
    hmac_secret: str, complete_after_s: float = 1.0, state_file: Path | None = None
) -> FastAPI:
    knobs = RegistryKnobs(complete_after_s=complete_after_s)
    state = RegistryState(hmac_secret, knobs, state_file)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # trust_env=False: a proxy from the environment must never see loopback callbacks.
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
            state.http = http
            # Callbacks that were still owed when the previous process stopped are resumed.
            for record in state.records.values():
                if state.owes_callbacks(record):
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
    install_http_faults(app, state.faults)
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
        """Current fault and timing knobs and what they have injected."""
        return state.faults.view()

    @app.post("/_sim/config")
    async def write_config(config: RegistryConfigIn) -> dict[str, Any]:
        """Change knobs for the next requests; omitted fields keep their value."""
        return state.faults.configure(config)

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
