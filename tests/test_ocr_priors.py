"""Priors flag the implausible and never change a value."""

from __future__ import annotations

import io
import json
from pathlib import Path

from activities.ocr.engine import OcrLine
from activities.ocr.extract import DocumentReading, FieldReading, extract_fields
from activities.ocr.fields import valid_name
from activities.ocr.priors import (
    Surnames,
    confusable_doubts,
    field_doubts,
    name_doubts,
    parse_surnames,
    shorter_than_id,
    surnames,
)
from models.crosscheck import dropped_characters, shorter_names
from models.enums import DocType
from workers.ocr_command import reading_to_json


def test_known_surnames_single_and_compound_pass() -> None:
    table = surnames()
    assert {"王", "李", "张", "黎"} <= table.common | table.rare
    assert {"欧阳", "司马", "诸葛"} <= table.compound
    assert name_doubts("王小明") == []
    assert name_doubts("欧阳娜娜") == []
    assert name_doubts("诸葛亮") == []


def test_an_unknown_first_character_is_doubted_and_its_lookalike_named() -> None:
    (doubt,) = name_doubts("禁勇雨")
    assert doubt.kind == "unknown_surname"
    assert "'禁' is not a known surname" in doubt.detail
    assert doubt.alternative == "黎勇雨"


def test_a_surname_alone_is_doubted() -> None:
    assert [d.kind for d in name_doubts("王")] == ["surname_only"]
    assert [d.kind for d in name_doubts("欧阳")] == ["surname_only"]


def test_names_without_han_surname_are_left_alone() -> None:
    assert name_doubts("ZHANG SAN") == []
    assert name_doubts("阿依古丽·买买提") == []


def test_a_name_shorter_than_the_id_cards_is_a_doubt_on_the_shorter() -> None:
    assert dropped_characters("张丰", "张三丰")
    assert not dropped_characters("张三丰", "张三丰")
    assert not dropped_characters("李丰", "张三丰")
    doubt = shorter_than_id("张丰", "张三丰")
    assert doubt is not None and doubt.alternative == "张三丰"
    found = shorter_names(
        {
            DocType.ID_CARD: {"name": {"value": "张三丰"}},
            DocType.VEHICLE_REGISTRATION_CERTIFICATE: {"name": {"value": "张丰"}},
            DocType.SETTLEMENT_CERTIFICATE: {"name": {"value": "张三丰"}},
        }
    )
    assert list(found) == [DocType.VEHICLE_REGISTRATION_CERTIFICATE]
    assert found[DocType.VEHICLE_REGISTRATION_CERTIFICATE]["kind"] == "shorter_than_id"


def test_a_lookalike_read_unsure_is_doubted_only_where_the_field_allows_it() -> None:
    sure = [0.99] * 7
    assert confusable_doubts("plate_no", "京A88123", sure) == []
    unsure = [0.99, 0.99, 0.99, 0.6, 0.99, 0.99, 0.99]
    doubts = confusable_doubts("plate_no", "京A88123", unsure)
    assert [d.alternative for d in doubts] == ["京A8B123"]
    # A plate never holds O: an unsure 0 may be D or Q, never O.
    others = {d.alternative for d in confusable_doubts("plate_no", "京A80123", unsure)}
    assert "京A8O123" not in others and others <= {"京A8D123", "京A8Q123"}


def test_check_digit_fields_are_not_judged_by_lookalikes() -> None:
    scores = [0.5] * 18
    assert field_doubts("id_number", "11010519491231002X", scores) == []
    assert field_doubts("vin", "LSVAU2180N2183294", [0.5] * 17) == []


def test_priors_never_change_the_value_and_json_says_why() -> None:
    reading = DocumentReading(
        doc_type=DocType.ID_CARD,
        fields={
            "name": FieldReading(
                value="禁勇雨", confidence=0.97, valid=True, doubts=name_doubts("禁勇雨")
            )
        },
        needs_review=True,
        issues=["姓名 '禁勇雨': '禁' is not a known surname; please check it"],
    )
    shown = reading_to_json(Path("x.png"), reading)
    name = shown["fields"]["name"]
    assert name["value"] == "禁勇雨"
    assert name["doubts"][0]["kind"] == "unknown_surname"
    assert name["doubts"][0]["alternative"] == "黎勇雨"
    json.dump(shown, io.StringIO(), ensure_ascii=False)


