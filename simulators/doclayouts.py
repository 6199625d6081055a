"""Layouts the extractor was not written against, and the unrelated print
around them.

Each ``draw`` function is one more arrangement of a document type: labels
above values, labels at a tab stop (flush right, spread to four characters),
tables whose header row holds the labels, values on ruled lines or one
character to a box, other label wordings and another order of fields.
``docgen`` numbers them after the classic layouts of each type; the last of
each type (``HELD_BACK_ONLY``) is drawn only in the held-back corpus.
``decorate`` adds headers, footers, a reference number and a watermark.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

from models.enums import DocType
from simulators import docdraw, docforms
from simulators.docdraw import Page
from simulators.docfacts import DocumentFacts
from simulators.docforms import Item, Style, amount_text, date_text, split_brand

Truth = dict[str, str]
_SETTLEMENT_KEYS = ("name", "id_number", "contract_no", "plate_no", "vin", "settled_date",
                    "amount", "lender")  # fmt: skip
_ID_KEYS = ("name", "id_number", "sex", "birth_date", "address", "ethnicity")
_REGISTRATION_KEYS = ("name", "id_number", "plate_no", "vin", "lender", "engine_no",
                      "brand_model", "register_date")  # fmt: skip
_LICENCE_KEYS = ("name", "plate_no", "vin", "engine_no", "address", "brand_model",
                 "register_date")  # fmt: skip


def _truth(f: DocumentFacts, keys: tuple[str, ...]) -> Truth:
    return {k: getattr(f, k) for k in keys}


def _style(rng: random.Random, size: tuple[int, int]) -> Style:
    return Style(
        size=rng.randint(*size),
        colon=rng.choice(("：", "：", ":", "")),
        line_gap=rng.uniform(1.6, 2.3),
        spaced=rng.random() < 0.3,
        justify=rng.random() < 0.4,
    )


# --- settlement certificate ------------------------------------------------


# Wordings of held-back documents only.
_OTHER_WORDINGS = {
    "name": ("客户名称", "借款人名称"),
    "id_number": ("证件号", "借款人证件号码"),
    "contract_no": ("借款合同号码",),
    "plate_no": ("抵押车辆号牌",),
    "vin": ("车辆识别号(VIN)",),
    "amount": ("借款金额(元)",),
    "settled_date": ("结清日",),
}


def _settlement_items(f: DocumentFacts, rng: random.Random, wordings: int) -> list[Item]:
    """The certificate's fields; ``wordings`` 1 adds labels no lender list had."""
    labels = {
        "name": ("借款人", "客户姓名", "户名"),
        "id_number": ("身份证号码", "证件号码"),
        "contract_no": ("合同编号", "贷款合同号"),
        "plate_no": ("车牌号码", "号牌号码"),
        "vin": ("车架号", "车辆识别代号"),
        "amount": ("贷款金额", "贷款本金"),
        "settled_date": ("结清日期", "贷款结清日期"),
    }
    if wordings:
        for key, more in _OTHER_WORDINGS.items():
            labels[key] += more
    values = {
        "name": f.name, "id_number": f.id_number, "contract_no": f.contract_no,
        "plate_no": f.plate_no, "vin": f.vin, "amount": amount_text(f.amount, rng),
        "settled_date": date_text(f.settled_date, rng),
    }  # fmt: skip
    items = [Item(rng.choice(labels[key]), values[key], key) for key in values]
    return [
        *items,
        Item("放款日期", date_text(f.register_date, rng)),
        Item("车辆品牌", f.brand_model),
    ]


