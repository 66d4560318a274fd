"""Every fixed text a report prints, in Chinese (the filed edition) and English."""

from __future__ import annotations

__all__ = ["LANGUAGES", "label", "label_or"]

LANGUAGES = ("zh", "en")

_LABELS: dict[str, tuple[str, str]] = {
    "assessment_title": ("互联网医院绩效考核报告", "Internet hospital performance assessment"),
    "digest_title": ("互联网诊疗智能监管简报", "Intelligent supervision digest"),
    "authority": (
        "省卫生健康委员会 互联网医疗服务监管平台",
        "Provincial Health Commission, internet healthcare supervision",
    ),
    "period": ("考核周期", "Period"),
    "digest_period": ("简报周期", "Period"),
    "report_id": ("报告编号", "Report id"),
    "basis": ("数据依据", "Computed from"),
    "log_origin": ("账本", "Ledger"),
    "tree_size": ("账本条目数（检查点）", "Entries at checkpoint"),
    "root_hash": ("检查点根哈希", "Checkpoint root hash"),
    "methodology": ("考核方法", "Methodology"),
    "reference_versions": ("基础数据版本", "Reference data versions"),
    "data_sha256": ("数据文件 SHA-256", "Data file SHA-256"),
    "unreadable": ("已销毁不可读记录数", "Records shredded (unreadable)"),
    "verify_hint": (
        "核验：careledger report verify 本文件，将按上述检查点重新计算并与账本中的发布条目比对。",
        "To verify: careledger report verify THIS.pdf recomputes the data at this checkpoint "
        "and checks it against the publication entry in the ledger.",
    ),
    "header_checkpoint": ("检查点", "Checkpoint"),
    "china_time": ("北京时间", "CST"),
    "period_bounds": (
        "北京时间 {start} 00:00 至 {end} 00:00（UTC+08:00）",
        "{start} 00:00 to {end} 00:00 China Standard Time (UTC+08:00)",
    ),
    "time_zone_note": (
        "本报告中的日期、时间与周期均为北京时间（UTC+08:00）。",
        "Every date, time and period in this report is China Standard Time (UTC+08:00).",
    ),
    "page": ("第 {page} 页，共 {pages} 页", "Page {page} of {pages}"),
    "summary": ("总体情况", "Summary"),
    "institutions_assessed": ("参评机构数", "Institutions assessed"),
    "institutions_ranked": ("参与排名机构数", "Institutions ranked"),
    "records": ("业务记录数", "Records"),
    "mean_score": ("平均得分", "Mean score"),
    "median_score": ("得分中位数", "Median score"),
    "score_distribution": ("综合得分（前二十名）", "Total score (top 20)"),
    "ranking": ("综合排名", "Ranking"),
    "rank": ("排名", "Rank"),
    "code": ("机构编码", "Code"),
    "name": ("名称", "Name"),
    "kind": ("类型", "Kind"),
    "score": ("得分", "Score"),
    "volume": ("业务量", "Volume"),
    "not_ranked": ("未排名", "not ranked"),
    "not_ranked_note": (
        "业务记录少于 {min_records} 条的机构不参与排名。",
        "Institutions with fewer than {min_records} records are not ranked.",
    ),
    "indicators": ("考核指标", "Indicators"),
    "indicator": ("指标", "Indicator"),
    "weight": ("权重", "Weight"),
    "direction": ("方向", "Direction"),
    "direction_up": ("越高越好", "higher is better"),
    "direction_down": ("越低越好", "lower is better"),
    "direction_none": ("不计分", "not scored"),
    "definition": ("定义", "Definition"),
    "numerator": ("分子", "Numerator"),
    "denominator": ("分母", "Denominator"),
    "value": ("指标值", "Value"),
    "indicator_score": ("指标得分", "Score"),
    "province_median": ("全省中位数", "Province median"),
    "peer_median": ("同类中位数", "Peer median"),
    "trend": ("得分趋势", "Score trend"),
    "institution_page": ("机构考核明细", "Institution detail"),
    "kind_second_name": ("第二名称", "second name of a hospital"),
    "kind_standalone": ("独立设置", "standalone"),
    "kind_platform": ("依托第三方平台", "third-party platform"),
    "kind_unknown": ("未备案", "not filed"),
    "new_findings": ("新发现问题", "New findings"),
    "by_severity": ("按严重程度", "By severity"),
    "by_rule": ("按规则", "By rule"),
    "by_institution": ("按机构", "By institution"),
    "severity_high": ("高", "high"),
    "severity_medium": ("中", "medium"),
    "severity_low": ("低", "low"),
    "severity_warning": ("提示", "warning"),
    "reason_volume": ("处方量异常", "volume"),
    "reason_amount": ("处方金额异常", "amount"),
    "count": ("数量", "Count"),
    "rule": ("规则", "Rule"),
    "type_consultation": ("问诊", "consultations"),
    "type_prescription": ("处方", "prescriptions"),
    "type_charge": ("收费", "charges"),
    "top_risks": ("重点风险", "Top risks"),
    "top_institutions": (
        "风险最高的机构（近30天）",
        "Institutions with the most serious findings (30 days)",
    ),
    "top_practitioners": (
        "风险最高的医务人员（近30天）",
        "Practitioners with the most serious findings (30 days)",
    ),
    "risk_points": ("风险分", "Risk points"),
    "findings": ("问题数", "Findings"),
    "high": ("高风险", "High"),
    "overdue": ("逾期未整改", "Overdue rectifications"),
    "finding_id": ("问题编号", "Finding"),
    "deadline": ("整改期限（北京时间）", "Deadline (CST)"),
    "days_overdue": ("逾期天数", "Days overdue"),
    "anomalies": ("异常情况", "Anomalies"),
    "volume_spikes": ("业务量突增", "Volume spikes"),
    "day": ("日期（北京时间）", "Day (CST)"),
    "baseline_median": ("基线中位数", "Baseline median"),
    "robust_z": ("稳健 Z 值", "Robust z"),
    "prescribing_anomalies": ("处方行为异常", "Unusual prescribing"),
    "licence": ("执业证号", "Licence"),
    "practitioner": ("医务人员", "Practitioner"),
    "prescriptions": ("处方数", "Prescriptions"),
    "mean_amount": ("平均金额（元）", "Mean amount (CNY)"),
    "reasons": ("原因", "Reasons"),
    "changes": ("与上期相比", "Since the previous digest"),
    "previous_period": ("上期", "Previous period"),
    "change": ("变化", "Change"),
    "none": ("无", "none"),
    "high_findings": ("高风险问题", "High-severity findings"),
    "overdue_rectifications": ("逾期未整改", "Overdue rectifications"),
    "records_now": ("本期记录数", "Records this period"),
    "records_before": ("上期记录数", "Records previous period"),
    # assessment-v2
    "institutions_rated": ("参与评级机构数", "Institutions rated"),
    "institutions_vetoed": ("一票否决（不予评级）机构数", "Institutions not rated (veto)"),
    "spread_max": ("最高得分", "Highest score"),
    "spread_min": ("最低得分", "Lowest score"),
    "spread_range": ("得分极差（最高减最低）", "Score range (highest - lowest)"),
    "spread_stdev": ("得分标准差（总体）", "Score standard deviation (population)"),
    "rated_scores": ("参与评级机构综合得分", "Scores of rated institutions"),
    "vetoed": ("不予评级", "not rated"),
    "no_data": ("无数据", "no data"),
    "vetoed_note": (
        "存在一票否决情形的机构不予评级、不参与排名，列于所有参与排名的机构之后。",
        "Institutions with a veto condition are not rated and not ranked; they are listed "
        "after every ranked institution.",
    ),
    "veto_heading": ("一票否决", "Veto conditions"),
    "veto_reasons": ("否决原因（规则 案件编号）", "Veto reasons (rule, case)"),
    "quality_score": ("质量得分", "Quality"),
    "case_penalty": ("案件扣分", "Case penalty"),
    "case_rules": ("案件扣分与一票否决规则", "Case penalty and veto rules"),
    "veto_rules": ("一票否决规则", "Veto rules"),
    "penalised_groupings": ("按案件扣分的问题", "Cases that cost points"),
    "grouping_institution": ("机构层面", "institution-level"),
    "grouping_practitioner": ("医务人员层面", "practitioner-level"),
    "grouping_month": ("按月归并的记录问题", "record-level (by month)"),
    "severity_points": ("严重程度分值", "Points by severity"),
    "duration_cap_days": ("持续天数上限", "Duration cap (days)"),
    "repeat_factor": ("重复发生倍数", "Repeat factor"),
    "penalty_formula": ("扣分公式", "Penalty"),
    "penalty_formula_text": (
        "每个案件计一次：严重程度分值 ×（1 + 期内持续天数（封顶）÷ 上限天数），"
        "重复发生的案件再乘以倍数；机构层面、医务人员层面的案件及所有重复发生的案件计入。"
        "综合得分 = 质量得分 − 案件扣分（不低于 0）。",
        "Each case once: severity points x (1 + days open in the period (capped) / cap), "
        "times the repeat factor for a repeat; institution- and practitioner-level cases and "
        "every repeat count. Score = quality - penalty (at least 0).",
    ),
    "cases_counted": ("计分案件", "Cases counted"),
    "case_id": ("案件编号", "Case"),
    "severity": ("严重程度", "Severity"),
    "days_open": ("期内持续天数", "Days open"),
    "repeat": ("重复发生", "Repeat"),
    "veto": ("一票否决", "Veto"),
    "points": ("扣分", "Points"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    # digest-v2
    "escalated_cases": ("本期升级处理的案件", "Cases escalated in the period"),
    "escalated_on": ("升级日期（北京时间）", "Escalated on (CST)"),
    "overdue_notices": ("逾期未落实的整改通知", "Notices overdue"),
    "notice_id": ("通知书编号", "Notice"),
    "answers": ("已答复次数", "Answers"),
    # assessment-v3: pharmacies
    "pharmacy_summary": ("药店考核总体情况", "Pharmacies: summary"),
    "pharmacy_section_note": (
        "自考核方法第三版起，药店（含连锁门店、医疗机构药房及处方流转平台）单独考核、单独排名，"
        "不与互联网医院混排；医疗机构部分的计算与第二版相同。",
        "From methodology version 3, pharmacies (chain stores, hospital pharmacies and "
        "prescription circulation platforms among them) are assessed and ranked on their own, "
        "never with hospitals; the hospitals' part is computed as under version 2.",
    ),
    "pharmacies_assessed": ("参评药店数", "Pharmacies assessed"),
    "pharmacies_ranked": ("参与排名药店数", "Pharmacies ranked"),
    "pharmacies_rated": ("参与评级药店数", "Pharmacies rated"),
    "pharmacies_vetoed": ("一票否决（不予评级）药店数", "Pharmacies not rated (veto)"),
    "dispensings": ("调配记录数", "Dispensings"),
    "dispensing_count": ("调配量", "Dispensed"),
    "deliveries": ("配送记录数", "Deliveries"),
    "double_fill_cases_total": ("重复调配案件数", "Double-fill cases"),
    "controlled_cases_total": ("特殊管理药品网售案件数", "Controlled-drug cases"),
    "pharmacy_scores": ("参与评级药店综合得分", "Scores of rated pharmacies"),
    "pharmacy_ranking": ("药店综合排名", "Pharmacy ranking"),
    "pharmacy_ranking_note": (
        "本期调配记录少于 {min_dispensings} 条的药店不参与排名；存在一票否决情形的药店不予评级、"
        "不参与排名，列于最后。",
        "Pharmacies with fewer than {min_dispensings} dispensings in the period are not "
        "ranked; pharmacies with a veto condition are not rated or ranked and are listed last.",
    ),
    "pharmacy_veto_heading": ("药店一票否决", "Pharmacy veto conditions"),
    "pharmacy_indicators": ("药店考核指标", "Pharmacy indicators"),
    "source": ("数据来源", "Source"),
    "pharmacy_rules": ("药店案件扣分与一票否决规则", "Pharmacy case penalty and veto rules"),
    "charged_rules": ("每个案件均扣分的规则", "Rules whose every case costs points"),
    "pharmacy_facts": ("数据口径", "What the numbers are read from"),
    "pharmacy_facts_text": (
        "均取自本报告检查点以内的账本条目，不取自检索表：调配、配送记录（以发生时间计入周期，"
        "更正记录只计最新版本）；药店备案记录（按稽核口径取该调配之前最近一次备案，之前没有则取"
        "首次备案）；调配记录进入账本时有效的药品目录版本（目录中类别为 otc 的为非处方药，其余及"
        "目录未列的药品均按处方药计；冷链标记取目录 cold_chain 列）。配送按其所属调配（同一药店）"
        "的最新版本判断。问题线索或其案件被撤销的不计。",
        "All from the ledger entries inside this report's checkpoint, never from search tables: "
        "dispensing and delivery records (in the period they occurred; an amended record counts "
        "once, as its latest version); the pharmacy's filing the inspector judges a dispensing "
        "by (the latest before it, else the first); the drug catalogue in force when the "
        "dispensing entered the ledger (category otc is over the counter; every other drug, "
        "and one it does not list, needs a prescription; cold chain from its cold_chain "
        "column). A delivery is judged with its dispensing's latest version (same pharmacy). "
        "Findings dismissed, or in a dismissed case, do not count.",
    ),
    "pharmacy_score_text": (
        "综合得分 = 质量得分（上表计分指标的加权平均，无数据的指标不计、权重重新归一）减去"
        "案件扣分，不低于 0。案件扣分公式同医疗机构；机构层面的案件、重复发生的案件，以及"
        "下列规则的每个案件计入扣分。",
        "Score = quality (the weighted mean of the scored indicators above that have data, "
        "weights renormalised) - case penalty (at least 0). The penalty formula is the "
        "hospitals'; institution-level cases, repeats and every case of the rules below count.",
    ),
    "pharmacy_page": ("药店考核明细", "Pharmacy detail"),
    "parent_code": ("连锁总部编码", "Chain headquarters"),
    "pharmacy_kind_retail": ("零售药店", "retail pharmacy"),
    "pharmacy_kind_chain_store": ("连锁门店", "chain store"),
    "pharmacy_kind_hospital_pharmacy": ("医疗机构药房", "hospital pharmacy"),
    "pharmacy_kind_platform": ("第三方平台", "third-party platform"),
    "pharmacy_kind_unknown": ("未备案", "not filed"),
    "type_dispensing": ("调配", "dispensings"),
    "type_delivery": ("配送", "deliveries"),
    "cases_in_period": ("本期案件", "Cases in the period"),
    "double_fills": ("重复调配明细", "Double fills"),
    "pharmacies_involved": ("涉及药店", "Pharmacies involved"),
    "dispensings_involved": ("涉及调配次数", "Fills"),
    "record_id": ("记录编号", "Record"),
    "found_on": ("发现日期（北京时间）", "Found on (CST)"),
    "prescribed_at": ("处方开具机构", "Prescribed at"),
    "pharmacy": ("药店", "Pharmacy"),
    # digest-v3: drugs
    "drugs": ("药品调配与配送", "Drugs: dispensing and delivery"),
    "drug_records": ("本期调配与配送", "Dispensing and delivery this period"),
    "online_dispensings": ("其中网络销售调配", "of which sold online"),
    "drug_new_findings": ("新发现药品问题（按规则）", "New dispensing findings by rule"),
    "drug_new_cases": ("新立药品案件（按规则）", "New dispensing cases by rule"),
    "rule_title": ("规则名称", "Rule title"),
    "double_fills_digest": (
        "重复调配（同一处方跨药店、跨平台多次调配）",
        "Double fills (one prescription filled again, across pharmacies and platforms)",
    ),
    "controlled_online": (
        "特殊管理药品网络销售或寄递配送",
        "Controlled drugs sold online or sent by courier",
    ),
    "cold_chain_breaches": ("冷链配送违规", "Cold-chain breaches"),
    "record_type": ("记录类型", "Record type"),
    "record_type_dispensing": ("调配", "dispensing"),
    "record_type_delivery": ("配送", "delivery"),
    "channel": ("渠道", "Channel"),
    "channel_online": ("网络", "online"),
    "channel_in_store": ("门店", "in store"),
    "reason_no_cold_chain": ("未冷链配送", "not shipped cold"),
    "reason_excursion": ("温度超标", "temperature excursion"),
    "state": ("状态", "State"),
    "finding_state_open": ("待处理", "open"),
    "finding_state_dismissed": ("已撤销", "dismissed"),
    "finding_state_acknowledged": ("已确认", "acknowledged"),
    "finding_state_rectification_ordered": ("已下达整改", "rectification ordered"),
    "finding_state_resolved": ("已整改", "resolved"),
    "DISP-NO-RX": ("无处方调配处方药", "prescription drug without a prescription"),
    "DISP-RX-UNKNOWN": ("调配所凭处方未上传", "prescription never transmitted"),
    "DISP-RX-EXPIRED": ("超过处方有效期调配", "prescription expired"),
    "DISP-DOUBLE-FILL": ("同一处方重复调配", "one prescription filled twice"),
    "DISP-QUANTITY": ("调配数量超过处方数量", "above the prescribed quantity"),
    "DISP-SUBSTITUTE": ("处方外药品且无替换说明", "substitution without a note"),
    "DISP-NO-PHARMACIST": ("未经在岗执业药师审核", "no review by a rostered pharmacist"),
    "DISP-PHARMACY-LICENSE": (
        "药店未备案、许可证或GSP过期，或网络销售未备案",
        "unfiled, licence or GSP expired, or online sales not filed",
    ),
    "DISP-THIRD-PARTY-SALE": ("第三方平台直接销售药品", "platform selling in its own name"),
    "DISP-CONTROLLED-ONLINE": (
        "特殊管理药品网络销售或寄递",
        "controlled drug online or by courier",
    ),
    "DISP-COLD-CHAIN": ("冷链药品未冷链配送或温度超标", "cold chain broken"),
    "DISP-DELIVERY-REALNAME": ("处方药送达未核验收货人", "recipient not verified"),
    "DISP-REVIEW-ORDER": ("审核前调配或医院审方未通过", "dispensed before review, or rejected"),
}


def label(key: str, language: str, **values: object) -> str:
    """The text for ``key`` in ``language`` (``zh`` or ``en``), with ``values`` filled in."""
    zh, en = _LABELS[key]
    text = zh if language == "zh" else en
    return text.format(**values) if values else text


def label_or(key: str, language: str, fallback: str) -> str:
    """The text for ``key``, or ``fallback`` when there is none (a rule added later)."""
    return label(key, language) if key in _LABELS else fallback
