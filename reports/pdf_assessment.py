"""The PDF story of an assessment computed under assessment-v1: summary, ranking, the
methodology's indicators, and a page per institution (``render_pdf`` draws it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, PageBreak, Paragraph, Spacer

from .labels import label
from .methodology import IndicatorSpec, Methodology
from .pdf_layout import (
    Styles,
    as_number,
    bar_chart,
    data_table,
    escaped,
    key_values,
    kind_text,
    shown,
    trend_chart,
    value_text,
)

__all__ = ["assessment_story", "indicator_table", "methodology_table", "trend_block"]


def assessment_story(
    styles: Styles, document: Mapping[str, Any], methodology: Methodology, language: str
) -> list[Flowable]:
    body = document["assessment"]
    province = body["province"]
    institutions = body["institutions"]
    story: list[Flowable] = [Paragraph(escaped(label("summary", language)), styles.h1)]
    story.append(
        key_values(
            styles,
            [
                (label("institutions_assessed", language), province["institutions"]),
                (label("institutions_ranked", language), province["ranked"]),
                (label("records", language), province["records"]),
                (label("mean_score", language), shown(province["mean_score"])),
                (label("median_score", language), shown(province["median_score"])),
            ],
        )
    )
    ranked = [i for i in institutions if i["ranked"] and i["score"] is not None][:20]
    story.append(Spacer(1, 4 * mm))
    story.append(
        bar_chart(
            styles.font,
            [i["name"][:14] for i in ranked],
            [float(i["score"]) for i in ranked],
            label("score_distribution", language),
        )
    )
    story.append(PageBreak())
    story.append(Paragraph(escaped(label("ranking", language)), styles.h1))
    story.append(
        Paragraph(
            escaped(label("not_ranked_note", language, min_records=methodology.min_records)),
            styles.small,
        )
    )
    rows = [
        [
            i["rank"] if i["ranked"] else label("not_ranked", language),
            i["institution_code"],
            i["name"],
            kind_text(i["kind"], language),
            sum(int(v) for v in i["volume"].values()),
            shown(i["score"]),
        ]
        for i in institutions
    ]
    header = [label(k, language) for k in ("rank", "code", "name", "kind", "volume", "score")]
    story.append(
        data_table(
            styles,
            header,
            rows,
            [16 * mm, 28 * mm, 60 * mm, 34 * mm, 18 * mm, 18 * mm],
            numeric_from=4,
        )
    )
    story.append(PageBreak())
    story.append(Paragraph(escaped(label("indicators", language)), styles.h1))
    story.append(methodology_table(styles, methodology, language))
    specs = {spec.id: spec for spec in methodology.indicators}
    for item in institutions:
        story.append(PageBreak())
        story.extend(_institution_page(styles, body, item, specs, language))
    return story


def _institution_page(
    styles: Styles,
    body: Mapping[str, Any],
    item: Mapping[str, Any],
    specs: Mapping[str, IndicatorSpec],
    language: str,
) -> list[Flowable]:
    rank = item["rank"] if item["ranked"] else label("not_ranked", language)
    heading = f"{item['name']}（{item['institution_code']}）"
    story: list[Flowable] = [
        Paragraph(escaped(label("institution_page", language)), styles.small),
        Paragraph(escaped(heading), styles.h1),
        key_values(
            styles,
            [
                (label("kind", language), kind_text(item["kind"], language)),
                (label("rank", language), rank),
                (label("score", language), shown(item["score"])),
                (
                    label("volume", language),
                    ", ".join(
                        f"{label('type_' + k, language)} {v}" for k, v in item["volume"].items()
                    ),
                ),
            ],
        ),
        Spacer(1, 3 * mm),
    ]
    story.append(indicator_table(styles, item, specs, language))
    story.extend(trend_block(styles, body, item, language))
    return story


def methodology_table(styles: Styles, methodology: Methodology, language: str) -> Flowable:
    """The methodology's indicators: name, weight, direction, definition."""
    direction = {
        "up": label("direction_up", language),
        "down": label("direction_down", language),
    }
    spec_rows = [
        [
            spec.name(language),
            f"{spec.weight:g}",
            direction.get(spec.direction, label("direction_none", language)),
            f"{spec.definition} {label('numerator', language)}: {spec.numerator}; "
            f"{label('denominator', language)}: {spec.denominator}",
        ]
        for spec in methodology.indicators
    ]
    header = [label(k, language) for k in ("indicator", "weight", "direction", "definition")]
    return data_table(styles, header, spec_rows, [40 * mm, 14 * mm, 22 * mm, 98 * mm])


def indicator_table(
    styles: Styles,
    item: Mapping[str, Any],
    specs: Mapping[str, IndicatorSpec],
    language: str,
) -> Flowable:
    """One institution's indicators beside the province's and its peers' medians."""
    rows = []
    for i in item["indicators"]:
        spec = specs.get(i["id"])
        as_rate = spec is not None and spec.score == "rate"
        rows.append(
            [
                spec.name(language) if spec is not None else i["id"],
                shown(i["numerator"]),
                shown(i["denominator"]),
                value_text(i["value"], as_rate),
                shown(i["score"]),
                value_text(item["province_median"].get(i["id"]), as_rate),
                value_text(item["peer_median"].get(i["id"]), as_rate),
            ]
        )
    header = [
        label(k, language)
        for k in (
            "indicator",
            "numerator",
            "denominator",
            "value",
            "indicator_score",
            "province_median",
            "peer_median",
        )
    ]
    return data_table(
        styles,
        header,
        rows,
        [44 * mm, 20 * mm, 25 * mm, 18 * mm, 17 * mm, 24 * mm, 24 * mm],
        numeric_from=1,
    )


def trend_block(
    styles: Styles, body: Mapping[str, Any], item: Mapping[str, Any], language: str
) -> list[Flowable]:
    """The institution's score over the trend periods (nothing when it has none)."""
    story: list[Flowable] = []
    trend = [as_number(v) for v in item["trend"]]
    if any(v is not None for v in trend):
        story.append(Spacer(1, 4 * mm))
        story.append(
            KeepTogether(
                trend_chart(styles.font, body["trend_periods"], trend, label("trend", language))
            )
        )
    return story
