"""The facts a borrower's four documents state, and a generator of plausible
ones: ID numbers with the right check character, Chinese VINs with the right
check digit, plates in both GA 36 shapes.

``DocumentFacts.random(rng, **known)`` fills in whatever the caller does not
know, so demo seeding can pass a loan's name, ID, plate, VIN, contract and
lender and get documents that agree with the ledger.  ``varied=True`` draws
from a wider world for the OCR corpus: rare and compound surnames, names of two
to four characters, plates of every province, engine numbers whose letters look
like digits (O/0, I/1, B/8, S/5); without it a seed gives the facts it always did.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from pydantic import BaseModel, field_validator

from models.identity import (
    check_id_number,
    id_check_char,
    normalize_amount,
    normalize_date,
    vin_check_digit,
)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
# Rarer single surnames, several of them a stroke away from a common character.
_RARE_SURNAMES = (
    "缪褚禤佘靳郇逯亓隗厍昝仉甘辜阚巫蒯闵窦嵇邝冼晏滕麦喻詹聂宓娄栾邬籍冉訾"
    "卞於鄢莘蔺臧靖乜佟仝岑祁芮阮裘乐车牟晁凌荆"
)
_COMPOUND_SURNAMES = (
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 夏侯 令狐 长孙 宇文 司徒 端木 "
    "独孤 南宫 轩辕 呼延 闻人 西门 万俟 澹台 百里"
).split()
_RARE_GIVEN = (
    "昊晗钰彧翊妍婧雯珺炜烨骁喆韬嫣琰璟玥瑾琦睿泽煜铭皓逸辰瑶璐菲蕾薇茜彤婕曦沐宸"
    "奕珂莹颖一天千士川丹卫云力乙人八九"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志海波宁晨浩宇欣怡子"
    "涵梓轩雨婷佳琪俊杰思远嘉禾文博"
)
# Region codes with the address prefix they stand for (GB/T 2260).
_REGIONS = (
    ("110105", "北京市朝阳区", "京", "A"),
    ("110108", "北京市海淀区", "京", "N"),
    ("310115", "上海市浦东新区", "沪", "B"),
    ("440305", "广东省深圳市南山区", "粤", "B"),
    ("440106", "广东省广州市天河区", "粤", "A"),
    ("330106", "浙江省杭州市西湖区", "浙", "A"),
    ("320102", "江苏省南京市玄武区", "苏", "A"),
    ("510107", "四川省成都市武侯区", "川", "A"),
    ("420106", "湖北省武汉市武昌区", "鄂", "A"),
    ("370202", "山东省青岛市市南区", "鲁", "B"),
    ("610113", "陕西省西安市雁塔区", "陕", "A"),
    ("500103", "重庆市渝中区", "渝", "A"),
    ("120101", "天津市和平区", "津", "A"),
    ("350203", "福建省厦门市思明区", "闽", "D"),
)
_MORE_REGIONS = (
    ("130104", "河北省石家庄市桥西区", "冀", "A"),
    ("130602", "河北省保定市竞秀区", "冀", "F"),
    ("140105", "山西省太原市小店区", "晋", "A"),
    ("150102", "内蒙古自治区呼和浩特市新城区", "蒙", "A"),
    ("210102", "辽宁省沈阳市和平区", "辽", "A"),
    ("220102", "吉林省长春市南关区", "吉", "A"),
    ("230102", "黑龙江省哈尔滨市道里区", "黑", "A"),
    ("340104", "安徽省合肥市蜀山区", "皖", "A"),
    ("360102", "江西省南昌市东湖区", "赣", "A"),
    ("410105", "河南省郑州市金水区", "豫", "A"),
    ("411625", "河南省周口市郸城县", "豫", "P"),
    ("430104", "湖南省长沙市岳麓区", "湘", "A"),
    ("450103", "广西壮族自治区南宁市青秀区", "桂", "A"),
    ("460105", "海南省海口市秀英区", "琼", "A"),
    ("520102", "贵州省贵阳市南明区", "贵", "A"),
    ("530102", "云南省昆明市五华区", "云", "A"),
    ("540102", "西藏自治区拉萨市城关区", "藏", "A"),
    ("620102", "甘肃省兰州市城关区", "甘", "A"),
    ("630102", "青海省西宁市城东区", "青", "A"),
    ("640104", "宁夏回族自治区银川市兴庆区", "宁", "A"),
    ("650102", "新疆维吾尔自治区乌鲁木齐市天山区", "新", "A"),
    ("441900", "广东省东莞市", "粤", "S"),
    ("330212", "浙江省宁波市鄞州区", "浙", "B"),
    ("320583", "江苏省昆山市", "苏", "E"),
)
_VILLAGES = "李楼 王庄 张集 刘湾 陈岗 赵寨 孙店 周圩 吴营 郑桥".split()
# Engine model codes as stamped on blocks (the serial follows without a gap).
_ENGINE_CODES = (
    "4G15S", "G4FC", "EA211", "JL4G18", "B15D2", "E4T15B", "DK15", "1ZR", "K20C", "L2B",
    "BYD476ZQA", "HR16", "MR20", "EW10", "N20B20A", "B48B20A", "G4FG", "4A91", "LJ479Q",
    "CSS", "DLS", "CUF", "SQR477F", "H15T", "1.5T0", "JLH3G15",
)  # fmt: skip
_LOOKALIKE_LETTERS = "OIBSZDGQ"  # shapes OCR takes for 0 1 8 5 2 0 6 0
_STREETS = "人民 建设 解放 中山 和平 新华 长江 黄河 东风 朝阳 光明 幸福 文化 胜利 青年".split()
_ETHNICITIES = ("汉",) * 12 + ("回", "满", "蒙古", "壮", "维吾尔", "土家", "朝鲜")
_LENDERS = (
    "华夏汽车金融有限公司",
    "上汽通用汽车金融有限责任公司",
    "中国工商银行股份有限公司北京朝阳支行",
    "招商银行股份有限公司深圳分行",
    "平安银行股份有限公司汽车消费金融中心",
    "东风日产汽车金融有限公司",
    "比亚迪汽车金融有限公司",
    "长安汽车金融有限公司",
)
# (WMI, brand as printed, model prefixes)
_MAKERS = (
    ("LSV", "大众汽车牌", ("SVW7141", "SVW7182", "SVW6471")),
    ("LFV", "一汽大众牌", ("FV7151", "FV7201", "FV6462")),
    ("LHG", "广汽本田牌", ("GHA7150", "GHA7202")),
    ("LVG", "广汽丰田牌", ("GTM7200", "GTM6480")),
    ("LSG", "别克牌", ("SGM7158", "SGM6521")),
    ("LGX", "比亚迪牌", ("BYD7005", "BYD6470")),
    ("LBV", "宝马牌", ("BMW7200", "BMW6475")),
    ("LRW", "特斯拉牌", ("TSL7000",)),
    ("LGB", "东风日产牌", ("DFL7160", "DFL6460")),
)
_VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_YEAR_CODES = "HJKLMNPRS"  # 2017..2025
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_LETTER_OR_DIGIT = _PLATE_LETTERS + "0123456789"


def random_name(rng: random.Random, varied: bool = False) -> str:
    if not varied:
        given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return rng.choice(_SURNAMES) + given
    kind = rng.random()
    if kind < 0.12:
        surname = rng.choice(_COMPOUND_SURNAMES)
    else:
        surname = rng.choice(_RARE_SURNAMES if kind < 0.42 else _SURNAMES)
    # Two to four characters in all: 欧阳娜, 司马嘉禾, 王一, 李思远航.
    lengths = (1, 2) if len(surname) == 2 else (1, 2, 2, 2, 3)
    pool = _GIVEN + _RARE_GIVEN
    return surname + "".join(rng.choice(pool) for _ in range(rng.choice(lengths)))


def random_engine_no(rng: random.Random) -> str:
    """A model code and a serial that mixes in letters shaped like digits."""
    serial = []
    for _ in range(rng.randint(6, 8)):
        roll = rng.random()
        if roll < 0.22:
            serial.append(rng.choice(_LOOKALIKE_LETTERS))
        elif roll < 0.3:
            serial.append(rng.choice(_PLATE_LETTERS))
        else:
            serial.append(rng.choice("0123456789" + "0158"))
    return rng.choice(_ENGINE_CODES).replace(".", "") + "".join(serial)


def random_id_number(
    rng: random.Random, region: str | None = None, born: date | None = None, sex: str | None = None
) -> str:
    region = region or rng.choice(_REGIONS)[0]
    born = born or date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 42))
    sex = sex or rng.choice("男女")
    parity = rng.choice("13579" if sex == "男" else "02468")
    first17 = f"{region}{born:%Y%m%d}{rng.randrange(100):02d}{parity}"
    return first17 + id_check_char(first17)


def random_vin(rng: random.Random, wmi: str | None = None) -> str:
    wmi = wmi or rng.choice(_MAKERS)[0]
    vds = "".join(rng.choice(_VIN_ALPHABET) for _ in range(5))
    tail = rng.choice(_YEAR_CODES) + rng.choice(_VIN_ALPHABET) + f"{rng.randrange(10**6):06d}"
    draft = f"{wmi}{vds}0{tail}"
    return draft[:8] + vin_check_digit(draft) + draft[9:]


def random_plate(rng: random.Random, province: str = "京", letter: str = "A") -> str:
    kind = rng.random()
    if kind < 0.65:
        serial = [rng.choice("0123456789") for _ in range(5)]
        for position in rng.sample(range(5), rng.choice((0, 1, 1, 2))):
            serial[position] = rng.choice(_PLATE_LETTERS)
        return province + letter + "".join(serial)
    if kind < 0.9:  # small new-energy vehicle
        digits = f"{rng.randrange(10**4):04d}"
        return province + letter + rng.choice("DF") + rng.choice(_LETTER_OR_DIGIT) + digits
    return province + letter + f"{rng.randrange(10**5):05d}" + rng.choice("DF")  # large NEV


def _random_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(max((end - start).days, 1)))


def tamper(facts: DocumentFacts, key: str, rng: random.Random) -> DocumentFacts:
    """The same facts with ``key`` subtly wrong: an ID number with a bad check
    character or a VIN with a bad check digit, as a forged or mistyped document has."""
    value = getattr(facts, key)
    if key == "id_number":
        wrong = rng.choice([c for c in "0123456789X" if c != value[17]])
        return facts.model_copy(update={key: value[:17] + wrong})
    if key == "vin":
        wrong = rng.choice([c for c in "0123456789X" if c != value[8]])
        return facts.model_copy(update={key: value[:8] + wrong + value[9:]})
    raise ValueError(f"cannot tamper with {key}; choose id_number or vin")


class DocumentFacts(BaseModel):
    name: str
    id_number: str
    sex: str
    birth_date: str
    address: str
    ethnicity: str
    contract_no: str
    plate_no: str
    vin: str
    engine_no: str
    settled_date: str
    amount: str
    lender: str
    brand_model: str
    register_date: str

    @field_validator("birth_date", "settled_date", "register_date")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        # Loan records may say 2026/3/5; documents are drawn from ISO dates.
        iso = normalize_date(value)
        if iso is None:
            raise ValueError(f"{value!r} is not a date")
        return iso

    @field_validator("amount")
    @classmethod
    def _decimal_amount(cls, value: str) -> str:
        amount = normalize_amount(value)
        if amount is None:
            raise ValueError(f"{value!r} is not an amount")
        return amount

    @classmethod
    def random(cls, rng: random.Random, *, varied: bool = False, **known: str) -> DocumentFacts:
        """Plausible facts; any field given in ``known`` is used as is.

        Sex and birth date follow a known ID number, so the ID card agrees with it.
        """
        region, place, province, letter = rng.choice(
            _REGIONS + _MORE_REGIONS if varied else _REGIONS
        )
        if known.get("id_number"):
            check = check_id_number(known["id_number"])
            if check.valid:
                known.setdefault("sex", check.sex or "")
                known.setdefault("birth_date", check.birth_date or "")
        sex = known.get("sex") or rng.choice("男女")
        born = (
            date.fromisoformat(known["birth_date"])
            if known.get("birth_date")
            else _random_date(rng, date(1962, 1, 1), date(2002, 12, 31))
        )
        wmi, brand, models = rng.choice(_MAKERS)
        model = rng.choice(models) + "".join(rng.choice("ABCDEFGHJKLMN") for _ in range(3))
        registered = _random_date(rng, date(2016, 1, 1), date(2023, 6, 30))
        settled = _random_date(rng, registered + timedelta(days=365), date(2025, 12, 31))
        amount = rng.randrange(30_000_00, 400_000_00)
        street = rng.choice(_STREETS)
        flat = f"{rng.randrange(1, 30)}栋{rng.randrange(1, 6)}单元{rng.randrange(101, 2800)}室"
        engine_prefix = "".join(rng.choice(_PLATE_LETTERS) for _ in range(rng.choice((0, 2, 3))))
        facts = {
            "name": random_name(rng),
            "id_number": random_id_number(rng, region, born, sex),
            "sex": sex,
            "birth_date": born.isoformat(),
            "address": f"{place}{street}路{rng.randrange(1, 300)}号" + rng.choice(("", flat)),
            "ethnicity": rng.choice(_ETHNICITIES),
            "contract_no": rng.choice(("HX", "QC", "DK", "CL"))
            + f"{settled.year - rng.randrange(1, 4)}{rng.randrange(10**8):08d}",
            "plate_no": random_plate(rng, province, letter),
            "vin": random_vin(rng, wmi),
            "engine_no": engine_prefix + f"{rng.randrange(10**6, 10**8)}",
            "settled_date": settled.isoformat(),
            "amount": f"{amount // 100}.{amount % 100:02d}",
            "lender": rng.choice(_LENDERS),
            "brand_model": brand + model,
            "register_date": registered.isoformat(),
        }
        if varied:
            facts.update(_varied(rng, place, settled))
        facts.update({k: v for k, v in known.items() if v})
        return cls(**facts)


def _varied(rng: random.Random, place: str, settled: date) -> dict[str, str]:
    """The fields ``varied`` draws afresh, after the classic draw (which keeps the
    rest of a seed's facts, dates and amounts among them, where they were)."""
    if rng.random() < 0.25:  # a village address, far from the common characters
        village = rng.choice(_VILLAGES)
        address = f"{place}{village[0]}{rng.choice('集镇乡')}{village}村{rng.randint(1, 12)}组"
    else:
        address = f"{place}{rng.choice(_STREETS)}路{rng.randrange(1, 300)}号"
        address += rng.choice(("", f"{rng.randrange(1, 30)}栋{rng.randrange(101, 2800)}室"))
    year = settled.year - rng.randrange(1, 4)
    contract = rng.choice((
        f"{rng.choice(('HX', 'QC', 'DK', 'CL', 'AF'))}{year}{rng.randrange(10**8):08d}",
        f"QCJR-{year}-{rng.randrange(1, 13):02d}-{rng.randrange(10**6):06d}",
        f"DK{year}{rng.randrange(10**4):04d}/{rng.randrange(10**5):05d}",
    ))  # fmt: skip
    return {
        "name": random_name(rng, varied=True),
        "address": address,
        "engine_no": random_engine_no(rng),
        "contract_no": contract,
    }
