"""Timeouts and retry policies, one per kind of activity, and why each is so.

Every policy ends: by attempts or by a total budget (`schedule_to_close`).
When one gives up, the workflow opens an incident (`workflows.incidents`) and a
person decides; nothing here retries for ever in silence."""

from datetime import timedelta

from temporalio.common import RetryPolicy

from activities.errors import NON_RETRYABLE


def _policy(
    budget: timedelta | None,
    first: timedelta,
    cap: timedelta,
    *,
    attempt_timeout: timedelta = timedelta(seconds=30),
    attempts: int = 0,
    heartbeat: timedelta | None = None,
) -> dict:
    """Activity options: each attempt may take `attempt_timeout`; retries back off
    from `first` to `cap`; the whole step ends after `budget` or `attempts`."""
    options: dict = dict(
        start_to_close_timeout=attempt_timeout,
        retry_policy=RetryPolicy(
            initial_interval=first,
            backoff_coefficient=2.0,
            maximum_interval=cap,
            maximum_attempts=attempts,
            non_retryable_error_types=NON_RETRYABLE,
        ),
    )
    if budget is not None:
        options["schedule_to_close_timeout"] = budget
    if heartbeat is not None:
        options["heartbeat_timeout"] = heartbeat
    return options


SECOND, MINUTE, HOUR = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)

# Our own database. A restart or fail-over takes seconds to a few minutes; half
# an hour of trying means something a person must look at. Values it refuses
# (InvalidData) are refused again, so they give up at once.
DB_ACTIVITY = _policy(30 * MINUTE, SECOND, 30 * SECOND)

# Recording an incident (its task, its audit record) is what puts a stuck case in
# front of a person, so it outlasts any database outage we plan for: a day.
INCIDENT_RECORD = _policy(24 * HOUR, SECOND, 5 * MINUTE)

# The registry (车管所): an outage of a few hours is ordinary; after four hours a
# person decides whether to wait longer. A refusal (4xx) is final at once.
REGISTRY_ACTIVITY = _policy(4 * HOUR, SECOND, 5 * MINUTE)

# A message to the customer (SMS, e-mail) or a guarantor's letter: worth an hour
# of retries through a gateway outage; a refused recipient (4xx, 5xx SMTP) is final.
MESSAGE_ACTIVITY = _policy(HOUR, SECOND, 5 * MINUTE)

# An alert to our own staff: the same hour; when it gives up the outbox row stays
# pending and the reconciler sends it later (an alert about an alert helps nobody).
STAFF_ALERT_ACTIVITY = MESSAGE_ACTIVITY

# OCR is CPU-heavy: allow time, and give up after a few tries (a person then looks).
# It heartbeats while it reads, so a lost OCR worker costs half a minute, not three.
OCR_ACTIVITY = _policy(
    30 * MINUTE,
    SECOND,
    MINUTE,
    attempt_timeout=3 * MINUTE,
    attempts=5,
    heartbeat=30 * SECOND,
)


def registry_wait(first_poll: timedelta, poll_cap: timedelta, deadline: timedelta) -> dict:
    """Waiting for the registry's answer: each attempt asks once and fails with
    RegistryPending while it is undecided, so the retry policy does the polling
    (backing off to `poll_cap`) without one history event per poll, and
    `deadline` ends the wait with a follow-up task for a person."""
    return _policy(deadline, first_poll, poll_cap)


# Kept for histories recorded before incidents existed: the old registry loop
# and messages scheduled their activities with these options (no budget).
LEGACY_EXTERNAL_ACTIVITY = _policy(None, SECOND, 5 * MINUTE)
