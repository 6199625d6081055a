"""The synthetic document generator and the OCR corpus it makes: deterministic,
every layout and degradation draws, truth the reader can be held to, and a
held-back set that differs from the tuning set in ways nobody tuned for."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from activities.ocr.doctypes import LAYOUTS as FIELD_LAYOUTS
from models.enums import DocType
from models.identity import (
    check_id_number,
    check_plate,
    check_vin,
    normalize_amount,
    normalize_date,
)
from simulators import docfonts
from simulators.corpus import HELD_BACK, SPLITS, TUNING, document
from simulators.docfacts import _COMPOUND_SURNAMES, DocumentFacts
from simulators.docgen import draw_document, layout_count, layout_name, layouts, render
from simulators.doclayouts import HELD_BACK_ONLY
from simulators.docspoil import ALL_DEGRADATIONS, spoil


def _facts(seed: int) -> DocumentFacts:
    return DocumentFacts.random(random.Random(seed), varied=True)


def test_a_corpus_document_is_the_same_every_time():
    first, again = document("held-back", 5), document("held-back", 5)
    assert first.data == again.data
    assert first.truth == again.truth
    assert (first.layout, first.font, first.degradation) == (again.layout, again.font,
                                                              again.degradation)  # fmt: skip
    assert document("held-back", 9).data != first.data


def test_every_layout_of_each_type_draws_its_truth():
    """Each (type, layout), with truth that names the type's required fields and
    was drawn where the reader will look."""
    for doc_type in DocType:
        required = set(FIELD_LAYOUTS[doc_type].required)
        known = set(FIELD_LAYOUTS[doc_type].keys)
        # The registration certificate may print the ID number on the owner's line.
        shared = {"id_number"} if doc_type is DocType.VEHICLE_REGISTRATION_CERTIFICATE else set()
        for layout in layouts(doc_type, HELD_BACK):
            drawn = draw_document(doc_type, _facts(layout), layout, layout, "clean", HELD_BACK)
            where = f"{doc_type.value}/{layout_name(doc_type, layout)}"
            assert required <= set(drawn.truth) <= known, where
            assert all(drawn.truth.values()), where
            assert set(drawn.truth) - set(drawn.boxes) <= shared, where


@pytest.mark.parametrize("degradation", ALL_DEGRADATIONS)
def test_every_degradation_spoils_every_type(degradation):
    """Degradations act on the drawn page whatever its layout, so a small page
    of each type stands for all of them; seals go through a whole card."""
    for doc_type in DocType:
        page = Image.new("RGB", (480, 320), (250, 250, 250))
        ImageDraw.Draw(page).rectangle((40, 40, 300, 80), fill=(20, 20, 20))
        spoilt = spoil(page, doc_type, degradation, random.Random(7))
        assert spoilt.mode == "RGB" and spoilt.width >= 480 and spoilt.height >= 320
        if degradation not in ("clean", "seal"):  # seals are pressed while drawing
            assert spoilt.tobytes() != page.tobytes(), (doc_type, degradation)
    if degradation in ("seal", "heavy"):
        drawn = draw_document(DocType.ID_CARD, _facts(2), 2, 0, degradation, HELD_BACK)
        r, g, b = np.asarray(drawn.image.convert("RGB"), dtype=int).transpose(2, 0, 1)
        assert ((r > 150) & (g < 110) & (b < 110)).sum() > 500, "no red seal"


def test_truth_is_in_the_form_the_reader_returns():
    for index in range(4):
        doc = document("tuning", index)
        truth = doc.truth
        if "id_number" in truth:
            assert check_id_number(truth["id_number"]).valid
        if "vin" in truth:
            assert check_vin(truth["vin"]).check_digit_verified
        if "plate_no" in truth:
            assert check_plate(truth["plate_no"]).normalized == truth["plate_no"]
        for key in ("settled_date", "register_date", "birth_date"):
            if key in truth:
                assert normalize_date(truth[key]) == truth[key]
        if "amount" in truth:
            assert normalize_amount(truth["amount"]) == truth["amount"]
        if "engine_no" in truth:
            assert re.fullmatch(r"[A-Z0-9]+", truth["engine_no"])


def test_the_held_back_set_uses_a_family_and_layouts_the_tuning_set_never_draws():
    tuning_families = {family for family, _ in TUNING.families}
    held_back_families = {family for family, _ in HELD_BACK.families}
    assert held_back_families - tuning_families == {"noto-serif"}
    for doc_type in DocType:
        only_held_back = set(layouts(doc_type, HELD_BACK)) - set(layouts(doc_type, TUNING))
        assert only_held_back, doc_type
        assert {layout_name(doc_type, i) for i in only_held_back} <= {d.__name__ for d in
                                                                       HELD_BACK_ONLY}  # fmt: skip
    # Drawn pages agree: tuning documents never come out in the held-back family.
    for seed in range(12):
        drawn = draw_document(DocType.ID_CARD, _facts(seed), seed, variety=TUNING)
        assert not drawn.font.startswith("noto-serif")
    assert max(SPLITS["tuning"][1]) < min(SPLITS["held-back"][1]) == 1000


def test_a_classic_render_keeps_to_the_classic_face_and_layouts():
    """Without a variety, documents stay what tests and demo seeding always got."""
    facts = DocumentFacts.random(random.Random(3))
    for doc_type in DocType:
        drawn = draw_document(doc_type, facts, 3)
        assert drawn.layout < layout_count(doc_type) == len(layouts(doc_type))
        assert drawn.font == docfonts.classic_face().name
    image, truth = render(DocType.ID_CARD, facts, 3)
    again, same = render(DocType.ID_CARD, facts, 3)
    assert image.tobytes() == again.tobytes() and truth == same
    assert DocumentFacts.random(random.Random(3)) == facts


def test_varied_facts_reach_rare_names_engine_letters_and_provinces():
    many = [_facts(seed) for seed in range(300)]
    assert all(2 <= len(f.name) <= 4 for f in many)
    assert any(f.name[:2] in _COMPOUND_SURNAMES for f in many)
    assert any(re.search("[OIBS]", f.engine_no) for f in many)
    assert len({f.plate_no[0] for f in many}) >= 20
    assert all(check_plate(f.plate_no).valid and not re.search("[IO]", f.plate_no) for f in many)
    assert all(check_id_number(f.id_number).valid for f in many)
    assert all(check_vin(f.vin).check_digit_verified for f in many)


def test_a_missing_font_family_names_the_package(monkeypatch):
    wqy_only = tuple(f for f in docfonts.installed_faces() if f.family == "wqy-microhei")
    monkeypatch.setattr(docfonts, "installed_faces", lambda: wqy_only)
    with pytest.raises(docfonts.FontMissing, match="fonts-noto-cjk"):
        docfonts.faces("noto-serif")
    with pytest.raises(docfonts.FontMissing, match="is not installed"):
        for seed in range(20):  # half the held-back pages are in Noto Serif
            draw_document(DocType.ID_CARD, _facts(seed), seed, variety=HELD_BACK)
