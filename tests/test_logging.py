"""Every log line leaves the process with ID and phone numbers masked, and
activity lines carry the case they belong to."""

import io
import json
import logging

from temporalio import activity
from temporalio.testing import ActivityEnvironment

from kernel.logging import configure_logging, get_logger, mask_pii_text
from models.masking import masked


def _capture(fmt="json") -> io.StringIO:
    configure_logging("INFO", fmt)
    buffer = io.StringIO()
    logging.getLogger().handlers[0].stream = buffer
    return buffer


def test_mask_pii_text_masks_id_and_phone_but_not_other_numbers():
    text = "id 11010519491231002X phone 13812345678 amount 120000.00 case RC-1"
    assert (
        mask_pii_text(text) == "id 110105********002X phone 138****5678 amount 120000.00 case RC-1"
    )


def test_structlog_lines_are_masked_in_event_and_fields():
    buffer = _capture()
    get_logger("t").info(
        "borrower 11010519491231002X called",
        phone="13812345678",
        nested={"id": "11010519491231002X"},
    )
    line = json.loads(buffer.getvalue().strip().splitlines()[-1])
    assert "11010519491231002X" not in json.dumps(line) and "13812345678" not in json.dumps(line)
    assert line["phone"] == "138****5678"


async def test_activity_logs_carry_the_workflow_id_and_are_masked():
    buffer = _capture()

    @activity.defn
    async def noisy() -> None:
        activity.logger.info("sms to 13812345678 for 11010519491231002X")

    await ActivityEnvironment().run(noisy)
    line = json.loads(buffer.getvalue().strip().splitlines()[-1])
    assert line["activity_type"] and line["case_id"] == line["workflow_id"]
    assert "13812345678" not in line["event"] and "11010519491231002X" not in line["event"]


def test_log_lines_mask_as_the_views_do():
    """One masker: an OCR misreading of an ID number, which no digit pattern catches,
    is masked in a log line by its key, exactly as the case page masks it."""
    buffer = _capture()
    reading = {"id_number": {"value": "1101011990O307123X", "confidence": 0.8}}
    get_logger("t").info("ocr read", fields=reading)
    line = json.loads(buffer.getvalue().strip().splitlines()[-1])
    assert line["fields"] == masked(reading)
    assert line["fields"]["id_number"]["value"] == "110101********123X"
