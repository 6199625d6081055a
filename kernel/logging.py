"""structlog set-up shared by every process, with PII masked in every line."""

from __future__ import annotations

import logging
import sys

import structlog

from models.masking import mask_text, masked

# Logs mask with the views' patterns, so a number hidden on a page is hidden in a log line.
mask_pii_text = mask_text


def mask_pii(_logger, _method, event_dict: dict) -> dict:
    """structlog processor: no ID number or phone number leaves the process unmasked."""
    return masked(event_dict)


def _flatten_temporal_context(_logger, _method, event_dict: dict) -> dict:
    # temporalio's LoggerAdapter puts workflow/activity info under these keys.
    for key in ("temporal_workflow", "temporal_activity"):
        info = event_dict.pop(key, None)
        if isinstance(info, dict):
            for name in ("workflow_id", "workflow_type", "activity_type", "attempt"):
                if name in info:
                    event_dict.setdefault(name, info[name])
            if "workflow_id" in info:
                event_dict.setdefault("case_id", info["workflow_id"])
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _flatten_temporal_context,
        # Render tracebacks to text before masking, and never with local
        # variables: those hold bearer tokens and ID numbers.
        structlog.processors.format_exc_info,
        mask_pii,
    ]
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter that would drown the case events.
    for noisy in ("httpx", "httpcore", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None, **bound) -> structlog.stdlib.BoundLogger:
    # Stays a lazy proxy: module-level loggers must pick up the configuration
    # made later in main(), so never `.bind()` here.
    return structlog.get_logger(name, **bound)
