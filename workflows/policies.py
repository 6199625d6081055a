"""Deliberate timeouts and retry policies, one per kind of activity."""

from datetime import timedelta

from temporalio.common import RetryPolicy

from activities.errors import BUSINESS_ERRORS

# Our own database: brief outages are retried quickly, business errors never.
DB_ACTIVITY = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=BUSINESS_ERRORS,
    ),
)

# Registry, SMS, mail: outside systems can be down for hours; keep trying,
# backing off to every five minutes, unless they refuse the request itself.
EXTERNAL_ACTIVITY = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=BUSINESS_ERRORS,
    ),
)

# OCR is CPU-heavy: allow time, and give up after a few tries (a human then looks).
OCR_ACTIVITY = dict(
    start_to_close_timeout=timedelta(minutes=3),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=5,
        non_retryable_error_types=BUSINESS_ERRORS,
    ),
)
