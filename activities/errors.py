"""Business failures: raised non-retryable, with a type the workflow and API
can match on (never the message text)."""

from temporalio.exceptions import ApplicationError

CASE_NOT_FOUND = "CaseNotFound"
LOAN_NOT_FOUND = "LoanNotFound"
DOCUMENT_NOT_FOUND = "DocumentNotFound"
UNREADABLE_DOCUMENT = "UnreadableDocument"
REGISTRY_REFUSED = "RegistryRefused"

BUSINESS_ERRORS = [
    CASE_NOT_FOUND,
    LOAN_NOT_FOUND,
    DOCUMENT_NOT_FOUND,
    UNREADABLE_DOCUMENT,
    REGISTRY_REFUSED,
]


def business_error(kind: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)
