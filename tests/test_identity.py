"""Identifier rules: GB 11643 ID numbers, ISO 3779 / GB 16735 VINs, GA 36 plates,
and the normalisers the OCR reader relies on."""

from __future__ import annotations

from datetime import date

import pytest

from models.identity import (
    check_id_number,
    check_plate,
    check_vin,
    fix_vin_chars,
    id_check_char,
    normalize_amount,
    normalize_date,
    normalize_text,
    vin_check_digit,
)

# --- text, dates, amounts --------------------------------------------------


def test_normalize_text_folds_full_width_and_colons():
    assert normalize_text("姓名：张三，（男）ＡＢＣ１２３") == "姓名:张三,(男)ABC123"
    assert normalize_text("车架号∶LSV\u3000 123") == "车架号:LSV 123"
    assert normalize_text("  合同编号﹕ HX-1 ") == "合同编号: HX-1"


@pytest.mark.parametrize(
    "text",
    ["2026年3月5日", "2026-03-05", "2026.3.5", "2026/03/05", "20260305", "2026 年 3 月 5 日",
     "２０２６年３月５日", "结清日期:2026-3-5"],
)  # fmt: skip
def test_normalize_date_variants(text):
    assert normalize_date(text) == "2026-03-05"


@pytest.mark.parametrize("text", ["2026-02-30", "2026年13月1日", "合同编号", "", "1850-01-01"])
def test_normalize_date_rejects_non_dates(text):
    assert normalize_date(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("¥12,345.60", "12345.60"),
        ("￥12,345.6", "12345.60"),
        ("12345.6元", "12345.60"),
        ("人民币 12,345.60 元", "12345.60"),
        ("RMB 300", "300.00"),
        ("壹万贰仟叁佰肆拾伍元陆角", "12345.60"),
        ("人民币壹拾万零伍佰元整", "100500.00"),
        ("壹亿贰仟万元整", "120000000.00"),
        ("叁仟元伍角捌分", "3000.58"),
    ],
)
def test_normalize_amount(text, expected):
    assert normalize_amount(text) == expected


@pytest.mark.parametrize("text", ["", "金额", "元整"])
def test_normalize_amount_unreadable(text):
    assert normalize_amount(text) is None


def test_fix_vin_chars_maps_letters_a_vin_cannot_hold():
    assert fix_vin_chars(" lsvag2i8-oq ") == "LSVAG218-00".replace("-", "")


# --- ID numbers --------------------------------------------------------------


def test_published_id_number_validates_with_sex_and_birth_date():
    result = check_id_number("11010519491231002X")
    assert result.valid and result.reason is None
    assert result.sex == "女"  # 17th digit 2 is even
    assert result.birth_date == "1949-12-31"


def test_lower_case_x_and_spaces_are_accepted():
    assert check_id_number("110105 19491231 002x").valid


def test_wrong_check_character_is_named():
    result = check_id_number("110105194912310021")
    assert not result.valid
    assert "check character" in result.reason and "X" in result.reason


def test_impossible_birth_date_is_rejected():
    first17 = "11010519491331002"  # month 13
    result = check_id_number(first17 + id_check_char(first17))
    assert not result.valid and "birth date" in result.reason


def test_future_birth_date_is_rejected():
    first17 = "11010520990101002"
    result = check_id_number(first17 + id_check_char(first17), today=date(2026, 1, 1))
    assert not result.valid and "implausible" in result.reason


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("1101051949123100", "16 characters"),
        ("110105491231002", "15-digit"),
        ("11010519491231A02X", "17 digits"),
        ("99010519491231002X", "region"),
    ],
)
def test_malformed_id_numbers(number, words):
    result = check_id_number(number)
    assert not result.valid and words in result.reason


def test_male_from_odd_17th_digit():
    first17 = "11010519800101001"
    assert check_id_number(first17 + id_check_char(first17)).sex == "男"


# --- VINs --------------------------------------------------------------------


def test_published_vin_validates():
    result = check_vin("1M8GDM9AXKP042788")
    assert result.valid and result.check_digit_verified


def test_chinese_vin_requires_the_check_digit():
    draft = "LSVAG2180N2100000"
    good = draft[:8] + vin_check_digit(draft) + draft[9:]
    assert check_vin(good).valid
    wrong = good[:8] + ("1" if good[8] != "1" else "2") + good[9:]
    result = check_vin(wrong)
    assert not result.valid and "check digit" in result.reason


def test_foreign_vin_with_wrong_check_digit_is_accepted_unverified():
    result = check_vin("WVWZZZ1JZXW000001")  # European VINs often carry no check digit
    assert result.valid and not result.check_digit_verified


@pytest.mark.parametrize(
    ("vin", "words"),
    [("LSVAG2180N210000", "16 characters"), ("LSVAG2I80N2100000", "I"),
     ("1M8GDM9AXKP04278O", "O"), ("LSVQG2180N2100000", "Q"), ("LSVAG2180N21000*0", "cannot")],
)  # fmt: skip
def test_malformed_vins(vin, words):
    result = check_vin(vin)
    assert not result.valid and words in result.reason


# --- plates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plate", "kind"),
    [
        ("京A12345", "ordinary"),
        ("京A·AB123", "ordinary"),
        ("沪b 8a88c", "ordinary"),
        ("川A1234挂", "ordinary"),
        ("粤BD12345", "new_energy"),  # small NEV: D at position 3
        ("粤BDA1234", "new_energy"),
        ("粤B12345D", "new_energy"),  # large NEV: D/F at the end
    ],
)
def test_valid_plates(plate, kind):
    result = check_plate(plate)
    assert result.valid, result.reason
    assert result.kind == kind


@pytest.mark.parametrize(
    ("plate", "words"),
    [
        ("京A1234", "6 characters"),
        ("京A1234567", "9 characters"),
        ("X京12345", "province"),
        ("京112345", "authority"),
        ("京AI2345", "I/O"),
        ("粤B1D2345", "D/F"),
        ("粤BF1A234", "D/F"),  # small NEV must end in four digits
    ],
)
def test_invalid_plates(plate, words):
    result = check_plate(plate)
    assert not result.valid and words in result.reason
