"""Synthetic borrower documents with ground truth, deterministic by seed.

``render(doc_type, facts, seed)`` draws one of several layouts of a settlement
certificate, ID card front, vehicle registration certificate or driving
licence, optionally spoiled ("rotate", "photo", "seal", "all"), and returns the
image with the field values a perfect reader would report.  ``jieya dev``
uses it to make demo documents that agree with its demo loans; tests and the
benchmark use it to measure the reader.

Given a ``Variety`` (``simulators.corpus`` defines the tuning and held-back
ones) it draws from a wider world: three font families in regular, bold and
mono faces, letter-spacing, the layouts of ``doclayouts`` besides the classic
ones, headers, footers and watermarks, one or two seals, and the degradations
of ``docspoil`` (warp, shadow, lowres, heavy).  Without one it draws what it
always drew for a seed, in WenQuanYi Micro Hei.

    python -m simulators.docgen OUT_DIR --count 40 --seed 7
    python -m simulators.corpus OUT_DIR --split held-back --count 60
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PIL import Image

from models.enums import DocType
from simulators import docforms, doclayouts
from simulators.docdraw import SEAL_RED, Page, guilloche, stamp_seal
from simulators.docfacts import DocumentFacts, tamper
from simulators.docfonts import classic_face, faces
from simulators.docforms import Item, Style, amount_text, date_text, split_brand
from simulators.doclayouts import HELD_BACK_ONLY
from simulators.docspoil import ALL_DEGRADATIONS, DEGRADATIONS, spoil

A4 = (1240, 1754)  # 150 dpi


def _style(rng: random.Random, size: tuple[int, int] = (28, 34)) -> Style:
    return Style(
        size=rng.randint(*size),
        colon=rng.choice(("：", ":", "")),
        line_gap=rng.uniform(1.7, 2.2),
        spaced=rng.random() < 0.3,
    )


def _form(page: Page, items: list[Item], top: int, left: int, style: Style, layout: int) -> int:
    if layout == 0:
        return docforms.inline(page, items, top, left, style)
    if layout == 1:
        return docforms.pairs(page, items, top, left, style)
    if layout == 2:
        return docforms.grid(page, items, top, left, style, per_row=1 + (len(items) > 6))
    return docforms.stacked(page, items, top, left, style)


def _settlement(page: Page, f: DocumentFacts, rng: random.Random, layout: int) -> dict[str, str]:
    width = page.size[0]
    page.text((width // 2, 130), f.lender, 40, anchor="mm", key="lender")
    page.text((width // 2, 230), rng.choice(("结清证明", "贷款结清证明", "车辆贷款结清证明")),
              64, anchor="mm")  # fmt: skip
    pick = rng.choice
    # Label wording differs by lender; several of these are deliberately not in
    # the reader's label lists, so the benchmark measures its keyword guessing too.
    items = [
        Item(pick(("借款人", "借款人姓名", "客户姓名", "户名", "主贷人姓名")), f.name, "name"),
        Item(pick(("身份证号", "身份证号码", "证件号码", "客户证件号")), f.id_number, "id_number"),
        Item(
            pick(("合同编号", "借款合同编号", "贷款合同号", "合同号")), f.contract_no, "contract_no"
        ),
        Item(pick(("车牌号码", "车牌号", "号牌号码", "车牌")), f.plate_no, "plate_no"),
        Item(pick(("车架号", "车辆识别代号", "车架号(VIN)", "车辆车架号")), f.vin, "vin"),
        Item("品牌型号", f.brand_model),
        Item(pick(("贷款金额", "结清金额", "贷款本金")), amount_text(f.amount, rng), "amount"),
        Item(pick(("首次还款日", "放款日期")), date_text(f.register_date, rng)),
        Item(
            pick(("结清日期", "贷款结清日期", "结清时间")),
            date_text(f.settled_date, rng),
            "settled_date",
        ),  # fmt: skip
    ]
    rng.shuffle(items)
    style = _style(rng)
    if layout == 4:
        # Running text naming the borrower and dates, then the vehicle as a list.
        def prose(text: str) -> list[Item]:
            return [Item(ch, "") for ch in text]

        tokens = [
            *prose("兹证明借款人"), Item(f.name, "", "name"), *prose("(身份证号:"),
            Item(f.id_number, "", "id_number"), *prose(")在我司办理的汽车贷款(合同编号:"),
            Item(f.contract_no, "", "contract_no"), *prose(")已于"),
            Item(date_text(f.settled_date, rng), "", "settled_date"),
            *prose("全部结清,贷款本息已还清。"),
        ]  # fmt: skip
        y = docforms.paragraph(page, tokens, 340, 120, style)
        vehicle = [it for it in items if it.key in ("plate_no", "vin", "amount")]
        y = docforms.inline(page, vehicle, y + 30, 120, style)
    else:
        y = _form(page, items, 340, 120, style, layout)
    y = docforms.paragraph(page, [Item(ch, "") for ch in "特此证明。"], y + 40, 120, style)
    page.text((width - 120, y + 80), f.lender, style.size, anchor="ra")
    page.text((width - 120, y + 80 + 2 * style.size), date_text(f.settled_date, rng),
              style.size, anchor="ra")  # fmt: skip
    return {k: getattr(f, k) for k in
            ("name", "id_number", "contract_no", "plate_no", "vin", "settled_date", "amount",
             "lender")}  # fmt: skip


def _id_card(page: Page, f: DocumentFacts, rng: random.Random, layout: int) -> dict[str, str]:
    label_colour = (60, 100, 150)
    size = rng.randint(30, 34)
    left, top = 60 + rng.randint(-10, 10), 70 + rng.randint(-10, 10)
    gap = 4 * size
    pitch = round(size * 2.0)
    page.rect((4, 4, page.size[0] - 5, page.size[1] - 5), outline=(170, 180, 190), width=3)
    page.rect((880, 90, 1180, 460), outline=(190, 190, 195), fill=(225, 228, 232))  # photo
    page.text((left, top), "姓名", size - 4, label_colour)
    page.text((left + gap, top), f.name, size + 4, key="name")
    y = top + pitch
    page.text((left, y), "性别", size - 4, label_colour)
    page.text((left + gap, y), f.sex, size, key="sex")
    page.text((left + gap + 3 * size, y), "民族", size - 4, label_colour)
    page.text((left + gap + 6 * size, y), f.ethnicity, size, key="ethnicity")
    y += pitch
    born = date.fromisoformat(f.birth_date)
    page.text((left, y), "出生", size - 4, label_colour)
    page.text((left + gap, y), f"{born.year} 年 {born.month} 月 {born.day} 日", size,
              key="birth_date")  # fmt: skip
    y += pitch
    page.text((left, y), "住址", size - 4, label_colour)
    per_line = rng.choice((11, 12, 13))
    for i in range(0, len(f.address), per_line):
        page.text((left + gap, y), f.address[i : i + per_line], size, key="address")
        y += round(size * 1.45)
    page.text((left, 560), "公民身份号码", size - 4, label_colour)
    digits = f.id_number if layout != 1 else " ".join((f.id_number[:6], f.id_number[6:14],
                                                        f.id_number[14:]))  # fmt: skip
    page.text((left + 7 * size, 556), digits, size + 6, key="id_number")
    return {k: getattr(f, k) for k in
            ("name", "id_number", "sex", "birth_date", "address", "ethnicity")}  # fmt: skip


def _registration(page: Page, f: DocumentFacts, rng: random.Random, layout: int) -> dict[str, str]:
    width = page.size[0]
    page.text((width // 2, 120), "机动车登记证书", 60, anchor="mm")
    page.text((width - 120, 200), f"编号 {rng.randrange(10**11, 10**12)}", 26, anchor="ra")
    brand, model = split_brand(f.brand_model)
    numbered = layout in (2, 3)
    owner = (
        [Item("机动车所有人/身份证明名称/号码", f"{f.name}/居民身份证/{f.id_number}", "name")]
        if rng.random() < 0.6
        else [Item("机动车所有人", f.name, "name"), Item("身份证明名称/号码",
                                                        f"居民身份证/{f.id_number}", "id_number")]
    )  # fmt: skip
    items = [
        *owner,
        Item("登记机关", "市公安局交通警察支队车辆管理所"),
        Item("登记日期", date_text(f.register_date, rng), "register_date"),
        Item("机动车登记编号", f.plate_no, "plate_no"),
        Item("车辆类型", "小型轿车"),
        Item("车辆品牌", brand, "brand_model"),
        Item("车辆型号", model),
        Item("车辆识别代号/车架号", f.vin, "vin"),
        Item("发动机号", f.engine_no, "engine_no"),
        Item("使用性质", "非营运"),
    ]
    if numbered:
        items = [Item(f"{i}.{it.label}", it.value, it.key) for i, it in enumerate(items, 1)]
    style = _style(rng, (26, 30))
    if layout in (2, 3):
        y = docforms.grid(page, items, 260, 60, style, per_row=layout - 1)
    else:
        y = _form(page, items, 260, 100, style, layout % 2)
    page.text((100, y + 40), "抵押登记", 34)
    credit = "91" + f"{rng.randrange(10**6):06d}" + "MA" + f"{rng.randrange(10**8):08d}"
    mortgage = [
        Item("抵押权人姓名/名称", f.lender, "lender"),
        Item("身份证明名称/号码", f"统一社会信用代码/{credit}"),
        Item("抵押登记日期", date_text(f.register_date, rng)),
    ]
    if layout in (2, 3):
        docforms.grid(page, mortgage, y + 110, 60, style, per_row=1)
    else:
        docforms.inline(page, mortgage, y + 110, 100, style)
    return {k: getattr(f, k) for k in ("name", "id_number", "plate_no", "vin", "lender",
                                       "engine_no", "brand_model", "register_date")}  # fmt: skip


def _driving_license(
    page: Page, f: DocumentFacts, rng: random.Random, layout: int
) -> dict[str, str]:
    width = page.size[0]
    page.text((width // 2, 70), "中华人民共和国机动车行驶证", 48, anchor="mm")
    items = [
        Item("号牌号码", f.plate_no, "plate_no"),
        Item("车辆类型", "小型轿车"),
        Item("所有人", f.name, "name"),
        Item("使用性质", "非营运"),
        Item("住址", f.address, "address"),
        Item("品牌型号", f.brand_model, "brand_model"),
        Item("车辆识别代号", f.vin, "vin"),
        Item("发动机号码", f.engine_no, "engine_no"),
        Item("注册日期", date_text(f.register_date, rng), "register_date"),
        Item("发证日期", date_text(f.register_date, rng)),
    ]
    style = _style(rng, (26, 30))
    if layout == 1:
        docforms.pairs(page, [items[0], items[1], items[2], items[3]], 150, 60, style)
        docforms.inline(page, items[4:8], 150 + 2 * round(style.size * style.line_gap), 60, style)
        docforms.pairs(page, items[8:], 150 + 6 * round(style.size * style.line_gap), 60, style)
    else:
        _form(page, items, 150, 60, style, 0 if layout == 0 else layout)
    return {k: getattr(f, k) for k in ("name", "plate_no", "vin", "engine_no", "address",
                                       "brand_model", "register_date")}  # fmt: skip


_DOCUMENTS: dict[DocType, tuple[tuple[int, int], int, Callable]] = {
    DocType.SETTLEMENT_CERTIFICATE: (A4, 5, _settlement),
    DocType.ID_CARD: ((1284, 810), 2, _id_card),
    DocType.VEHICLE_REGISTRATION_CERTIFICATE: (A4, 4, _registration),
    DocType.DRIVING_LICENSE: ((1320, 900), 3, _driving_license),
}
_PAPER = {
    DocType.ID_CARD: (238, 242, 240),
    DocType.VEHICLE_REGISTRATION_CERTIFICATE: (246, 244, 232),
    DocType.DRIVING_LICENSE: (240, 243, 248),
}


@dataclass(frozen=True)
class Variety:
    """What a corpus varies beyond the classic documents (``render`` without a
    variety draws those, page for page as it always did)."""

    name: str
    families: tuple[tuple[str, float], ...]  # font family and its weight
    held_back_layouts: bool  # may draw the layouts kept for the held-back set
    tracking: float = 0.35  # chance a page is letter-spaced
    decorations: float = 0.7  # chance of headers, footers and watermarks


def layout_count(doc_type: DocType, variety: Variety | None = None) -> int:
    """Layouts of ``doc_type``: the classic ones, or all that ``variety`` draws."""
    return len(layouts(doc_type, variety))


def layouts(doc_type: DocType, variety: Variety | None = None) -> list[int]:
    classic = _DOCUMENTS[doc_type][1]
    if variety is None:
        return list(range(classic))
    new = doclayouts.LAYOUTS[doc_type]
    return [*range(classic), *(classic + i for i, draw in enumerate(new)
                               if variety.held_back_layouts or draw not in HELD_BACK_ONLY)]  # fmt: skip


def layout_name(doc_type: DocType, layout: int) -> str:
    classic = _DOCUMENTS[doc_type][1]
    return f"classic-{layout}" if layout < classic else doclayouts.LAYOUTS[doc_type][
        layout - classic].__name__  # fmt: skip


@dataclass(frozen=True)
class Rendered:
    image: Image.Image
    truth: dict[str, str]  # each field as a perfect reader returns it
    layout: int
    font: str  # the face's name, e.g. noto-serif-bold
    boxes: dict[str, tuple[int, int, int, int]]  # where each field's value was drawn


def render(
    doc_type: DocType,
    facts: DocumentFacts,
    seed: int,
    layout: int | None = None,
    degradation: str = "clean",
    variety: Variety | None = None,
) -> tuple[Image.Image, dict[str, str]]:
    """Draw one document; returns the image and the field values it shows."""
    drawn = draw_document(doc_type, facts, seed, layout, degradation, variety)
    return drawn.image, drawn.truth


def draw_document(
    doc_type: DocType,
    facts: DocumentFacts,
    seed: int,
    layout: int | None = None,
    degradation: str = "clean",
    variety: Variety | None = None,
) -> Rendered:
    """``render``, telling also which layout and face were drawn."""
    if degradation not in ALL_DEGRADATIONS:
        raise ValueError(f"degradation must be one of {', '.join(ALL_DEGRADATIONS)}")
    size, classic, draw = _DOCUMENTS[doc_type]
    paper = _PAPER.get(doc_type, (255, 255, 255))
    if variety is None:
        rng = random.Random(f"{doc_type}:{seed}")
        chosen = rng.randrange(classic) if layout is None else layout % classic
        page = Page(size, rng.choice([classic_face()]), paper)
    else:
        rng = random.Random(f"{doc_type}:{seed}:{variety.name}")
        allowed = layouts(doc_type, variety)
        chosen = rng.choice(allowed) if layout is None else layout
        if chosen not in allowed:
            raise ValueError(f"layout {layout} of {doc_type.value} is not in {variety.name}")
        family = rng.choices(*zip(*variety.families, strict=True))[0]
        tracking = rng.uniform(0.04, 0.18) if rng.random() < variety.tracking else 0.0
        page = Page(size, rng.choice(faces(family)), paper, tracking)
    if doc_type in _PAPER and rng.random() < 0.5:
        guilloche(page, rng)
    if chosen < classic:
        truth = draw(page, facts, rng, chosen)
    else:
        truth = doclayouts.LAYOUTS[doc_type][chosen - classic](page, facts, rng)
    if variety is not None and rng.random() < variety.decorations:
        doclayouts.decorate(page, doc_type, facts, rng)
    if degradation in ("seal", "all", "heavy") and page.value_boxes:
        # Over a value, as lenders' seals so often are; a varied page may get two.
        for _ in range(1 if variety is None else rng.choice((1, 1, 2))):
            target = rng.choice(sorted(page.value_boxes))
            x0, y0, x1, y1 = page.value_boxes[target]
            centre = (round((x0 + x1) / 2 + rng.uniform(-0.3, 0.3) * (x1 - x0)), (y0 + y1) // 2)
            colour = SEAL_RED if variety is None else (rng.randint(185, 235), rng.randint(20, 90),
                                                       rng.randint(30, 90))  # fmt: skip
            stamp_seal(page, centre, rng.randint(110, 150), facts.lender, colour)
    image = spoil(page.image, doc_type, degradation, rng)
    return Rendered(image, truth, chosen, page.face.name, dict(page.value_boxes))


_TAMPERABLE = {
    DocType.SETTLEMENT_CERTIFICATE: "id_number",
    DocType.ID_CARD: "id_number",
    DocType.VEHICLE_REGISTRATION_CERTIFICATE: "vin",
    DocType.DRIVING_LICENSE: "vin",
}


def _main() -> None:
    parser = argparse.ArgumentParser(description="Write synthetic documents and truth.json.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=40, help="documents in total")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--degradation", choices=(*DEGRADATIONS, "mixed", "cycle"), default="mixed",
        help="mixed: random per document; cycle: degradations in turn, across the types",
    )  # fmt: skip
    parser.add_argument("--tamper-every", type=int, default=0,
                        help="make every Nth document carry a wrong ID number or VIN")  # fmt: skip
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    truth: dict[str, dict] = {}
    doc_types = list(DocType)
    for i in range(args.count):
        doc_type = doc_types[i % len(doc_types)]
        if args.degradation == "mixed":
            degradation = rng.choice(DEGRADATIONS)
        elif args.degradation == "cycle":
            degradation = DEGRADATIONS[i % len(DEGRADATIONS)]
        else:
            degradation = args.degradation
        seed = rng.randrange(2**31)
        facts = DocumentFacts.random(random.Random(seed))
        tampered = None
        if args.tamper_every and (i + 1) % args.tamper_every == 0:
            tampered = _TAMPERABLE[doc_type]
            facts = tamper(facts, tampered, random.Random(seed))
        image, fields = render(doc_type, facts, seed, degradation=degradation)
        name = f"{i:03d}_{doc_type.value}_{degradation}{'_tampered' if tampered else ''}"
        # Photos and crooked scans come as JPEG; clean and stamped pages as PNG.
        if degradation in ("rotate", "photo", "all"):
            name += ".jpg"
            image.save(args.out_dir / name, quality=85)
        else:
            name += ".png"
            image.save(args.out_dir / name, optimize=True)
        truth[name] = {"doc_type": doc_type.value, "degradation": degradation,
                       "tampered": tampered, "fields": fields}  # fmt: skip
    (args.out_dir / "truth.json").write_text(
        json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.count} documents to {args.out_dir}")


if __name__ == "__main__":
    _main()
