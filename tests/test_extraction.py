"""Reading documents: extraction on hand-built OCR lines (every layout the
extractor must survive), and the real RapidOCR reader on the committed
synthetic documents in tests/fixtures/documents (made once with
``python -m simulators.docgen … --degradation cycle --tamper-every 7``)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from PIL import Image

from activities.ocr.engine import OcrLine, RapidOcrEngine
from activities.ocr.extract import CONFIDENCE_FLOOR, classify, extract_fields
from activities.ocr.layout import scored_text
from activities.ocr.reader import DocumentReader
from models.enums import DocType
from models.identity import vin_check_digit
from workers.ocr_command import run_ocr_command

FIXTURES = Path(__file__).parent / "fixtures" / "documents"
TRUTH = json.loads((FIXTURES / "truth.json").read_text(encoding="utf-8"))

ID = "11010519491231002X"
VIN = "1M8GDM9AXKP042788"
_DRAFT = "LSVAG2180N2100000"
CN_VIN = _DRAFT[:8] + vin_check_digit(_DRAFT) + _DRAFT[9:]


def line(text: str, x: float, y: float, *, h: float = 30, conf: float = 0.99, w=None):
    """An OCR line box at (x, y); CJK characters one height wide, others half."""
    width = w or sum(h if ord(c) > 0x2E80 else h * 0.55 for c in text)
    return OcrLine(text, conf, [(x, y), (x + width, y), (x + width, y + h), (x, y + h)])


def rotated(lines: list[OcrLine], degrees: float) -> list[OcrLine]:
    a = math.radians(degrees)

    def spin(point):
        x, y = point
        return (x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a))

    return [OcrLine(ln.text, ln.confidence, [spin(p) for p in ln.box]) for ln in lines]


def values(reading) -> dict[str, str | None]:
    return {key: field.value for key, field in reading.fields.items()}


SETTLEMENT_EXPECTED = {
    "name": "张三",
    "id_number": ID,
    "contract_no": "HX202312345678",
    "plate_no": "京AD12345",
    "vin": CN_VIN,
    "settled_date": "2025-03-05",
}


def test_inline_full_width_colons():
    lines = [
        line("结清证明", 400, 40, h=60),
        line("借款人：张三", 100, 200),
        line(f"身份证号：{ID.lower()}", 100, 260),
        line("合同编号：HX202312345678", 100, 320),
        line("车牌号码：京A·D12345", 100, 380),
        line(f"车架号：{CN_VIN}", 100, 440),
        line("结清日期：2025年3月5日", 100, 500),
        line("贷款金额：¥123,456.70", 100, 560),
    ]
    reading = extract_fields(DocType.SETTLEMENT_CERTIFICATE, lines)
    assert values(reading) == SETTLEMENT_EXPECTED | {"amount": "123456.70"}
    assert not reading.needs_review and reading.issues == []


def test_label_and_value_in_separate_boxes_without_colons():
    lines = [
        line("借款人姓名", 100, 200), line("张三", 400, 202),
        line("身份证号码", 100, 260), line(ID, 400, 258),
        line("借款合同编号", 100, 320), line("HX202312345678", 400, 321),
        line("号牌号码", 100, 380), line("京AD12345", 400, 379),
        line("车辆识别代号", 100, 440), line(CN_VIN, 400, 441),
        line("贷款结清日期", 100, 500), line("2025/03/05", 400, 500),
    ]  # fmt: skip
    assert values(extract_fields(DocType.SETTLEMENT_CERTIFICATE, lines)) == SETTLEMENT_EXPECTED


def test_label_above_value_in_two_columns():
    lines = [
        line("借款人", 100, 200, h=24), line("身份证号", 700, 200, h=24),
        line("张三", 100, 234), line(ID, 700, 234),
        line("合同编号", 100, 300, h=24), line("车牌号", 700, 300, h=24),
        line("HX202312345678", 100, 334), line("京AD12345", 700, 334),
        line("车架号", 100, 400, h=24), line("结清日期", 700, 400, h=24),
        line(CN_VIN, 100, 434), line("2025.3.5", 700, 434),
    ]  # fmt: skip
    assert values(extract_fields(DocType.SETTLEMENT_CERTIFICATE, lines)) == SETTLEMENT_EXPECTED


def test_an_unknown_label_beside_an_empty_label_is_not_its_value():
    # 首次还款日 is in no vocabulary; ending in a colon, it is a label all the
    # same, so 借款人's value is the name below it, not the label to its right.
    lines = [
        line("借款人：", 100, 200, h=24), line("首次还款日：", 700, 200, h=24),
        line("张三", 100, 234), line("2018年3月20日", 700, 234),
        line("身份证号：", 100, 300, h=24), line("合同编号：", 700, 300, h=24),
        line(ID, 100, 334), line("HX202312345678", 700, 334),
    ]  # fmt: skip
    got = values(extract_fields(DocType.SETTLEMENT_CERTIFICATE, lines))
    assert (got["name"], got["id_number"], got["contract_no"]) == ("张三", ID, "HX202312345678")


def test_the_nearest_valid_value_on_a_row_is_the_labels():
    # No colons, and an unknown label (首次还款日) between: the settlement date is
    # the date next to its label (with a seal's 月 glued on), not the farther one.
    lines = [
        line("贷款结清日期", 128, 354), line("月2023-10-21", 269, 353),
        line("首次还款日", 626, 353), line("2020.2.10", 793, 354),
        line("借款人姓名", 127, 415), line("郝晨敏", 291, 412),
    ]  # fmt: skip
    got = values(extract_fields(DocType.SETTLEMENT_CERTIFICATE, lines))
    assert got["settled_date"] == "2023-10-21" and got["name"] == "郝晨敏"


def _scored(text: str, x: float, y: float, weak: dict[str, float] | None = None) -> OcrLine:
    """A line whose characters score 0.99 except those named in ``weak``."""
    base = line(text, x, y)
    scores = tuple((weak or {}).get(ch, 0.99) for ch in text)
    return OcrLine(text, sum(scores) / len(scores), base.box, scores)


def test_one_weak_character_in_a_value_sends_the_document_to_review():
    # The line's mean (0.93) passes the confidence floor; the misread 途 (0.29)
    # is what review has to catch.
    settled = [
        _scored(f"身份证号：{ID}", 100, 260),
        _scored("合同编号：HX202312345678", 100, 320),
        _scored("车牌号码：京AD12345", 100, 380),
        _scored(f"车架号：{CN_VIN}", 100, 440),
        _scored("结清日期：2025-03-05", 100, 500),
    ]
    weak = extract_fields(
        DocType.SETTLEMENT_CERTIFICATE, [_scored("借款人：江途", 100, 200, {"途": 0.29}), *settled]
    )
    assert weak.fields["name"].value == "江途"
    assert weak.fields["name"].confidence > CONFIDENCE_FLOOR
    assert weak.fields["name"].weakest_char == 0.29
    assert weak.needs_review
    assert any("借款人" in issue or "low confidence (0.29)" in issue for issue in weak.issues)

    # A weak character in the label, not the value, is no reason for doubt.
    sure = extract_fields(
        DocType.SETTLEMENT_CERTIFICATE, [_scored("借款人：江远", 100, 200, {"款": 0.3}), *settled]
    )
    assert sure.fields["name"].value == "江远" and sure.fields["name"].weakest_char == 0.99
    assert not sure.needs_review, sure.issues


def test_character_scores_follow_their_characters_through_normalisation():
    scores = (0.9, 0.8, 0.2, 0.6, 0.5, 0.95, 0.4)  # the two spaces collapse into one
    text, folded = scored_text(OcrLine("车牌：\u3000 京Ａ", 0.7, [], scores))
    assert text == "车牌: 京A"
    assert folded == [0.9, 0.8, 0.2, 0.6, 0.95, 0.4]
    # Scores that do not line up with the text fall back to the line's score.
    assert scored_text(OcrLine("京A", 0.7, [], (0.1,))) == ("京A", [0.7, 0.7])


def test_two_fields_on_one_line_half_width_colons():
    lines = [
        line(f"借款人:张三  身份证号:{ID}", 100, 200),
        line("合同编号:HX202312345678  车牌号码:京AD12345", 100, 260),
        line(f"车架号(VIN):{CN_VIN}  结清日期:2025-03-05", 100, 320),
    ]
    assert values(extract_fields(DocType.SETTLEMENT_CERTIFICATE, lines)) == SETTLEMENT_EXPECTED


def test_split_layout_survives_three_degrees_of_rotation():
    lines = [
        line("借款人姓名", 100, 200), line("张三", 700, 202),
        line("身份证号码", 100, 260), line(ID, 700, 258),
        line("合同编号", 100, 320), line("HX202312345678", 700, 321),
        line("车牌号码", 100, 380), line("京AD12345", 700, 379),
        line("车架号", 100, 440), line(CN_VIN, 700, 441),
        line("结清日期", 100, 500), line("2025-03-05", 700, 500),
    ]  # fmt: skip
    for degrees in (-3, 3):
        reading = extract_fields(DocType.SETTLEMENT_CERTIFICATE, rotated(lines, degrees))
        assert values(reading) == SETTLEMENT_EXPECTED


def test_sentence_style_certificate_wrapping_over_lines():
    lines = [
        line("结清证明", 400, 40, h=60),
        line(f"兹证明借款人张三(身份证号:{ID})在我司办理的", 100, 200),
        line("汽车贷款(合同编号:HX202312345678)已于2025年3月5日全部结", 100, 260),
        line("清。车牌号码:京AD12345", 100, 320),
        line(f"车辆识别代号:{CN_VIN}", 100, 380),
    ]
    assert values(extract_fields(DocType.SETTLEMENT_CERTIFICATE, lines)) == SETTLEMENT_EXPECTED


def test_name_in_running_text_loses_honorific_and_particle():
    for sentence in ("兹证明借款人张三先生,其汽车贷款已结清", "借款人张三于2025年3月5日结清"):
        reading = extract_fields(DocType.SETTLEMENT_CERTIFICATE, [line(sentence, 100, 200)])
        assert reading.fields["name"].value == "张三", sentence


def test_wrong_check_character_needs_review_and_says_why():
    lines = [
        line(f"借款人:张三 身份证号:{ID[:17]}1", 100, 200),
        line("合同编号:HX202312345678 车牌号码:京AD12345", 100, 260),
        line(f"车架号:{CN_VIN} 结清日期:2025-03-05", 100, 320),
    ]
    reading = extract_fields(DocType.SETTLEMENT_CERTIFICATE, lines)
    assert reading.needs_review
    assert reading.fields["id_number"].valid is False
    assert any("ID number" in issue and "check character" in issue for issue in reading.issues)


def test_missing_and_poorly_read_fields_need_review():
    lines = [
        line("借款人:张三", 100, 200, conf=CONFIDENCE_FLOOR - 0.2),
        line(f"身份证号:{ID}", 100, 260),
        line(f"车架号:{CN_VIN}", 100, 320),
    ]
    reading = extract_fields(DocType.SETTLEMENT_CERTIFICATE, lines)
    assert reading.needs_review
    text = " | ".join(reading.issues)
    assert "contract number is missing" in text and "plate number is missing" in text
    assert "low confidence" in text
    assert reading.fields["contract_no"].value is None


def test_id_card_glued_labels_and_wrapped_address():
    lines = [
        line("姓名张三", 60, 60),
        line("性别女民族汉", 60, 120),
        line("出生 1949 年 12 月 31 日", 60, 180),
        line("住址 北京市朝阳区建设路12号", 60, 240),
        line("3栋2单元101室", 150, 280),
        line(f"公民身份号码 {ID}", 60, 500),
    ]
    reading = extract_fields(DocType.ID_CARD, lines)
    assert values(reading) == {
        "name": "张三", "id_number": ID, "sex": "女", "birth_date": "1949-12-31",
        "address": "北京市朝阳区建设路12号3栋2单元101室", "ethnicity": "汉",
    }  # fmt: skip
    assert not reading.needs_review


def test_id_card_sex_contradicting_the_number_is_flagged():
    lines = [line("姓名 张三", 60, 60), line("性别 男 民族 汉", 60, 120),
             line("出生 1949年12月31日", 60, 180), line(f"公民身份号码 {ID}", 60, 500)]  # fmt: skip
    reading = extract_fields(DocType.ID_CARD, lines)
    assert reading.needs_review
    assert not reading.fields["sex"].valid
    assert "女" in reading.fields["sex"].issue


def test_registration_certificate_compound_owner_and_mortgagee():
    lines = [
        line("机动车登记证书", 400, 40, h=60),
        line(f"1.机动车所有人/身份证明名称/号码 张三/居民身份证/{ID}", 80, 200),
        line("4.机动车登记编号 京A12345", 80, 260),
        line("6.车辆品牌 大众汽车牌", 80, 320), line("7.车辆型号 SVW7141ABC", 600, 320),
        line(f"9.车辆识别代号/车架号 {VIN}", 80, 380),
        line("抵押权人姓名/名称: 华夏汽车金融有限公司", 80, 600),
        line("身份证明名称/号码: 统一社会信用代码/91110000MA01234567", 80, 660),
    ]  # fmt: skip
    reading = extract_fields(DocType.VEHICLE_REGISTRATION_CERTIFICATE, lines)
    assert values(reading) == {
        "name": "张三", "id_number": ID, "plate_no": "京A12345", "vin": VIN,
        "lender": "华夏汽车金融有限公司", "brand_model": "大众汽车牌SVW7141ABC",
    }  # fmt: skip
    assert not reading.needs_review


def test_driving_license_pairs_on_one_row():
    lines = [
        line("中华人民共和国机动车行驶证", 300, 40, h=50),
        line("号牌号码 粤B12345D", 60, 150), line("车辆类型 小型轿车", 700, 150),
        line("所有人 张三", 60, 210),
        line("住址 广东省深圳市南山区科技路1号", 60, 270),
        line("品牌型号 比亚迪牌BYD7005BEV", 60, 330),
        line(f"车辆识别代号 {VIN}", 60, 390),
        line("发动机号码 TZ220XS1234567", 60, 450),
        line("注册日期 2020-05-06", 60, 510), line("发证日期 2020-05-08", 700, 510),
    ]  # fmt: skip
    reading = extract_fields(DocType.DRIVING_LICENSE, lines)
    assert values(reading) == {
        "name": "张三", "plate_no": "粤B12345D", "vin": VIN, "engine_no": "TZ220XS1234567",
        "address": "广东省深圳市南山区科技路1号", "brand_model": "比亚迪牌BYD7005BEV",
        "register_date": "2020-05-06",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["华夏汽车金融有限公司", "结清证明", "借款人:张三", "合同编号:HX1"],
         DocType.SETTLEMENT_CERTIFICATE),
        (["姓名 张三", "性别 男 民族 汉", "出生 1990年1月1日", f"公民身份号码 {ID}"],
         DocType.ID_CARD),
        (["机动车登记证书", "抵押登记", "抵押权人姓名/名称 华夏银行"],
         DocType.VEHICLE_REGISTRATION_CERTIFICATE),
        (["中华人民共和国机动车行驶证", "号牌号码 京A12345", "使用性质 非营运"],
         DocType.DRIVING_LICENSE),
        (["今天天气很好", "12345"], None),
    ],
)  # fmt: skip
def test_classify(texts, expected):
    lines = [line(text, 100, 50 + 60 * i) for i, text in enumerate(texts)]
    assert classify(lines) == expected


# --- the real reader on the committed documents -------------------------------


@pytest.fixture(scope="session")
def reader() -> DocumentReader:
    # Loading the ONNX models takes seconds; build the engine once per session.
    return DocumentReader(RapidOcrEngine())


@pytest.fixture(scope="session")
def fixture_readings(reader):
    return {
        name: reader.read((FIXTURES / name).read_bytes(), DocType(entry["doc_type"]))
        for name, entry in TRUTH.items()
    }


def test_fixture_set_is_small():
    assert sum(p.stat().st_size for p in FIXTURES.iterdir()) < 3 * 1024 * 1024


def test_the_real_engine_scores_every_character(reader):
    name = next(iter(TRUTH))
    lines, _pages = reader.ocr_lines((FIXTURES / name).read_bytes())
    assert lines
    for ocr_line in lines:
        assert len(ocr_line.char_scores) == len(ocr_line.text)
        mean = sum(ocr_line.char_scores) / len(ocr_line.char_scores)
        assert ocr_line.confidence == pytest.approx(mean)


def test_field_accuracy_floor_on_fixture_documents(fixture_readings):
    per_type: dict[str, list[int]] = {}
    for name, entry in TRUTH.items():
        reading = fixture_readings[name]
        for key, expected in entry["fields"].items():
            got = reading.fields.get(key)
            counts = per_type.setdefault(entry["doc_type"], [0, 0])
            counts[0] += bool(got and got.value == expected)
            counts[1] += 1
    right, total = (sum(c[i] for c in per_type.values()) for i in (0, 1))
    assert right / total >= 0.95, per_type
    for doc_type, (ok, n) in per_type.items():
        assert ok / n >= 0.85, (doc_type, ok, n)


def test_documents_with_wrong_identifiers_are_flagged(fixture_readings):
    tampered = {name: e["tampered"] for name, e in TRUTH.items() if e["tampered"]}
    assert tampered
    for name, key in tampered.items():
        reading = fixture_readings[name]
        assert reading.needs_review, name
        assert reading.fields[key].valid is False, (name, reading.fields[key])


def test_clean_documents_pass_without_review(fixture_readings):
    for name, entry in TRUTH.items():
        if entry["degradation"] == "clean" and not entry["tampered"]:
            assert not fixture_readings[name].needs_review, fixture_readings[name].issues


def test_auto_classification_of_fixture_documents(reader):
    names = [n for n in TRUTH if TRUTH[n]["degradation"] in ("clean", "photo")]
    for name in names:
        reading = reader.read((FIXTURES / name).read_bytes(), None)
        assert reading.doc_type == DocType(TRUTH[name]["doc_type"]), name
        assert reading.ms > 0


def test_pdf_pages_are_read_and_merged(reader):
    name = next(n for n, e in TRUTH.items()
                if e["doc_type"] == "settlement_certificate" and e["degradation"] == "clean")  # fmt: skip
    page = Image.open(FIXTURES / name).convert("RGB")
    blank = Image.new("RGB", page.size, "white")
    buffer = io.BytesIO()
    page.save(buffer, format="PDF", save_all=True, append_images=[blank], resolution=150)
    reading = reader.read(buffer.getvalue(), DocType.SETTLEMENT_CERTIFICATE)
    assert reading.pages == 2
    expected = TRUTH[name]["fields"]
    assert {k: reading.fields[k].value for k in expected} == expected


def test_a_declared_type_that_does_not_match_is_flagged(reader):
    name = next(n for n, e in TRUTH.items()
                if e["doc_type"] == "id_card" and e["degradation"] == "clean")  # fmt: skip
    reading = reader.read((FIXTURES / name).read_bytes(), DocType.SETTLEMENT_CERTIFICATE)
    assert reading.needs_review
    assert "looks like an ID card" in reading.issues[0]


def test_ocr_command_prints_the_contract_and_exit_code_2_for_unreadable(tmp_path, capsys):
    good = FIXTURES / next(n for n, e in TRUTH.items() if e["degradation"] == "clean")
    bad = tmp_path / "notes.txt"
    bad.write_text("not a document")
    code = run_ocr_command([good, bad, tmp_path / "missing.png"], "auto", True)
    captured = capsys.readouterr()
    assert code == 2
    outputs = [json.loads(row) for row in captured.out.splitlines()]
    assert len(outputs) == 1
    result = outputs[0]
    assert set(result) == {"file", "doc_type", "fields", "needs_review", "issues", "ms"}
    assert result["doc_type"] == TRUTH[good.name]["doc_type"]
    for field in result["fields"].values():
        assert set(field) == {"value", "confidence", "valid", "issue", "doubts"}
    assert "notes.txt" in captured.err and "missing.png" in captured.err


def test_ocr_command_table_mode(capsys):
    good = FIXTURES / next(n for n, e in TRUTH.items() if e["degradation"] == "clean")
    assert run_ocr_command([good], TRUTH[good.name]["doc_type"], as_json=False) == 0
    out = capsys.readouterr().out
    assert str(good) in out and TRUTH[good.name]["fields"]["name"] in out
