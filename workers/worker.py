"""The Temporal worker process: builds the adapters once and hands them to the
activity classes, then serves the case queue, the OCR queue, or both."""

from __future__ import annotations

import asyncio
import signal
import sys
from contextlib import AsyncExitStack
from enum import StrEnum

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.adapters.email import SmtpMailer
from activities.adapters.ledger import DatabaseLedger
from activities.adapters.registry import RegistryClient
from activities.adapters.sms import SmsGateway
from activities.adapters.storage import LocalDocumentStore
from activities.archive_activities import HistoryArchiver
from activities.case_activities import CaseActivities
from activities.failures import ReportFailures
from activities.guarantor_activities import GuarantorActivities
from activities.notification_activities import Messengers, NotificationActivities, StaffAddresses
from activities.reconcile_activities import Reconciler
from activities.registry_activities import RegistryActivities
from kernel.case_client import callback_url
from kernel.db import SessionFactory, create_engine, session_factory
from kernel.logging import get_logger
from kernel.settings import CASES_TASK_QUEUE, OCR_TASK_QUEUE, Settings
from kernel.temporal import connect_temporal
from workers.schedules import ensure_archive_schedule, ensure_reconcile_schedule
from workflows.archive import ArchiveHistoriesWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.release_case import ReleaseCaseWorkflow

log = get_logger("jieya.worker")


class Queue(StrEnum):
    ALL = "all"
    CASES = "cases"
    OCR = "ocr"


def messengers(settings: Settings, http: httpx.AsyncClient) -> Messengers:
    """The SMS gateway and (when configured) the mail server, as the outbox uses them."""
    mailer = (
        SmtpMailer(settings.smtp_host, settings.smtp_port, settings.mail_from)
        if settings.smtp_host
        else None
    )
    return Messengers(SmsGateway(http, settings.sms_url), mailer)


def reconciler(settings: Settings, client: Client, sessions: SessionFactory, http) -> Reconciler:
    return Reconciler(client, sessions, messengers(settings, http), callback_url(settings))


def case_activities(settings: Settings, sessions: SessionFactory, http: httpx.AsyncClient) -> list:
    """The bound activity methods of the case queue."""
    if not settings.registry_url or not settings.sms_url:
        raise SystemExit("JIEYA_REGISTRY_URL and JIEYA_SMS_URL must be set for the case worker")
    ledger = DatabaseLedger(sessions)
    channels = messengers(settings, http)
    sms, mailer = channels.sms, channels.mailer
    cases = CaseActivities(sessions, ledger)
    registry = RegistryActivities(sessions, ledger, RegistryClient(http, settings.registry_url))
    notifications = NotificationActivities(
        sessions,
        sms,
        mailer,
        StaffAddresses(settings.operators_alert_email, settings.seniors_alert_email),
    )
    guarantor = GuarantorActivities(sessions, ledger, channels)
    return [
        cases.record_transition,
        cases.record_transitions,
        cases.verify_repayment,
        cases.assess_risk,
        cases.open_task,
        cases.close_task,
        cases.record_decision,
        cases.mark_task_sla,
        cases.sync_documents,
        registry.submit_deregistration,
        registry.check_deregistration,
        registry.await_deregistration,
        notifications.notify_customer,
        notifications.notify_staff,
        guarantor.confirm_guarantor_release,
    ]


def ocr_activities(settings: Settings, sessions: SessionFactory):
    # Imported here so a case-only worker never loads the OCR models.
    from activities.ocr.reader import build_reader
    from activities.ocr_activities import OcrActivities

    reader = build_reader(
        settings.ocr_engine, settings.ocr_second_engine, settings.paddle_model_dir
    )
    return OcrActivities(
        sessions,
        LocalDocumentStore(settings.documents_dir),
        reader,
        concurrency=settings.ocr_concurrency,
    )


def build_workers(
    client: Client,
    settings: Settings,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    queue: Queue,
    stack: AsyncExitStack | None = None,
) -> list[Worker]:
    workers = []
    if queue in (Queue.ALL, Queue.CASES):
        workers.append(
            Worker(
                client,
                task_queue=CASES_TASK_QUEUE,
                workflows=[ReleaseCaseWorkflow, ArchiveHistoriesWorkflow, ReconcileWorkflow],
                activities=[
                    *case_activities(settings, sessions, http),
                    HistoryArchiver(client, sessions).archive_closed_cases,
                    reconciler(settings, client, sessions, http).reconcile,
                ],
                interceptors=[ReportFailures()],
            )
        )
    if queue in (Queue.ALL, Queue.OCR):
        ocr = ocr_activities(settings, sessions)
        if stack is not None:
            stack.callback(ocr.close)
        workers.append(
            Worker(
                client,
                task_queue=OCR_TASK_QUEUE,
                activities=[ocr.review_document],
                max_concurrent_activities=max(settings.ocr_concurrency, 1),
                interceptors=[ReportFailures()],
            )
        )
    return workers


async def run_worker(settings: Settings, queue: Queue = Queue.ALL) -> None:
    if not settings.database_url:
        raise SystemExit("JIEYA_DATABASE_URL must be set for the worker")
    engine = create_engine(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10.0))
        client = await connect_temporal(settings)
        if queue in (Queue.ALL, Queue.CASES):
            # Schedules are not in the time-skipping test server, so not in build_workers.
            await ensure_archive_schedule(client)
            await ensure_reconcile_schedule(client)
        workers = build_workers(client, settings, session_factory(engine), http, queue, stack)
        for worker in workers:
            await stack.enter_async_context(worker)
        queues = ",".join(w.task_queue for w in workers)
        log.info("worker ready", queues=queues)
        # The dev-stack supervisor waits for this exact line.
        print(f"READY jieya-worker queues={queues}", flush=True)
        await stop.wait()
        log.info("worker stopping", queues=queues)
    # Workers and client are shut down inside the exit stack, before the
    # interpreter exits (sdk-python #300).
    sys.stdout.flush()
