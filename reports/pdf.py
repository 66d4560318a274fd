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
    PageBreak,
    PageTemplate,
    Paragraph,
)

from .fonts import register_report_font
from .labels import label
from .methodology import Methodology
from .pdf_assessment import assessment_story
from .pdf_assessment_v2 import assessment_v2_story
from .pdf_layout import (
    MARGIN,
    NumberedCanvas,
    Styles,
    column_chart,
    cover,
    escaped,
    key_values,
    listing,
)
from .pdf_pharmacy import drugs_story, pharmacy_story

__all__ = ["render_pdf"]


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
        story += listing(
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
        story += listing(
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
    story += listing(styles, language, "overdue", columns=columns, rows=rows, numeric_from=4)
    if "escalated_cases" in body:  # digest-v2 on; a v1 digest's PDF stays as it was
        story += _case_sections(styles, body, language)
    story.append(Paragraph(escaped(label("anomalies", language)), styles.h1))
    rows = [
        [r["institution_code"], r["day"], r["records"], r["baseline_median"], r["robust_z"]]
        for r in body["volume_spikes"]
    ]
    columns = (("code", 36), ("day", 32), ("records", 24), ("baseline_median", 30),
               ("robust_z", 24))  # fmt: skip
    story += listing(styles, language, "volume_spikes", columns=columns, rows=rows, numeric_from=2)
    rows = [
        [r["license_no"], r["name"], r["prescriptions"], r["mean_amount"],
         ", ".join(label(f"reason_{x}", language) for x in r["reasons"])]
        for r in body["prescribing_anomalies"]
    ]  # fmt: skip
    columns = (("licence", 34), ("practitioner", 30), ("prescriptions", 22),
               ("mean_amount", 30), ("reasons", 40))  # fmt: skip
    story += listing(
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
    if "drugs" in body:  # digest-v3 on; earlier editions' PDFs stay as they were
        story += drugs_story(styles, body, language)
    return story


def _case_sections(styles: Styles, body: Mapping[str, Any], language: str) -> list[Flowable]:
    """Cases escalated in the period and notices overdue at its end (digest-v2)."""
    rows = [
        [r["case_id"], r["rule"], r["institution_code"], label(f"severity_{r['severity']}",
         language), r["day"], r["deadline"] or ""]
        for r in body["escalated_cases"]
    ]  # fmt: skip
    columns: Sequence[tuple[str, float]] = (
        ("case_id", 36), ("rule", 40), ("code", 28), ("severity", 14), ("escalated_on", 28),
        ("deadline", 28),
    )  # fmt: skip
    story = listing(styles, language, "escalated_cases", columns=columns, rows=rows, numeric_from=6)
    rows = [
        [r["notice_id"], r["case_id"], r["rule"], r["institution_code"], r["deadline"],
         r["days_overdue"], r["answers"]]
        for r in body["overdue_notices"]
    ]  # fmt: skip
    columns = (
        ("notice_id", 34), ("case_id", 34), ("rule", 38), ("code", 26), ("deadline", 18),
        ("days_overdue", 12), ("answers", 12),
    )  # fmt: skip
    story += listing(
        styles, language, "overdue_notices", columns=columns, rows=rows, numeric_from=5
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
        if methodology.case_penalty is None:
            story += assessment_story(styles, document, methodology, language)
        else:
            story += assessment_v2_story(styles, document, methodology, language)
        if methodology.pharmacy is not None:  # assessment-v3 on
            story += pharmacy_story(styles, document, methodology, language)
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
