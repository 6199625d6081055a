"""Temporal client factory: one converter and one address rule for every process."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from kernel.codec import data_converter
from kernel.settings import Settings

CASE_STATUS_ATTR = SearchAttributeKey.for_keyword("CaseStatus")
RISK_GRADE_ATTR = SearchAttributeKey.for_keyword("RiskGrade")


async def connect_temporal(settings: Settings) -> Client:
    return await Client.connect(
        settings.resolved_temporal_address,
        namespace=settings.temporal_namespace,
        # Every payload encrypted (kernel/codec.py) when keys are configured.
        data_converter=data_converter(settings.payload_keyring()),
        tls=settings.temporal_tls,
        api_key=settings.temporal_api_key,
    )
