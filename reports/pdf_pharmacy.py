"""The PDF pages about pharmacies: in an assessment under assessment-v3, the pharmacies'
summary, ranking (vetoed last, and why), indicators with their definitions and sources,
and a page per pharmacy with its cases and double fills; in a digest-v3, the drugs
section. Every number comes from the report's data document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, PageBreak, Paragraph, Spacer

from .labels import label, label_or
from .methodology import IndicatorSpec, Methodology, PharmacyMethodology
from .pdf_assessment import indicator_table, trend_block
from .pdf_layout import Styles, bar_chart, data_table, escaped, key_values, listing, shown

__all__ = ["drugs_story", "pharmacy_kind_text", "pharmacy_story"]


def pharmacy_kind_text(kind: str, language: str) -> str:
    return label_or(f"pharmacy_kind_{kind}", language, kind)


def _standing(item: Mapping[str, Any], language: str) -> object:
    if item["ranked"]:
        return item["rank"]
    if item["rating"] == "vetoed":
        return label("vetoed", language)
    if item["rating"] == "no_data":
        return label("no_data", language)
    return label("not_ranked", language)


def _veto_text(item: Mapping[str, Any]) -> str:
    return "; ".join(f"{v['rule']} {v['case_id']}" for v in item["veto"])


def _summary(styles: Styles, body: Mapping[str, Any], language: str) -> list[Flowable]:
    province = body["province"]
    spread = province["spread"]
    rated = [p for p in body["pharmacies"] if p["score"] is not None][:20]
    return [
        Paragraph(escaped(label("pharmacy_summary", language)), styles.h1),
        Paragraph(escaped(label("pharmacy_section_note", language)), styles.small),
        Spacer(1, 2 * mm),
        key_values(
            styles,
            [
                (label("pharmacies_assessed", language), province["pharmacies"]),
                (label("pharmacies_ranked", language), province["ranked"]),
                (label("pharmacies_rated", language), province["rated"]),
                (label("pharmacies_vetoed", language), province["vetoed"]),
                (label("dispensings", language), province["dispensings"]),
                (label("deliveries", language), province["deliveries"]),
                (label("double_fill_cases_total", language), province["double_fill_cases"]),
                (label("controlled_cases_total", language), province["controlled_drug_cases"]),
                (label("mean_score", language), shown(province["mean_score"])),
                (label("median_score", language), shown(province["median_score"])),
                (label("spread_max", language), shown(spread["max"])),
                (label("spread_min", language), shown(spread["min"])),
                (label("spread_range", language), shown(spread["range"])),
                (label("spread_stdev", language), shown(spread["stdev"])),
            ],
        ),
        Spacer(1, 4 * mm),
        bar_chart(
            styles.font,
            [p["name"][:14] for p in rated],
            [float(p["score"]) for p in rated],
            label("pharmacy_scores", language),
        ),
    ]


def _ranking(styles: Styles, body: Mapping[str, Any], language: str) -> list[Flowable]:
    pharmacies = body["pharmacies"]
    rows = [
        [
            _standing(p, language),
            p["institution_code"],
            p["name"],
            pharmacy_kind_text(p["kind"], language),
            p["volume"]["dispensing"],
            shown(p["quality_score"]),
            shown(p["case_penalty"]),
            shown(p["score"]),
        ]
        for p in pharmacies
    ]
    header = [
        label(k, language)
        for k in ("rank", "code", "name", "kind", "dispensing_count", "quality_score",
                  "case_penalty", "score")
    ]  # fmt: skip
    note = label(
        "pharmacy_ranking_note", language, min_dispensings=body["province"]["min_dispensings"]
    )
    story: list[Flowable] = [
        Paragraph(escaped(label("pharmacy_ranking", language)), styles.h1),
        Paragraph(escaped(note), styles.small),
        data_table(
            styles,
            header,
            rows,
            [18 * mm, 24 * mm, 38 * mm, 24 * mm, 20 * mm, 16 * mm, 17 * mm, 17 * mm],
            numeric_from=4,
        ),
        Paragraph(escaped(label("pharmacy_veto_heading", language)), styles.h2),
    ]
    vetoed = [p for p in pharmacies if p["rating"] == "vetoed"]
    rows = [[p["institution_code"], p["name"], _veto_text(p)] for p in vetoed] or [
        [label("none", language), "", ""]
    ]
    header = [label(k, language) for k in ("code", "name", "veto_reasons")]
    story.append(data_table(styles, header, rows, [30 * mm, 50 * mm, 94 * mm]))
    return story


def _rules(styles: Styles, methodology: Methodology, language: str) -> list[Flowable]:
    rules = methodology.pharmacy
    assert rules is not None
    direction = {"up": label("direction_up", language), "down": label("direction_down", language)}
    rows = [
        [
            spec.name(language),
            f"{spec.weight:g}",
            direction.get(spec.direction, label("direction_none", language)),
            _definition_text(spec, language),
        ]
        for spec in rules.indicators
    ]
    header = [label(k, language) for k in ("indicator", "weight", "direction", "definition")]
    return [
        Paragraph(escaped(label("pharmacy_indicators", language)), styles.h1),
        data_table(styles, header, rows, [36 * mm, 14 * mm, 20 * mm, 104 * mm]),
        Spacer(1, 3 * mm),
        Paragraph(escaped(label("pharmacy_facts", language)), styles.h2),
        Paragraph(escaped(label("pharmacy_facts_text", language)), styles.body),
        Paragraph(escaped(label("pharmacy_rules", language)), styles.h2),
        Paragraph(escaped(label("pharmacy_score_text", language)), styles.body),
        Spacer(1, 2 * mm),
        key_values(styles, _rule_pairs(rules, language)),
    ]


def _definition_text(spec: IndicatorSpec, language: str) -> str:
    parts = [
        (None, spec.said("definition", language)),
        ("numerator", spec.said("numerator", language)),
        ("denominator", spec.said("denominator", language)),
        ("source", spec.said("source", language)),
    ]
    if language == "zh":
        return "".join(t if k is None else f"{label(k, language)}：{t}。" for k, t in parts)
    return " ".join(t if k is None else f"{label(k, language)}: {t}." for k, t in parts)


def _rule_pairs(rules: PharmacyMethodology, language: str) -> list[tuple[str, object]]:
    def named(rule_ids: Sequence[str]) -> str:
        return "; ".join(f"{r} {label_or(r, language, '')}".strip() for r in rule_ids)

    return [
        (label("veto_rules", language), named(rules.veto_rules)),
        (label("charged_rules", language), named(rules.charged_rules)),
    ]


def _pharmacy_page(
    styles: Styles,
    body: Mapping[str, Any],
    item: Mapping[str, Any],
    rules: PharmacyMethodology,
    language: str,
) -> list[Flowable]:
    facts: list[tuple[str, object]] = [
        (label("kind", language), pharmacy_kind_text(item["kind"], language)),
        (label("rank", language), _standing(item, language)),
        (label("score", language), shown(item["score"])),
        (label("quality_score", language), shown(item["quality_score"])),
        (label("case_penalty", language), shown(item["case_penalty"])),
        (
            label("volume", language),
            ", ".join(f"{label('type_' + k, language)} {v}" for k, v in item["volume"].items()),
        ),
    ]
    if item["parent_code"]:
        facts.insert(1, (label("parent_code", language), item["parent_code"]))
    if item["veto"]:
        facts.append((label("veto_reasons", language), _veto_text(item)))
    story: list[Flowable] = [
        Paragraph(escaped(label("pharmacy_page", language)), styles.small),
        Paragraph(escaped(f"{item['name']}（{item['institution_code']}）"), styles.h1),
        key_values(styles, facts),
        Spacer(1, 3 * mm),
        indicator_table(styles, item, {s.id: s for s in rules.indicators}, language),
    ]
    yes, no = label("yes", language), label("no", language)
    rows = [
        [c["case_id"], c["rule"], label("severity_" + c["severity"], language), c["days_open"],
         yes if c["repeat"] else no, yes if c["veto"] else no, c["points"]]
        for c in item["cases"]
    ]  # fmt: skip
    columns = (("case_id", 36), ("rule", 40), ("severity", 16), ("days_open", 20),
               ("repeat", 20), ("veto", 20), ("points", 22))  # fmt: skip
    story += listing(
        styles, language, "cases_in_period", columns=columns, rows=rows, numeric_from=6
    )
    if item["double_fills"]:
        story += _double_fill_table(styles, item["double_fills"], language, "double_fills")
    story.extend(trend_block(styles, body, item, language))
    return story


def _double_fill_table(
    styles: Styles, rows_of: Sequence[Mapping[str, Any]], language: str, heading: str
) -> list[Flowable]:
    rows = [
        [
            r["record_id"],
            f"{r['institution_code']} {r['name']}",
            "; ".join(
                f"{code} {name}"
                for code, name in zip(r["pharmacies"], r["pharmacy_names"], strict=True)
            ),
            "" if r["prescription"] is None else r["prescription"]["institution_code"],
            r["found_on"],
            r["dispensings"],
        ]
        for r in rows_of
    ]
    columns = (("record_id", 28), ("pharmacy", 34), ("pharmacies_involved", 48),
               ("prescribed_at", 22), ("found_on", 22), ("dispensings_involved", 20))  # fmt: skip
    return listing(styles, language, heading, columns=columns, rows=rows, numeric_from=5)


def pharmacy_story(
    styles: Styles, document: Mapping[str, Any], methodology: Methodology, language: str
) -> list[Flowable]:
    """The pharmacies' pages of an assessment under a methodology with ``[pharmacy]``."""
    rules = methodology.pharmacy
    if rules is None:
        raise ValueError(f"{methodology.version} does not assess pharmacies")
    body = document["assessment"]["pharmacy_assessment"]
    # The trend chart reads the periods from the assessment's body.
    trend_body = {"trend_periods": document["assessment"]["trend_periods"]}
    story: list[Flowable] = [PageBreak()]
    story += _summary(styles, body, language)
    story.append(PageBreak())
    story += _ranking(styles, body, language)
    story.append(PageBreak())
    story += _rules(styles, methodology, language)
    for item in body["pharmacies"]:
        story.append(PageBreak())
        story += _pharmacy_page(styles, trend_body, item, rules, language)
    return story


