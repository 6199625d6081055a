"""The four borrower documents: which labels each prints, which fields it must
yield (DESIGN.md "OCR field keys"), and the words that identify it.

A label maps to the field keys its value holds (a compound label such as
``机动车所有人/身份证明名称/号码`` holds two), or to nothing: labels of fields we
do not read are still listed, so that their values are not mistaken for ours
and so that a line holding two fields is cut in the right place.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.enums import DocType

# Labels shared by several documents.
_NAME = ("姓名",)
_ID = ("公民身份号码", "身份证号码", "身份证号", "身份证件号码", "证件号码", "身份证明号码")
_PLATE = ("号牌号码", "车牌号码", "车牌号", "机动车号牌号码", "车辆号牌", "车牌")
_VIN = (
    "车辆识别代号/车架号", "车辆识别代号(车架号)", "车架号(VIN)", "车辆识别代号(VIN)",
    "车辆识别代号", "车辆识别代码", "车辆识别号", "车架号码", "车架号", "VIN码", "VIN",
)  # fmt: skip
_ENGINE = ("发动机号码", "发动机号", "发动机编号")
_BRAND = ("品牌型号", "厂牌型号", "车辆品牌型号")
_REGISTER = ("注册日期", "注册登记日期", "初次登记日期")


def _map(keys: tuple[str, ...], *labels: str) -> dict[str, tuple[str, ...]]:
    return dict.fromkeys(labels, keys)


def _ignore(*labels: str) -> dict[str, tuple[str, ...]]:
    return dict.fromkeys(labels, ())


@dataclass(frozen=True)
class DocLayout:
    doc_type: DocType
    labels: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # Words that name the document; a hit in its title counts triple.
    title_words: tuple[str, ...]
    # Words typical of its body.
    body_words: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return self.required + self.optional

    def keys_for(self, label: str) -> tuple[str, ...]:
        """The fields a label names: listed labels first, then keyword rules."""
        if label in self.labels:
            return self.labels[label]
        return guess_keys(label, self.keys)


# For labels we have never seen (户名, 客户证件号, 车辆车架号): a word names a field
# when it contains one of the field's keywords and none of its exclusions.  The
# order matters: 贷款机构名称 is the lender, not a name.  No rule keys on words
# that values contain (公司, 银行), or a lender printed alone would become a label.
KEYWORD_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("lender", ("机构", "单位", "债权", "抵押权", "贷款方", "出具", "发放"), ("日期",)),
    ("id_number", ("身份证", "证件号", "身份号码"), ()),
    ("contract_no", ("合同", "借据"), ("日期", "金额")),
    ("plate_no", ("车牌", "号牌"), ()),
    ("vin", ("车架", "识别代", "识别码", "VIN"), ()),
    ("engine_no", ("发动机号", "发动机编号"), ("型号",)),
    ("settled_date", ("结清日", "结清时间", "还清日", "结清于"), ()),
    ("amount", ("金额", "本金", "总额"), ()),
    ("register_date", ("注册日", "登记日期", "初登"), ("抵押", "发证")),
    ("brand_model", ("品牌", "厂牌", "车型"), ()),
    ("address", ("地址", "住址", "住所"), ()),
    ("birth_date", ("出生",), ()),
    ("sex", ("性别",), ()),
    ("ethnicity", ("民族",), ()),
    ("name", ("姓名", "名称", "借款人", "客户", "所有人", "户名", "主贷人"), ("日期", "证")),
)


def guess_keys(word: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    for key, keywords, exclusions in KEYWORD_RULES:
        if any(k in word for k in keywords) and not any(x in word for x in exclusions):
            return (key,) if key in keys else ()
    return ()


# Label lists are long; one field per line reads better than one label per line.
# fmt: off
SETTLEMENT = DocLayout(
    DocType.SETTLEMENT_CERTIFICATE,
    labels={
        **_map(
            ("name",), *_NAME, "借款人姓名", "借款人", "客户姓名", "客户名称", "借款人名称",
            "贷款人姓名", "主借人",
        ),
        **_map(("id_number",), *_ID, "借款人身份证号", "借款人证件号码"),
        **_map(
            ("contract_no",), "借款合同编号", "贷款合同编号", "合同编号", "合同号码", "合同号",
            "贷款编号", "借据号",
        ),
        **_map(("plate_no",), *_PLATE),
        **_map(("vin",), *_VIN),
        **_map(
            ("settled_date",), "贷款结清日期", "结清日期", "结清时间", "还清日期", "结清日",
        ),
        **_map(
            ("amount",), "贷款金额", "借款金额", "结清金额", "贷款本金", "还款总额", "已还金额",
            "金额",
        ),
        **_map(
            ("lender",), "贷款机构", "贷款银行", "出具单位", "出具机构", "债权人", "抵押权人",
            "贷款方", "发放机构",
        ),
        **_ignore(
            "贷款期限", "贷款日期", "放款日期", "出具日期", "开具日期", "联系电话", "手机号码",
            "还款方式", "贷款产品", "备注", "车辆品牌", "品牌型号", "贷款期数", "发动机号",
        ),
    },
    required=("name", "id_number", "contract_no", "plate_no", "vin", "settled_date"),
    optional=("amount", "lender"),
    title_words=("结清证明", "贷款结清", "结清确认", "还款证明", "清偿证明"),
    body_words=("结清", "合同编号", "贷款", "借款人", "还清"),
)

ID_CARD = DocLayout(
    DocType.ID_CARD,
    labels={
        **_map(("name",), *_NAME),
        **_map(("id_number",), *_ID),
        **_map(("sex",), "性别"),
        **_map(("ethnicity",), "民族"),
        **_map(("birth_date",), "出生日期", "出生"),
        **_map(("address",), "住址"),
        **_ignore("签发机关", "有效期限"),
    },
    required=("name", "id_number", "sex", "birth_date"),
    optional=("address", "ethnicity"),
    title_words=("居民身份证", "公民身份号码"),
    body_words=("性别", "民族", "出生", "住址", "公民身份号码"),
)

REGISTRATION = DocLayout(
    DocType.VEHICLE_REGISTRATION_CERTIFICATE,
    labels={
        **_map(
            ("name", "id_number"), "机动车所有人/身份证明名称/号码", "机动车所有人/身份证明名称号码",
        ),
        **_map(("name",), "机动车所有人", "所有人姓名/名称", "所有人"),
        **_map(("id_number",), "身份证明名称/号码", *_ID),
        **_map(("plate_no",), "机动车登记编号", *_PLATE),
        **_map(("vin",), *_VIN),
        **_map(("lender",), "抵押权人姓名/名称", "抵押权人名称", "抵押权人"),
        **_map(("engine_no",), *_ENGINE),
        **_map(("brand_model",), *_BRAND, "车辆品牌"),
        **_map(("vehicle_model",), "车辆型号"),
        **_map(("register_date",), *_REGISTER, "登记日期"),
        **_ignore(
            "登记机关", "车辆类型", "车身颜色", "国产/进口", "发动机型号", "燃料种类", "排量/功率",
            "制造厂名称", "转向形式", "轮距", "轮胎数", "轮胎规格", "轴距", "轴数", "外廓尺寸",
            "总质量", "核定载质量", "核定载客", "使用性质", "车辆获得方式", "车辆出厂日期",
            "发证机关", "发证日期", "抵押登记日期", "登记证书编号", "机动车登记证书编号",
        ),
    },
    required=("name", "id_number", "plate_no", "vin", "lender"),
    optional=("engine_no", "brand_model", "register_date"),
    title_words=("机动车登记证书", "登记证书"),
    body_words=("抵押登记", "抵押权人", "登记机关", "机动车登记编号", "车辆获得方式"),
)

DRIVING_LICENSE = DocLayout(
    DocType.DRIVING_LICENSE,
    labels={
        **_map(("name",), "所有人"),
        **_map(("plate_no",), *_PLATE),
        **_map(("vin",), *_VIN),
        **_map(("engine_no",), *_ENGINE),
        **_map(("address",), "住址"),
        **_map(("brand_model",), *_BRAND),
        **_map(("register_date",), *_REGISTER),
        **_ignore(
            "车辆类型", "使用性质", "发证日期", "核定载人数", "总质量", "整备质量", "档案编号",
            "外廓尺寸", "检验记录", "发证机关",
        ),
    },
    required=("name", "plate_no", "vin", "engine_no"),
    optional=("address", "brand_model", "register_date"),
    title_words=("机动车行驶证", "行驶证"),
    body_words=("号牌号码", "使用性质", "发证日期", "注册日期", "所有人"),
)

# fmt: on

LAYOUTS: dict[DocType, DocLayout] = {
    layout.doc_type: layout for layout in (SETTLEMENT, ID_CARD, REGISTRATION, DRIVING_LICENSE)
}
