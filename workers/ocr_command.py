"""``jieya ocr FILE...``: read documents through the same ``DocumentReader`` the
OCR activity uses, and print what it found.

JSON mode prints one object per file per line (DESIGN.md contract); the plain
mode prints a table for people.  Exit code 0, or 2 if any file could not be
read (its error goes to stderr; the other files are still printed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from activities.ocr.engine import OcrEngineUnavailable
from activities.ocr.extract import DocumentReading
from activities.ocr.images import DocumentError
from activities.ocr.reader import build_reader
from models.enums import DocType

# Local files are not uploads, but a stray video should not be read into memory.
MAX_FILE_BYTES = 50 * 1024 * 1024
EXIT_OK, EXIT_ENGINE, EXIT_UNREADABLE = 0, 1, 2


def reading_to_json(file: Path, reading: DocumentReading) -> dict:
    """The DESIGN.md shape of one file's result."""
    return {
        "file": str(file),
        "doc_type": reading.doc_type.value if reading.doc_type else None,
        "fields": {
            key: {
                "value": field.value,
                "confidence": field.confidence,
                "valid": field.valid,
                # Why a field was flagged: its issue and each doubt (a second
                # engine's reading, an unknown surname, a look-alike character).
                "issue": field.issue,
                "doubts": [doubt.model_dump() for doubt in field.doubts],
            }
            for key, field in reading.fields.items()
        },
        "needs_review": reading.needs_review,
        "issues": reading.issues,
        "ms": reading.ms,
    }


def _print_table(file: Path, reading: DocumentReading, out: TextIO) -> None:
    doc_type = reading.doc_type.value if reading.doc_type else "unknown"
    verdict = "NEEDS REVIEW" if reading.needs_review else "ok"
    print(f"{file}  [{doc_type}]  {verdict}  ({reading.ms} ms)", file=out)
    width = max((len(key) for key in reading.fields), default=0)
    for key, field in reading.fields.items():
        mark = "ok" if field.valid else "!!"
        value = field.value if field.value is not None else "-"
        print(f"  {key:<{width}}  {mark}  {field.confidence:4.2f}  {value}", file=out)
    for issue in reading.issues:
        print(f"  * {issue}", file=out)
    print(file=out)


def _parse_doc_type(doc_type: str) -> DocType | None:
    if doc_type == "auto":
        return None
    return DocType(doc_type)


def run_ocr_command(
    files: list[Path],
    doc_type: str = "auto",
    as_json: bool = True,
    engine_name: str | None = None,
    *,
    second_engine: str | None = None,
    model_dir: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Read each file and print its fields; returns the process exit code.

    Engines not given are the configured ones (``JIEYA_OCR_ENGINE``,
    ``JIEYA_OCR_SECOND_ENGINE``), as the OCR worker reads them."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        wanted = _parse_doc_type(doc_type)
    except ValueError:
        choices = ", ".join(["auto", *(t.value for t in DocType)])
        print(f"error: unknown document type {doc_type!r}; choose one of {choices}", file=err)
        return EXIT_UNREADABLE
    if engine_name is None or second_engine is None or model_dir is None:
        from kernel.settings import get_settings

        settings = get_settings()  # the CLI is an entry point: env is ours
        engine_name = engine_name or settings.ocr_engine
        second_engine = second_engine or settings.ocr_second_engine
        model_dir = model_dir or settings.paddle_model_dir
    try:
        reader = build_reader(engine_name, second_engine, model_dir)
    except OcrEngineUnavailable as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ENGINE

    code = EXIT_OK
    for file in files:
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                raise DocumentError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
            reading = reader.read(file.read_bytes(), wanted)
        except (OSError, DocumentError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"error: {file}: cannot read: {reason}", file=err)
            code = EXIT_UNREADABLE
            continue
        if as_json:
            print(json.dumps(reading_to_json(file, reading), ensure_ascii=False), file=out)
        else:
            _print_table(file, reading, out)
        out.flush()
    return code