# -- the digest's drugs section ------------------------------------------------------


def _by_rule(counts: Mapping[str, int], language: str) -> list[list[object]]:
    return [[rule, label_or(rule, language, ""), n] for rule, n in counts.items()]


def _state(state: str, language: str) -> str:
    return label_or(f"finding_state_{state}", language, state)


def drugs_story(styles: Styles, body: Mapping[str, Any], language: str) -> list[Flowable]:
    """The digest's drugs section (digest-v3 on)."""
    drugs = body["drugs"]
    records = drugs["records"]
    story: list[Flowable] = [
        PageBreak(),
        Paragraph(escaped(label("drugs", language)), styles.h1),
        Paragraph(escaped(label("drug_records", language)), styles.h2),
        key_values(
            styles,
            [
                (label("dispensings", language), records["dispensings"]),
                (label("online_dispensings", language), records["online_dispensings"]),
                (label("deliveries", language), records["deliveries"]),
            ],
        ),
    ]
    by_rule_columns = (("rule", 48), ("rule_title", 96), ("count", 24))
    story += listing(
        styles, language, "drug_new_findings", columns=by_rule_columns,
        rows=_by_rule(drugs["new_findings"]["by_rule"], language), numeric_from=2,
    )  # fmt: skip
    story += listing(
        styles, language, "drug_new_cases", columns=by_rule_columns,
        rows=_by_rule(drugs["new_cases"]["by_rule"], language), numeric_from=2,
    )  # fmt: skip
    story += _double_fill_table(styles, drugs["double_fills"], language, "double_fills_digest")
    rows = [
        [
            r["record_id"],
            f"{r['institution_code']} {r['name']}",
            label_or(f"record_type_{r['record_type']}", language, shown(r["record_type"])),
            "" if r["channel"] is None else label(f"channel_{r['channel']}", language),
            r["case_id"] or "",
            _state(r["state"], language),
        ]
        for r in drugs["controlled_online"]
    ]
    columns: Sequence[tuple[str, float]] = (
        ("record_id", 28), ("pharmacy", 46), ("record_type", 16), ("channel", 14),
        ("case_id", 36), ("state", 24),
    )  # fmt: skip
    story += listing(
        styles, language, "controlled_online", columns=columns, rows=rows, numeric_from=6
    )
    rows = [
        [
            r["record_id"],
            f"{r['institution_code']} {r['name']}",
            ", ".join(label(f"reason_{x}", language) for x in r["reasons"]),
            r["case_id"] or "",
            _state(r["state"], language),
        ]
        for r in drugs["cold_chain_breaches"]
    ]
    columns = (("record_id", 28), ("pharmacy", 46), ("reasons", 30), ("case_id", 36),
               ("state", 24))  # fmt: skip
    story += listing(
        styles, language, "cold_chain_breaches", columns=columns, rows=rows, numeric_from=5
    )
    return story