def _letterhead(page: Page, f: DocumentFacts, rng: random.Random, title: str) -> int:
    width = page.size[0]
    page.text((120, 110), f.lender, 36, key="lender")
    page.line((120, 170), (width - 120, 170), fill=(150, 30, 30), width=3)
    page.text((width - 120, 190), f"编号：JQ{rng.randrange(10**9, 10**10)}", 24, anchor="ra")
    page.text((width // 2, 280), title, 58, anchor="mm")
    return 380


def _closing(page: Page, f: DocumentFacts, rng: random.Random, y: int, size: int) -> None:
    width = page.size[0]
    page.text((120, y + 30), "特此证明。", size)
    page.text((width - 120, y + 130), f"{f.lender}(盖章)", size, anchor="ra")
    page.text((width - 120, y + 130 + 2 * size), date_text(f.settled_date, rng), size, anchor="ra")


def settlement_tabbed(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """Letterhead, labels flush right at a tab stop, a reference number."""
    y = _letterhead(page, f, rng, rng.choice(("结清证明", "贷款结清证明书")))
    style = _style(rng, (26, 34))
    items = _settlement_items(f, rng, 0)
    rng.shuffle(items)
    y = docforms.aligned(page, items, y, 140, style, right_labels=rng.random() < 0.6)
    _closing(page, f, rng, y, style.size)
    return _truth(f, _SETTLEMENT_KEYS)


def settlement_table(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """A sentence, then the fields in a table whose header row holds the labels."""
    y = _letterhead(page, f, rng, "汽车贷款结清证明")
    style = _style(rng, (24, 30))
    intro = "经核实，下列借款人在我司办理的汽车贷款已全部结清，特此证明。"
    y = docforms.paragraph(page, [Item(ch, "") for ch in intro], y, 120, style)
    items = _settlement_items(f, rng, 0)[:7]
    y = docforms.header_table(page, items, y + 20, 100, style, per_band=rng.choice((2, 3)))
    _closing(page, f, rng, y, style.size)
    return _truth(f, _SETTLEMENT_KEYS)


def settlement_ruled(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """A form filled in: labels above values on ruled lines, two columns."""
    y = _letterhead(page, f, rng, "个人汽车贷款结清确认书")
    style = _style(rng, (28, 34))
    items = _settlement_items(f, rng, 0)
    rng.shuffle(items)
    y = docforms.ruled(page, items, y, 120, style, columns=2)
    _closing(page, f, rng, y, style.size)
    return _truth(f, _SETTLEMENT_KEYS)


def settlement_letter(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """Held back: a letter to the vehicle office in other words, the ID number
    one digit to a box, the vehicle in a two-column grid."""
    y = _letterhead(page, f, rng, "贷款结清及解除抵押证明")
    style = _style(rng, (26, 32))
    y = docforms.paragraph(page, [Item(ch, "") for ch in "致：车辆管理所"], y, 120, style, False)
    tokens = [
        *[Item(ch, "") for ch in "客户"], Item(f.name, "", "name"),
        *[Item(ch, "") for ch in "与我行签订的个人汽车消费贷款合同(合同号"],
        Item(f.contract_no, "", "contract_no"),
        *[Item(ch, "") for ch in ")项下贷款本息已于"],
        Item(date_text(f.settled_date, rng), "", "settled_date"),
        *[Item(ch, "") for ch in "全部还清，请协助办理抵押车辆的解除抵押登记手续。"],
    ]  # fmt: skip
    y = docforms.paragraph(page, tokens, y + 10, 120, style)
    label = rng.choice(("借款人证件号码", "证件号码"))
    docforms.comb(page, Item(label, f.id_number, "id_number"), 120, y + 20, style)
    items = [it for it in _settlement_items(f, rng, 1) if it.key in ("plate_no", "vin", "amount")]
    items.append(Item("车辆品牌型号", f.brand_model))
    y = docforms.grid(page, items, y + 40 + 2 * style.size, 100, style, per_row=2)
    _closing(page, f, rng, y, style.size)
    return _truth(f, _SETTLEMENT_KEYS)


# --- ID card front ----------------------------------------------------------


def _id_front(
    page: Page, f: DocumentFacts, rng: random.Random, origin: tuple[int, int], scale: float,
    *, spaced_date: bool, label_colour: tuple[int, int, int],
) -> None:  # fmt: skip
    ox, oy = origin
    size = round(rng.randint(28, 34) * scale)
    left, top = ox + round(60 * scale), oy + round(70 * scale)
    gap = round(rng.uniform(3.4, 4.4) * size)
    pitch = round(size * rng.uniform(1.8, 2.2))
    width, height = round(1284 * scale), round(810 * scale)
    page.rect((ox, oy, ox + width, oy + height), outline=(170, 180, 190), width=3)
    photo = (ox + round(880 * scale), oy + round(90 * scale), ox + round(1180 * scale),
             oy + round(460 * scale))  # fmt: skip
    page.rect(photo, outline=(190, 190, 195), fill=(225, 228, 232))
    page.text((left, top), "姓名", size - 4, label_colour)
    page.text((left + gap, top), f.name, size + 4, key="name")
    y = top + pitch
    page.text((left, y), "性别", size - 4, label_colour)
    page.text((left + gap, y), f.sex, size, key="sex")
    page.text((left + gap + 3 * size, y), "民族", size - 4, label_colour)
    page.text((left + gap + 6 * size, y), f.ethnicity, size, key="ethnicity")
    y += pitch
    born = date.fromisoformat(f.birth_date)
    birth = (f"{born.year} 年 {born.month} 月 {born.day} 日" if spaced_date
             else f"{born.year}年{born.month}月{born.day}日")  # fmt: skip
    page.text((left, y), "出生", size - 4, label_colour)
    page.text((left + gap, y), birth, size, key="birth_date")
    y += pitch
    page.text((left, y), "住址", size - 4, label_colour)
    room = photo[0] - (left + gap) - size
    per_line = max(6, min(len(f.address), room // (size + 1)))
    for i in range(0, len(f.address), per_line):
        page.text((left + gap, y), f.address[i : i + per_line], size, key="address")
        y += round(size * 1.45)
    number_y = oy + round(556 * scale)
    page.text((left, number_y + 4), "公民身份号码", size - 4, label_colour)
    page.text((left + 7 * size, number_y), f.id_number, size + 6, key="id_number")


def id_card_plain(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """The card with grey labels, the date unspaced and addresses wrapped wider."""
    _id_front(page, f, rng, (0, 0), 1.0, spaced_date=False, label_colour=(95, 95, 95))
    return _truth(f, _ID_KEYS)


def id_card_copy(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """Held back: a photocopy of a smaller card on a sheet, with the usual
    'for this purpose only' written across it."""
    scale = rng.uniform(0.72, 0.85)
    origin = (rng.randint(20, 1284 - round(1284 * scale) - 20),
              rng.randint(20, 810 - round(810 * scale) - 20))  # fmt: skip
    _id_front(page, f, rng, origin, scale, spaced_date=rng.random() < 0.5,
              label_colour=(60, 60, 60))  # fmt: skip
    docdraw.watermark(page, rng, "仅供办理车辆解押使用", strength=0.55)
    return _truth(f, _ID_KEYS)


# --- vehicle registration certificate ---------------------------------------


def _registration_items(f: DocumentFacts, rng: random.Random) -> list[Item]:
    brand, model = split_brand(f.brand_model)
    return [
        Item("机动车所有人", f.name, "name"),
        Item("身份证明名称/号码", f"居民身份证/{f.id_number}", "id_number"),
        Item("登记机关", "市公安局交通警察支队车辆管理所"),
        Item("登记日期", date_text(f.register_date, rng), "register_date"),
        Item("机动车登记编号", f.plate_no, "plate_no"),
        Item("车辆类型", "小型轿车"),
        Item("车辆品牌", brand, "brand_model"),
        Item("车辆型号", model),
        Item("车辆识别代号/车架号", f.vin, "vin"),
        Item("发动机号", f.engine_no, "engine_no"),
    ]


def _registration_head(page: Page, rng: random.Random) -> None:
    width = page.size[0]
    page.text((width // 2, 120), "机动车登记证书", 60, anchor="mm")
    page.text((width - 120, 200), f"编号 {rng.randrange(10**11, 10**12)}", 26, anchor="ra")
    page.text((120, 200), "注册登记摘要信息栏", 28)


def _mortgage_items(f: DocumentFacts, rng: random.Random) -> list[Item]:
    credit = "91" + f"{rng.randrange(10**6):06d}" + "MA" + f"{rng.randrange(10**8):08d}"
    return [
        Item("抵押权人姓名/名称", f.lender, "lender"),
        Item("身份证明名称/号码", f"统一社会信用代码/{credit}"),
        Item("抵押登记日期", date_text(f.register_date, rng)),
    ]


def registration_cells(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """Numbered cells with the label small at the top and the value beneath."""
    _registration_head(page, rng)
    style = _style(rng, (26, 32))
    items = [Item(f"{i}.{it.label}", it.value, it.key)
             for i, it in enumerate(_registration_items(f, rng), 1)]  # fmt: skip
    y = docforms.ruled(page, items, 260, 80, style, columns=2)
    page.text((80, y + 20), "抵押登记", 34)
    docforms.ruled(page, _mortgage_items(f, rng), y + 90, 80, style, columns=1)
    return _truth(f, _REGISTRATION_KEYS)


def registration_header_table(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """The mortgage first, then the vehicle in a table of header rows; another order."""
    _registration_head(page, rng)
    style = _style(rng, (24, 28))
    page.text((80, 260), "抵押登记", 32)
    y = docforms.header_table(page, _mortgage_items(f, rng), 320, 80, style, per_band=3)
    items = _registration_items(f, rng)
    rng.shuffle(items)
    docforms.header_table(page, items, y + 40, 80, style, per_band=2)
    return _truth(f, _REGISTRATION_KEYS)


def registration_tabbed(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """Held back: labels flush right at a tab stop and spread, owner and ID on
    one line, a ruled frame around the lot."""
    _registration_head(page, rng)
    style = _style(rng, (26, 30))
    items = _registration_items(f, rng)
    owner = Item("机动车所有人及身份证明", f"{f.name}  居民身份证  {f.id_number}", "name")
    items = [owner, *items[2:]]
    y = docforms.aligned(page, items, 290, 110, style, right_labels=True)
    page.rect((80, 260, page.size[0] - 80, y + 10), outline=(80, 80, 80), width=2)
    page.text((110, y + 50), "抵押登记信息", 32)
    docforms.aligned(page, _mortgage_items(f, rng), y + 120, 110, style, right_labels=True)
    return _truth(f, _REGISTRATION_KEYS)


# --- driving licence ----------------------------------------------------------


_LICENCE_ENGLISH = {
    "号牌号码": "Plate No.", "车辆类型": "Vehicle Type", "所有人": "Owner",
    "住址": "Address", "使用性质": "Use Character", "品牌型号": "Model",
    "车辆识别代号": "VIN", "发动机号码": "Engine No.", "注册日期": "Register Date",
    "发证日期": "Issue Date",
}  # fmt: skip


def _licence_items(f: DocumentFacts, rng: random.Random) -> list[Item]:
    return [
        Item("号牌号码", f.plate_no, "plate_no"),
        Item("车辆类型", "小型轿车"),
        Item("所有人", f.name, "name"),
        Item("住址", f.address, "address"),
        Item("使用性质", "非营运"),
        Item("品牌型号", f.brand_model, "brand_model"),
        Item("车辆识别代号", f.vin, "vin"),
        Item("发动机号码", f.engine_no, "engine_no"),
        Item("注册日期", date_text(f.register_date, rng), "register_date"),
        Item("发证日期", date_text(f.register_date, rng)),
    ]


def _licence_head(page: Page) -> None:
    page.rect((10, 10, page.size[0] - 11, page.size[1] - 11), outline=(120, 130, 150), width=2)
    page.text((page.size[0] // 2, 70), "中华人民共和国机动车行驶证", 48, anchor="mm")


def licence_tabbed(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """Labels spread to one width (所 有 人, 住　　址) at a tab stop."""
    _licence_head(page)
    style = Style(size=rng.randint(26, 30), colon=rng.choice(("", "：")), line_gap=1.75,
                  justify=True)  # fmt: skip
    docforms.aligned(page, _licence_items(f, rng), 140, 70, style)
    return _truth(f, _LICENCE_KEYS)


def licence_ruled(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """Labels above values, two columns, the order shuffled."""
    _licence_head(page)
    style = _style(rng, (24, 28))
    items = _licence_items(f, rng)
    rng.shuffle(items)
    docforms.ruled(page, items, 130, 60, style, columns=2)
    return _truth(f, _LICENCE_KEYS)


def licence_bilingual(page: Page, f: DocumentFacts, rng: random.Random) -> Truth:
    """Held back: as the real card prints them, each label with its English,
    in a ruled grid."""
    _licence_head(page)
    style = Style(size=rng.randint(24, 28), colon="", line_gap=1.9)
    items = [Item(f"{it.label} {_LICENCE_ENGLISH[it.label]}", it.value, it.key)
             for it in _licence_items(f, rng)]  # fmt: skip
    docforms.grid(page, items, 130, 40, style, per_row=2)
    return _truth(f, _LICENCE_KEYS)


Draw = Callable[[Page, DocumentFacts, random.Random], Truth]
LAYOUTS: dict[DocType, tuple[Draw, ...]] = {
    DocType.SETTLEMENT_CERTIFICATE: (
        settlement_tabbed,
        settlement_table,
        settlement_ruled,
        settlement_letter,
    ),  # fmt: skip
    DocType.ID_CARD: (id_card_plain, id_card_copy),
    DocType.VEHICLE_REGISTRATION_CERTIFICATE: (
        registration_cells,
        registration_header_table,
        registration_tabbed,
    ),  # fmt: skip
    DocType.DRIVING_LICENSE: (licence_tabbed, licence_ruled, licence_bilingual),
}
HELD_BACK_ONLY = {settlement_letter, id_card_copy, registration_tabbed, licence_bilingual}


# --- print that is not a field ----------------------------------------------


_WATERMARKS = ("仅供办理抵押注销使用", "复印无效", "本证明仅限办理解押手续使用", "COPY")


def decorate(page: Page, doc_type: DocType, f: DocumentFacts, rng: random.Random) -> None:
    """Headers, footers and watermarks a real page carries beside its fields."""
    width, height = page.size
    grey = (110, 110, 110)
    if doc_type in (DocType.SETTLEMENT_CERTIFICATE, DocType.VEHICLE_REGISTRATION_CERTIFICATE):
        if rng.random() < 0.6:
            stamp = f"打印时间：2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} " \
                    f"{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"  # fmt: skip
            page.text((60, 36), stamp, 20, grey)
            page.text((width - 60, 36), f"业务流水号 {rng.randrange(10**15, 10**16)}", 20, grey,
                      anchor="ra")  # fmt: skip
        if rng.random() < 0.7:
            page.line((60, height - 110), (width - 60, height - 110), fill=grey, width=1)
            hotline = rng.choice(("95511", "95588", "95555", "400-820-8888"))
            page.text(
                (60, height - 95), f"客服热线：{hotline}    本证明一式两份，复印无效", 20, grey
            )
            page.text((width - 60, height - 60), "第 1 页 / 共 1 页", 20, grey, anchor="ra")
    elif rng.random() < 0.5:
        page.text((width - 40, height - 40), f"档案编号 {rng.randrange(10**11, 10**12)}", 18,
                  grey, anchor="rs")  # fmt: skip
    if rng.random() < 0.35:
        docdraw.watermark(page, rng, rng.choice(_WATERMARKS), strength=rng.uniform(0.25, 0.45))
