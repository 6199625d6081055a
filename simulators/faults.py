"""Fault injection shared by the simulators: knobs, their validation, counters and the HTTP middleware.

Knobs are set with ``POST /_sim/config`` and live only in memory: a restarted
simulator keeps its records (state file) but starts again with the knobs it
was launched with. Faults only ever touch the product-facing API (``/api/…``,
or SMTP for the mail sink); ``/healthz`` and ``/_sim/*`` stay reachable so a
test can always inspect and repair a simulator it has "broken".

Two kinds of chance are used on purpose. Outages (``error_rate``,
``timeout_rate``) come from a seeded generator: one draw per request, so the
n-th request after seeding always meets the same fate. Refusals
(``refuse_rate``) and the registry's callback faults hash the Idempotency-Key
with the seed instead, so one request is refused, or its callback duplicated,
however often and in whatever order it is retried, as a real registry that
has made up its mind would.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulators._common import API_PREFIX, SimError, describe_errors, error_response

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
# An empty fragment would be contained in every key and refuse everything.
KeyFragment = Annotated[str, Field(min_length=1, max_length=200)]

HTTP_COUNTERS = ("delayed", "5xx", "4xx", "timeouts")


class CommonKnobs(BaseModel):
    """Knobs every simulator takes; the defaults inject nothing."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(0, ge=0, le=60_000)
    timeout_rate: Rate = 0.0
    # Longer than the product's client timeouts, so a hung request is a timeout to them.
    hang_s: float = Field(15.0, gt=0, le=600)
    seed: int = Field(0, ge=0, le=2**63 - 1)


class HttpKnobs(CommonKnobs):
    """Knobs of the HTTP simulators (registry, SMS gateway)."""

    error_rate: Rate = 0.0
    fail_keys: list[KeyFragment] = Field(default_factory=list, max_length=1000)
    refuse_rate: Rate = 0.0

    @model_validator(mode="after")
    def _shares_fit(self) -> HttpKnobs:
        # One draw per request is split between the two, which keeps each an exact share.
        if self.timeout_rate + self.error_rate > 1.0:
            raise ValueError(
                "timeout_rate + error_rate must not exceed 1 "
                f"(got {self.timeout_rate:g} + {self.error_rate:g})"
            )
        return self


class ConfigActions(BaseModel):
    """What ``POST /_sim/config`` does besides setting knobs."""

    # Back to the knobs the process started with (and counters to zero), then apply the rest.
    reset: bool = False
    fail_next: int | None = Field(None, ge=0, le=10_000)


class FailNext:
    """Answers the next ``remaining`` requests with a failure so tests can prove retries."""

    def __init__(self) -> None:
        self.remaining = 0
        self.failed_total = 0

    def take(self) -> bool:
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        self.failed_total += 1
        return True

    def view(self) -> dict[str, int]:
        return {"fail_next": self.remaining, "failed_total": self.failed_total}


K = TypeVar("K", bound=CommonKnobs)


class Faults(Generic[K]):
    """The current knobs of one simulator, its seeded generator and what it has injected."""

    def __init__(self, knobs: K, counters: Iterable[str]) -> None:
        self.initial = knobs
        self.knobs = knobs
        self.counter_names = tuple(counters)
        self.fail = FailNext()
        self.rng = random.Random(knobs.seed)
        self.requests = 0
        self.injected = dict.fromkeys(self.counter_names, 0)

    def configure(self, body: BaseModel) -> dict[str, Any]:
        """Apply a ``POST /_sim/config`` body: only the fields it sets, all or nothing."""
        given = body.model_dump(exclude_unset=True)
        reset = given.pop("reset", False)
        fail_next = given.pop("fail_next", None)
        base = self.initial if reset else self.knobs
        try:
            # Validated merged, so a rule across fields sees the values that will be in force.
            knobs = type(base).model_validate({**base.model_dump(), **given})
        except ValidationError as exc:
            raise SimError(422, "validation_error", describe_errors(exc.errors())) from None
        if reset:
            self.fail = FailNext()
            self.requests = 0
            self.injected = dict.fromkeys(self.counter_names, 0)
        self.knobs = knobs
        if reset or "seed" in given:
            self.rng.seed(knobs.seed)
        if fail_next is not None:
            self.fail.remaining = fail_next
        return self.view()

    def view(self) -> dict[str, Any]:
        return {
            **self.knobs.model_dump(),
            **self.fail.view(),
            "requests": self.requests,
            "injected": dict(self.injected),
        }

    def count(self, counter: str) -> None:
        self.injected[counter] += 1

    def draw(self) -> float:
        return self.rng.random()

    def key_share(self, key: str, purpose: str) -> float:
        """A number in [0, 1) fixed by seed, purpose and key: the same key always gets the same."""
        digest = hashlib.sha256(f"{self.knobs.seed}\0{purpose}\0{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    async def delay(self) -> None:
        if self.knobs.latency_ms > 0:
            self.count("delayed")
            await asyncio.sleep(self.knobs.latency_ms / 1000)


class Fate(Enum):
    PASS = "pass"
    UNAVAILABLE = "unavailable"
    HANG = "hang"
    REFUSED = "refused"


def decide(faults: Faults[Any], idempotency_key: str | None) -> tuple[Fate, str]:
    """What happens to one product-facing HTTP request, and the message that says why."""
    knobs: HttpKnobs = faults.knobs
    faults.requests += 1
    # Drawn even when fail_next answers, so request n's fate depends only on seed and n.
    chance = faults.draw()
    if faults.fail.take():
        faults.count("5xx")
        return Fate.UNAVAILABLE, "simulated outage (fail_next)"
    if chance < knobs.timeout_rate:
        faults.count("timeouts")
        return Fate.HANG, f"simulated timeout: answered after {knobs.hang_s:g} s (timeout_rate)"
    if chance < knobs.timeout_rate + knobs.error_rate:
        faults.count("5xx")
        return Fate.UNAVAILABLE, "simulated outage (error_rate)"
    reason = refusal(faults, idempotency_key.strip()) if idempotency_key else None
    if reason is not None:
        faults.count("4xx")
        return Fate.REFUSED, reason
    return Fate.PASS, ""


def refusal(faults: Faults[Any], key: str) -> str | None:
    """Why this Idempotency-Key is refused for good, or None."""
    knobs: HttpKnobs = faults.knobs
    for fragment in knobs.fail_keys:
        if fragment in key:
            return f"simulated refusal: Idempotency-Key contains {fragment!r} (fail_keys); retrying will not help"
    if knobs.refuse_rate > 0 and faults.key_share(key, "refuse") < knobs.refuse_rate:
        return "simulated refusal of this Idempotency-Key (refuse_rate); retrying will not help"
    return None


def install_http_faults(app: FastAPI, faults: Faults[Any]) -> None:
    """Apply latency, outages, hangs and refusals to every ``/api/…`` request, before its handler."""

    @app.middleware("http")
    async def _inject(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        if not request.url.path.startswith(API_PREFIX):
            return await call_next(request)
        await faults.delay()
        hang_s = faults.knobs.hang_s
        fate, message = decide(faults, request.headers.get("Idempotency-Key"))
        if fate is Fate.HANG:
            await asyncio.sleep(hang_s)
        if fate in (Fate.UNAVAILABLE, Fate.HANG):
            response = error_response(503, "unavailable", message)
            # "0": each request's fate is drawn afresh, so waiting longer would not help.
            response.headers["Retry-After"] = "0"
            return response
        if fate is Fate.REFUSED:
            return error_response(422, "refused", message)
        return await call_next(request)
