"""The PDF story of an assessment computed under assessment-v2: the spread of rated
scores, the ranking with vetoed institutions (不予评级) last and why, the rules, and a
page per institution with the cases that cost it points."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, PageBreak, Paragraph, Spacer

from .labels import label
from .methodology import Methodology
from .pdf_assessment import indicator_table, methodology_table, trend_block
from .pdf_layout import Styles, bar_chart, data_table, escaped, key_values, kind_text, shown

__all__ = ["assessment_v2_story"]


def _standing(item: Mapping[str, Any], language: str) -> object:
    """The rank, or why there is none."""
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
    rated = [i for i in body["institutions"] if i["score"] is not None][:20]
    return [
        Paragraph(escaped(label("summary", language)), styles.h1),
        key_values(
            styles,
            [
                (label("institutions_assessed", language), province["institutions"]),
                (label("institutions_ranked", language), province["ranked"]),
                (label("institutions_rated", language), province["rated"]),
                (label("institutions_vetoed", language), province["vetoed"]),
                (label("records", language), province["records"]),
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
            [i["name"][:14] for i in rated],
            [float(i["score"]) for i in rated],
            label("rated_scores", language),
        ),
    ]


def _ranking(
    styles: Styles, body: Mapping[str, Any], methodology: Methodology, language: str
) -> list[Flowable]:
    institutions = body["institutions"]
    rows = [
        [
            _standing(i, language),
            i["institution_code"],
            i["name"],
            kind_text(i["kind"], language),
            sum(int(v) for v in i["volume"].values()),
            shown(i["quality_score"]),
            shown(i["case_penalty"]),
            shown(i["score"]),
        ]
        for i in institutions
    ]
    header = [
        label(k, language)
        for k in (
            "rank",
            "code",
            "name",
            "kind",
            "volume",
            "quality_score",
            "case_penalty",
            "score",
        )
    ]
    story: list[Flowable] = [
        Paragraph(escaped(label("ranking", language)), styles.h1),
        Paragraph(
            escaped(
                label("not_ranked_note", language, min_records=methodology.min_records)
                + " "
                + label("vetoed_note", language)
            ),
            styles.small,
        ),
        data_table(
            styles,
            header,
            rows,
            [18 * mm, 26 * mm, 44 * mm, 24 * mm, 14 * mm, 16 * mm, 16 * mm, 16 * mm],
            numeric_from=4,
        ),
    ]
    vetoed = [i for i in institutions if i["rating"] == "vetoed"]
    story.append(Paragraph(escaped(label("veto_heading", language)), styles.h2))
    rows = [[i["institution_code"], i["name"], _veto_text(i)] for i in vetoed] or [
        [label("none", language), "", ""]
    ]
    header = [label(k, language) for k in ("code", "name", "veto_reasons")]
    story.append(data_table(styles, header, rows, [30 * mm, 50 * mm, 94 * mm]))
    return story


def _rules(styles: Styles, methodology: Methodology, language: str) -> list[Flowable]:
    penalty = methodology.case_penalty
    assert penalty is not None
    points = ", ".join(
        f"{label('severity_' + s, language)} {p:g}" for s, p in penalty.severity_points.items()
    )
    return [
        Paragraph(escaped(label("indicators", language)), styles.h1),
        methodology_table(styles, methodology, language),
        Spacer(1, 4 * mm),
        Paragraph(escaped(label("case_rules", language)), styles.h2),
        key_values(
            styles,
            [
                (label("veto_rules", language), ", ".join(methodology.veto_rules)),
                (
                    label("penalised_groupings", language),
                    ", ".join(label("grouping_" + g, language) for g in penalty.groupings),
                ),
                (label("severity_points", language), points),
                (label("duration_cap_days", language), penalty.duration_cap_days),
                (label("repeat_factor", language), f"{penalty.repeat_factor:g}"),
                (label("penalty_formula", language), label("penalty_formula_text", language)),
            ],
        ),
    ]


def _institution_page(
    styles: Styles,
    body: Mapping[str, Any],
    item: Mapping[str, Any],
    methodology: Methodology,
    language: str,
) -> list[Flowable]:
    heading = f"{item['name']}（{item['institution_code']}）"
    facts = [
        (label("kind", language), kind_text(item["kind"], language)),
        (label("rank", language), _standing(item, language)),
        (label("score", language), shown(item["score"])),
        (label("quality_score", language), shown(item["quality_score"])),
        (label("case_penalty", language), shown(item["case_penalty"])),
        (
            label("volume", language),
            ", ".join(f"{label('type_' + k, language)} {v}" for k, v in item["volume"].items()),
        ),
    ]
    if item["veto"]:
        facts.append((label("veto_reasons", language), _veto_text(item)))
    story: list[Flowable] = [
        Paragraph(escaped(label("institution_page", language)), styles.small),
        Paragraph(escaped(heading), styles.h1),
        key_values(styles, facts),
        Spacer(1, 3 * mm),
        indicator_table(styles, item, {s.id: s for s in methodology.indicators}, language),
        Spacer(1, 3 * mm),
        Paragraph(escaped(label("cases_counted", language)), styles.h2),
    ]
    yes, no = label("yes", language), label("no", language)
    rows = [
        [c["case_id"], c["rule"], label("severity_" + c["severity"], language), c["days_open"],
         yes if c["repeat"] else no, yes if c["veto"] else no, c["points"]]
        for c in item["cases"]
    ] or [[label("none", language), "", "", "", "", "", ""]]  # fmt: skip
    header = [
        label(k, language)
        for k in ("case_id", "rule", "severity", "days_open", "repeat", "veto", "points")
    ]
    story.append(
        data_table(
            styles,
            header,
            rows,
            [36 * mm, 36 * mm, 18 * mm, 22 * mm, 20 * mm, 20 * mm, 22 * mm],
            numeric_from=6,
        )
    )
    story.extend(trend_block(styles, body, item, language))
    return story


def assessment_v2_story(
    styles: Styles, document: Mapping[str, Any], methodology: Methodology, language: str
) -> list[Flowable]:
    body = document["assessment"]
    story = _summary(styles, body, language)
    story.append(PageBreak())
    story += _ranking(styles, body, methodology, language)
    story.append(PageBreak())
    story += _rules(styles, methodology, language)
    for item in body["institutions"]:
        story.append(PageBreak())
        story += _institution_page(styles, body, item, methodology, language)
    return story
