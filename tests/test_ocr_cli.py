"""`jieya ocr FILE... --json` as a real process (``python -m workers.cli``) on the
committed fixture documents: the DESIGN.md JSON shape, the required fields per
document type against truth.json, auto-classification, and exit code 2 with a
message on stderr for an unreadable file while the other files still print.

`test_extraction.py` calls `run_ocr_command` in-process; this is the entry point
an operator actually runs (typer wiring, exit codes, stdout/stderr split)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from activities.ocr.doctypes import LAYOUTS
from models.enums import DocType

pytestmark = [pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "documents"
TRUTH = json.loads((FIXTURES / "truth.json").read_text(encoding="utf-8"))
SHAPE = {"file", "doc_type", "fields", "needs_review", "issues", "ms"}


def fixture(doc_type: DocType, degradation: str) -> Path:
    name = next(
        n
        for n, e in TRUTH.items()
        if e["doc_type"] == doc_type.value and e["degradation"] == degradation
    )
    return FIXTURES / name


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIEYA_")}
    env["JIEYA_OCR_ENGINE"] = "rapidocr"
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "ocr", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def parse(stdout: str) -> dict[str, dict]:
    """stdout as one JSON object per line, by file name."""
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {Path(row["file"]).name: row for row in rows}


def assert_shape(result: dict) -> None:
    assert set(result) == SHAPE, result
    assert isinstance(result["needs_review"], bool)
    assert isinstance(result["issues"], list) and all(isinstance(i, str) for i in result["issues"])
    assert isinstance(result["ms"], int) and result["ms"] >= 0
    assert result["doc_type"] in {t.value for t in DocType}
    for key, field in result["fields"].items():
        assert set(field) == {"value", "confidence", "valid", "issue", "doubts"}, (key, field)
        assert field["value"] is None or isinstance(field["value"], str)
        assert isinstance(field["confidence"], (int, float)) and 0 <= field["confidence"] <= 1
        assert isinstance(field["valid"], bool)


def assert_required_match(result: dict, name: str) -> None:
    entry = TRUTH[name]
    for key in LAYOUTS[DocType(entry["doc_type"])].required:
        assert key in result["fields"], (name, key, result)
        assert result["fields"][key]["value"] == entry["fields"][key], (name, key, result)


def test_auto_classifies_one_of_each_type_and_unreadable_files_exit_2(tmp_path):
    good = [fixture(doc_type, "clean") for doc_type in DocType]
    notes = tmp_path / "notes.png"  # a text file wearing an image's name
    notes.write_text("not a document\n")
    cut = tmp_path / "cut.jpg"
    whole = (FIXTURES / "001_id_card_rotate.jpg").read_bytes()
    cut.write_bytes(whole[: len(whole) // 3])
    missing = tmp_path / "missing.png"

    done = run_cli(good[0], notes, good[1], cut, good[2], missing, good[3], "--json")

    assert done.returncode == 2, done.stderr
    printed = parse(done.stdout)
    assert set(printed) == {path.name for path in good}, done.stdout
    for path in good:
        result = printed[path.name]
        assert_shape(result)
        assert result["file"] == str(path)
        assert result["doc_type"] == TRUTH[path.name]["doc_type"]  # auto classified
        assert_required_match(result, path.name)
        assert result["needs_review"] is False, result["issues"]
        assert all(result["fields"][k]["valid"] for k in result["fields"]), result
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, done.stderr
    for bad in (notes, cut, missing):
        assert any(str(bad) in line and "cannot read" in line for line in errors), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("doc_type", "degradation"),
    [
        (DocType.SETTLEMENT_CERTIFICATE, "photo"),
        (DocType.ID_CARD, "rotate"),
        (DocType.VEHICLE_REGISTRATION_CERTIFICATE, "photo"),
        (DocType.DRIVING_LICENSE, "seal"),
    ],
)
def test_explicit_doc_type_reads_required_fields(doc_type, degradation):
    path = fixture(doc_type, degradation)
    done = run_cli(path, "--doc-type", doc_type.value, "--json")
    assert done.returncode == 0, done.stderr
    (result,) = parse(done.stdout).values()
    assert_shape(result)
    assert result["doc_type"] == doc_type.value
    assert_required_match(result, path.name)


def test_tampered_identifier_is_flagged_in_the_json():
    name, entry = next((n, e) for n, e in TRUTH.items() if e["tampered"])
    done = run_cli(FIXTURES / name, "--doc-type", entry["doc_type"], "--json")
    assert done.returncode == 0, done.stderr
    (result,) = parse(done.stdout).values()
    assert_shape(result)
    assert result["needs_review"] is True
    assert result["fields"][entry["tampered"]]["valid"] is False
    assert result["issues"], result


def test_unknown_doc_type_exits_2_with_the_choices():
    done = run_cli(fixture(DocType.ID_CARD, "clean"), "--doc-type", "passport", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "passport" in done.stderr and "id_card" in done.stderr
