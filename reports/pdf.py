"""PDF editions of a report, drawn from its data document (what is hashed is what is shown).

Every number printed comes from ``ReportData.document``, never from the
objects it was computed from, so the PDF cannot say something the data does
not. Pages carry the checkpoint in their header and "page n of m" in their
footer. Output is deterministic (reportlab's invariant mode): the same data
and font give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

from .fonts import register_report_font
from .labels import label
from .methodology import IndicatorSpec, Methodology
from .pdf_layout import (
    MARGIN,
    NumberedCanvas,
    Styles,
    as_number,
    bar_chart,
    column_chart,
    cover,
    data_table,
    escaped,
    key_values,
    shown,
    trend_chart,
    value_text,
)

__all__ = ["render_pdf"]


def _kind_text(kind: str, language: str) -> str:
    key = f"kind_{kind}"
    try:
        return label(key, language)
    except KeyError:
        return kind


def _assessment_story(
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
            _kind_text(i["kind"], language),
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
    story.append(data_table(styles, header, spec_rows, [40 * mm, 14 * mm, 22 * mm, 98 * mm]))
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
                (label("kind", language), _kind_text(item["kind"], language)),
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
    story.append(
        data_table(
            styles,
            header,
            rows,
            [44 * mm, 20 * mm, 25 * mm, 18 * mm, 17 * mm, 24 * mm, 24 * mm],
            numeric_from=1,
        )
    )
    trend = [as_number(v) for v in item["trend"]]
    if any(v is not None for v in trend):
        story.append(Spacer(1, 4 * mm))
        story.append(
            KeepTogether(
                trend_chart(styles.font, body["trend_periods"], trend, label("trend", language))
            )
        )
    return story


def _listing(
    styles: Styles,
    language: str,
    heading: str,
    *,
    columns: Sequence[tuple[str, float]],
    rows: Sequence[Sequence[object]],
    numeric_from: int,
) -> list[Flowable]:
    """A sub-heading and a table whose columns are (label key, width in mm); "none" if empty."""
    header = [label(key, language) for key, _ in columns]
    widths = [width * mm for _, width in columns]
    empty = [[label("none", language)] + [""] * (len(columns) - 1)]
    return [
        Paragraph(escaped(label(heading, language)), styles.h2),
        data_table(styles, header, rows or empty, widths, numeric_from=numeric_from),
    ]


def _digest_story(styles: Styles, document: Mapping[str, Any], language: str) -> list[Flowable]:
    body = document["digest"]
    new = body["new_findings"]
    story: list[Flowable] = [Paragraph(escaped(label("new_findings", language)), styles.h1)]
    severities = list(new["by_severity"].items())
    story.append(
        column_chart(
            styles.font,
            [label(f"severity_{s}", language) for s, _ in severities],
            [float(n) for _, n in severities],
            f"{label('by_severity', language)} ({new['total']})",
        )
    )
    counted = (("rule", "by_rule"), ("code", "by_institution"))
    for subject, section in counted:
        story += _listing(
            styles, language, section, columns=((subject, 60), ("count", 25)),
            rows=list(new[section].items()), numeric_from=1,
        )  # fmt: skip
    story.append(PageBreak())
    story.append(Paragraph(escaped(label("top_risks", language)), styles.h1))
    risk_columns = (("name", 50), ("risk_points", 25), ("findings", 25), ("high", 25))
    for section, who in (("top_institutions", "code"), ("top_practitioners", "licence")):
        rows = [
            [r["code"], r["name"], r["risk_points"], r["findings"], r["high"]]
            for r in body[section]
        ]
        story += _listing(
            styles, language, section, columns=((who, 40), *risk_columns), rows=rows,
            numeric_from=2,
        )  # fmt: skip
    rows = [
        [r["finding_id"], r["rule"], r["institution_code"], r["deadline"], r["days_overdue"]]
        for r in body["overdue_rectifications"]
    ]
    columns: Sequence[tuple[str, float]] = (
        ("finding_id", 44), ("rule", 28), ("code", 32), ("deadline", 34), ("days_overdue", 22),
    )  # fmt: skip
    story += _listing(styles, language, "overdue", columns=columns, rows=rows, numeric_from=4)
    story.append(Paragraph(escaped(label("anomalies", language)), styles.h1))
    rows = [
        [r["institution_code"], r["day"], r["records"], r["baseline_median"], r["robust_z"]]
        for r in body["volume_spikes"]
    ]
    columns = (("code", 36), ("day", 32), ("records", 24), ("baseline_median", 30),
               ("robust_z", 24))  # fmt: skip
    story += _listing(styles, language, "volume_spikes", columns=columns, rows=rows, numeric_from=2)
    rows = [
        [r["license_no"], r["name"], r["prescriptions"], r["mean_amount"],
         ", ".join(label(f"reason_{x}", language) for x in r["reasons"])]
        for r in body["prescribing_anomalies"]
    ]  # fmt: skip
    columns = (("licence", 34), ("practitioner", 30), ("prescriptions", 22),
               ("mean_amount", 30), ("reasons", 40))  # fmt: skip
    story += _listing(
        styles, language, "prescribing_anomalies", columns=columns, rows=rows, numeric_from=2
    )
    changes = body["changes"]
    story.append(Paragraph(escaped(label("changes", language)), styles.h1))
    compared = ("new_findings", "high_findings", "overdue_rectifications", "records_now",
                "records_before")  # fmt: skip
    story.append(
        key_values(
            styles,
            [(label("previous_period", language), changes["previous_period"])]
            + [(label(key, language), changes[key]) for key in compared if key in changes],
        )
    )
    return story


def render_pdf(
    document: Mapping[str, Any],
    language: str,
    *,
    data_sha256: str,
    methodology: Methodology | None = None,
) -> bytes:
    """The PDF edition of a report's data document in ``language`` (``zh`` or ``en``).

    Raises ``FontMissingError`` when no CJK font is installed.
    """
    font = register_report_font()
    styles = Styles(font)
    kind = document["kind"]
    title_key = f"{kind}_title"
    basis = document["basis"]
    header = (
        f"{label(title_key, language)} · {document['period']} {label('china_time', language)} · "
        f"{label('header_checkpoint', language)} {basis['log_origin']} "
        f"#{basis['tree_size']} {basis['root_hash'][:16]}…"
    )
    story = cover(styles, document, language, title_key, data_sha256)
    if kind == "assessment":
        if methodology is None:
            raise ValueError("an assessment is rendered with its methodology")
        story += _assessment_story(styles, document, methodology, language)
    else:
        story += _digest_story(styles, document, language)
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=18 * mm,
        bottomMargin=16 * mm,
        title=f"{label(title_key, language)} {document['period']}",
        author=label("authority", language),
        subject=document["report_id"],
        creator="careledger",
        invariant=1,
        initialFontName=font,  # no unembedded Helvetica anywhere in the file
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body")
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])

    def canvas_maker(*args: Any, **kwargs: Any) -> NumberedCanvas:
        return NumberedCanvas(*args, header=header, language=language, font=font, **kwargs)

    doc.build(story, canvasmaker=canvas_maker)
    return out.getvalue()
