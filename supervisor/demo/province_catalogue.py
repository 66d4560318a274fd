"""The demo province's catalogue: names, diagnoses with their departments, drugs, price
items, and the reference files (prices, drugs) the regulator imports for them."""

from __future__ import annotations

__all__ = [
    "COLD_CHAIN_DRUGS",
    "CONSULT_FEE",
    "DELIVERY_FEE",
    "DEPARTMENTS",
    "DIAGNOSES",
    "DRUGS",
    "GIVEN_NAMES",
    "OTC_DRUGS",
    "SUBCODES",
    "SUBSTITUTES",
    "SURNAMES",
    "UNKNOWN_ITEM",
    "reference_drugs",
    "reference_prices",
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_NAMES = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬燕彩春"
    "菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋"
    "珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺"
    "咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔"
    "枝思丽"
)
#: diagnosis -> (department, drug codes)
DIAGNOSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "I10": ("CARDIOLOGY", ("XC08CAA", "XC09CAB", "XC07ABC")),
    "I25.1": ("CARDIOLOGY", ("XB01ACA", "XC10AAE")),
    "E11.9": ("ENDOCRINOLOGY", ("XA10BAE", "XA10BHE")),
    "E78.5": ("ENDOCRINOLOGY", ("XC10AAE", "XC10AAD")),
    "M10.9": ("ENDOCRINOLOGY", ("XM04AAA",)),
    "J45.9": ("RESPIRATORY", ("XR03DCA", "XR03AKA")),
    "J30.4": ("RESPIRATORY", ("XR06AXA",)),
    "K21.9": ("GASTROENTEROLOGY", ("XA02BCA", "XA02BCB")),
    "K29.5": ("GASTROENTEROLOGY", ("XA02BCB",)),
    "L20.9": ("DERMATOLOGY", ("XD07ACA", "XR06AXA")),
    "M54.5": ("ORTHOPAEDICS", ("XM01AEA",)),
    "N18.9": ("NEPHROLOGY", ("XV03AEA",)),
}
SUBCODES = {"I10": ("I10",), "E11.9": ("E11.9", "E11.65"), "E78.5": ("E78.5", "E78.0")}
DEPARTMENTS = sorted({d for d, _ in DIAGNOSES.values()})
#: code -> (name, unit, unit price, category, online prescribable, max days supply)
DRUGS: dict[str, tuple[str, str, str, str, bool, int | None]] = {
    "XC08CAA": ("苯磺酸氨氯地平片", "盒", "18.20", "rx", True, 28),
    "XC09CAB": ("缬沙坦胶囊", "盒", "26.50", "rx", True, 28),
    "XC07ABC": ("酒石酸美托洛尔片", "盒", "9.80", "rx", True, 28),
    "XB01ACA": ("阿司匹林肠溶片", "盒", "15.60", "rx", True, 30),
    "XC10AAE": ("阿托伐他汀钙片", "盒", "25.80", "rx", True, 28),
    "XC10AAD": ("瑞舒伐他汀钙片", "盒", "32.00", "rx", True, 28),
    "XA10BAE": ("盐酸二甲双胍缓释片", "盒", "32.50", "rx", True, 30),
    "XA10BHE": ("西格列汀片", "盒", "78.00", "rx", True, 28),
    "XM04AAA": ("别嘌醇片", "盒", "12.00", "rx", True, 30),
    "XR03DCA": ("孟鲁司特钠片", "盒", "45.00", "rx", True, 14),
    "XR03AKA": ("沙美特罗替卡松吸入粉雾剂", "支", "168.00", "rx", True, 30),
    "XR06AXA": ("氯雷他定片", "盒", "16.80", "otc", True, None),
    "XA02BCA": ("奥美拉唑肠溶胶囊", "盒", "12.60", "rx", True, 14),
    "XA02BCB": ("雷贝拉唑钠肠溶片", "盒", "38.40", "rx", True, 14),
    "XD07ACA": ("糠酸莫米松乳膏", "支", "29.90", "rx", True, 14),
    "XM01AEA": ("布洛芬缓释胶囊", "盒", "11.50", "otc", True, None),
    "XV03AEA": ("碳酸司维拉姆片", "盒", "96.00", "rx", True, 30),
    "XN02AAM": ("盐酸吗啡缓释片", "盒", "35.00", "narcotic", False, None),
    "XN05BAD": ("地西泮片", "盒", "6.50", "psychotropic", False, None),
    "XN06BAA": ("盐酸哌甲酯缓释片", "盒", "120.00", "psychotropic", False, None),
    # Sold by pharmacies only (no diagnosis above prescribes them, so the hospitals'
    # records are what they were before pharmacies came).
    "XA10ABA": ("门冬胰岛素注射液", "支", "68.50", "rx", True, 30),
    "XA07FAB": ("双歧杆菌三联活菌胶囊", "盒", "26.00", "otc", True, None),
}
#: Kept and shipped at 2-8 °C (冷链): insulin, and a live-bacteria preparation.
COLD_CHAIN_DRUGS = frozenset({"XA10ABA", "XA07FAB"})
#: What pharmacies sell over the counter.
OTC_DRUGS = tuple(sorted(code for code, drug in DRUGS.items() if drug[3] == "otc"))
#: A drug a pharmacist may hand out instead of a prescribed one of the same class
#: (statins, proton-pump inhibitors), with a note saying why.
SUBSTITUTES = {
    "XC10AAE": "XC10AAD",
    "XC10AAD": "XC10AAE",
    "XA02BCA": "XA02BCB",
    "XA02BCB": "XA02BCA",
}
CONSULT_FEE = "110200001"
DELIVERY_FEE = "120400001"
UNKNOWN_ITEM = "999900001"


def reference_prices() -> list[dict[str, str]]:
    base = {"unit": "次", "valid_to": "", "valid_from": "2020-01-01"}
    return [
        {
            **base,
            "item_code": CONSULT_FEE,
            "item_name": "互联网复诊诊查费",
            "ceiling_price": "25.00",
            "insurance_covered": "true",
        },
        {
            **base,
            "item_code": DELIVERY_FEE,
            "item_name": "药品配送费",
            "ceiling_price": "20.00",
            "insurance_covered": "false",
        },
        {
            **base,
            "item_code": "110200002",
            "item_name": "互联网远程会诊费",
            "ceiling_price": "120.00",
            "insurance_covered": "true",
        },
    ]


def reference_drugs() -> list[dict[str, str]]:
    return [
        {
            "drug_code": code,
            "drug_name": name,
            "category": category,
            "online_prescribable": "true" if online else "false",
            "max_days_supply": "" if limit is None else str(limit),
            "cold_chain": "true" if code in COLD_CHAIN_DRUGS else "false",
        }
        for code, (name, _, _, category, online, limit) in sorted(DRUGS.items())
    ]
