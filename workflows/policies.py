"""Timeouts and retry policies, one per kind of activity, and why each is so.

Every policy ends: by attempts or by a total budget (`schedule_to_close`).
When one gives up, the workflow opens an incident (`workflows.incidents`) and a
person decides; nothing here retries for ever in silence."""

from datetime import timedelta

from temporalio.common import RetryPolicy

from activities.errors import NON_RETRYABLE

# Our own database. A restart or fail-over takes seconds to a few minutes; half
# an hour of trying means something a person must look at. Values it refuses
# (InvalidData) are refused again, so they give up at once.
DB_ACTIVITY = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(minutes=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=NON_RETRYABLE,
    ),
)

# Recording an incident (its task, its audit record) is what puts a stuck case in
# front of a person, so it outlasts any database outage we plan for: a day.
INCIDENT_RECORD = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(hours=24),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=NON_RETRYABLE,
    ),
)

# The registry (车管所): an outage of a few hours is ordinary; after four hours a
# person decides whether to wait longer. A refusal (4xx) is final at once.
REGISTRY_ACTIVITY = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(hours=4),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=NON_RETRYABLE,
    ),
)

# A message to the customer (SMS, e-mail) or a guarantor's letter: worth an hour
# of retries through a gateway outage; a refused recipient (4xx, 5xx SMTP) is final.
MESSAGE_ACTIVITY = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(hours=1),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=NON_RETRYABLE,
    ),
)

# An alert to our own staff: the same hour; when it gives up the outbox row stays
# pending and the reconciler sends it later (an alert about an alert helps nobody).
STAFF_ALERT_ACTIVITY = MESSAGE_ACTIVITY

# OCR is CPU-heavy: allow time, and give up after a few tries (a person then looks).
# It heartbeats while it reads, so a lost OCR worker costs half a minute, not three.
OCR_ACTIVITY = dict(
    start_to_close_timeout=timedelta(minutes=3),
    heartbeat_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(minutes=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=5,
        non_retryable_error_types=NON_RETRYABLE,
    ),
)


def registry_wait(first_poll: timedelta, poll_cap: timedelta, deadline: timedelta) -> dict:
    """Waiting for the registry's answer: each attempt asks once and fails with
    RegistryPending while it is undecided, so the retry policy does the polling
    (backing off to `poll_cap`) without one history event per poll, and
    `deadline` ends the wait with a follow-up task for a person."""
    return dict(
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=deadline,
        retry_policy=RetryPolicy(
            initial_interval=first_poll,
            backoff_coefficient=2.0,
            maximum_interval=poll_cap,
            non_retryable_error_types=NON_RETRYABLE,
        ),
    )


# Kept for histories recorded before incidents existed: the old registry loop
# scheduled its activities with these exact options.
LEGACY_EXTERNAL_ACTIVITY = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=NON_RETRYABLE,
    ),
)
