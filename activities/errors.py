"""Failures an activity raises on purpose, with a type the workflow and API can
match on (never the message text), and which of them retrying cannot cure."""

from temporalio.exceptions import ApplicationError

CASE_NOT_FOUND = "CaseNotFound"
LOAN_NOT_FOUND = "LoanNotFound"
DOCUMENT_NOT_FOUND = "DocumentNotFound"
UNREADABLE_DOCUMENT = "UnreadableDocument"
REGISTRY_REFUSED = "RegistryRefused"
# A value the database cannot store (too long, malformed): the same every time.
INVALID_DATA = "InvalidData"
# A channel the deployment has not configured (no SMTP server for e-mail).
NOT_CONFIGURED = "NotConfigured"
# The adapters' own class for "the remote system refused this request" (a 4xx);
# Temporal names a plain exception's failure after its class.
PERMANENT_EXTERNAL = "PermanentExternalError"
# The registry has the request but has not decided yet: retried, with back-off,
# by the activity's retry policy until the registry's deadline.
REGISTRY_PENDING = "RegistryPending"

BUSINESS_ERRORS = [
    CASE_NOT_FOUND,
    LOAN_NOT_FOUND,
    DOCUMENT_NOT_FOUND,
    UNREADABLE_DOCUMENT,
    REGISTRY_REFUSED,
    INVALID_DATA,
    NOT_CONFIGURED,
]

# Everything a retry policy must give up on at once.
NON_RETRYABLE = [*BUSINESS_ERRORS, PERMANENT_EXTERNAL]


def business_error(kind: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)