def test_a_rare_surname_like_a_common_one_or_an_unsure_surname_is_doubted() -> None:
    (rare,) = name_doubts("干小明")
    assert rare.kind == "confusable" and rare.alternative == "于小明"
    # 邹 is common, but read at 0.55 it may be 郇 (or 郁): said, never changed.
    (unsure,) = name_doubts("邹晗磊", [0.55, 0.99, 0.99])
    assert unsure.kind == "confusable" and unsure.alternative in {"郇晗磊", "郁晗磊"}
    assert name_doubts("邹晗磊", [0.99, 0.99, 0.99]) == []


def test_a_one_character_name_is_invalid_with_a_reason_that_says_so() -> None:
    assert "surname without its given name" in (valid_name("张") or "")
    assert valid_name("张三") is None


def test_the_table_reads_its_sections_and_a_rare_surname_is_not_common() -> None:
    table = parse_surnames("# note\n[common]\n王 李\n[classic]\n王 干 # inline\n[compound]\n欧阳\n")
    assert table == Surnames(frozenset("王李"), frozenset("干"), frozenset({"欧阳"}))
    assert len(surnames().common | surnames().rare) >= 500


def test_engine_and_contract_lookalikes_follow_each_fields_shape() -> None:
    # An unsure 0 in an engine serial may be O, D or Q: serials mix in letters.
    value, scores = "G4FC19B00DY", [0.99] * 7 + [0.91] + [0.99] * 3
    assert {d.alternative for d in confusable_doubts("engine_no", value, scores)} == {
        "G4FC19BD0DY", "G4FC19BO0DY", "G4FC19BQ0DY",
    }  # fmt: skip
    # A contract number runs letters then digits: no O alone among digits.
    contract = "HX202312345678"
    unsure = [0.99] * 5 + [0.6] + [0.99] * 8
    assert confusable_doubts("contract_no", contract, unsure) == []
    # A plate's authority letter stays a letter: B there is never 8.
    assert (
        confusable_doubts("plate_no", "京B12345", [0.99, 0.5, 0.99, 0.99, 0.99, 0.99, 0.99]) == []
    )


def _line(text: str, y: float, weak: dict[str, float] | None = None) -> OcrLine:
    scores = tuple((weak or {}).get(ch, 0.99) for ch in text)
    box = [
        (100.0, y),
        (100.0 + 30 * len(text), y),
        (100.0 + 30 * len(text), y + 30),
        (100.0, y + 30),
    ]
    return OcrLine(text, sum(scores) / len(scores), box, scores)


def test_extraction_flags_a_doubted_value_and_keeps_it_as_read() -> None:
    lines = [
        _line("所有人：禁勇雨", 100),
        _line("号牌号码：京A88123", 160),
        _line("车辆识别代号：LSVAU2180N2183294", 220),
        _line("发动机号码：G4FC19B00DY", 280),
    ]
    reading = extract_fields(DocType.DRIVING_LICENSE, lines)
    name = reading.fields["name"]
    assert name.value == "禁勇雨" and name.valid
    assert [d.kind for d in name.doubts] == ["unknown_surname"]
    assert name.doubts[0].alternative == "黎勇雨"
    assert reading.fields["engine_no"].doubts == []  # every character read at 0.99
    assert reading.needs_review
    assert any("禁勇雨" in issue and "not a known surname" in issue for issue in reading.issues)

    # One unsure character where a look-alike reads as well: a doubt, same value.
    lines[3] = _line("发动机号码：G4FC19B00DY", 280, {"B": 0.8})
    engine = extract_fields(DocType.DRIVING_LICENSE, lines).fields["engine_no"]
    assert engine.value == "G4FC19B00DY"
    assert [d.alternative for d in engine.doubts] == ["G4FC19800DY"]
