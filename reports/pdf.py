"""PDF editions of a report, drawn from its data document (what is hashed is what is shown).

Every number printed comes from ``ReportData.document``, never from the
objects it was computed from, so the PDF cannot say something the data does
not. Pages carry the checkpoint in their header and "page n of m" in their
footer. Output is deterministic (reportlab's invariant mode): the same data
and font give the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from .fonts import register_report_font
from .labels import label
from .methodology import IndicatorSpec, Methodology

__all__ = ["render_pdf"]

_INK = colors.HexColor("#1f2a44")
_RULE = colors.HexColor("#9aa5b8")
_BAND = colors.HexColor("#eef1f6")
_ACCENT = colors.HexColor("#2f6db5")
_MARGIN = 18 * mm
_CHART_WIDTH = int(A4[0] - 2 * _MARGIN)  # chart geometry is in whole points


class _Styles:
    def __init__(self, font: str) -> None:
        self.font = font
        self.title = ParagraphStyle("title", fontName=font, fontSize=22, leading=30, textColor=_INK)
        self.subtitle = ParagraphStyle("subtitle", fontName=font, fontSize=13, leading=19)
        self.h1 = ParagraphStyle(
            "h1",
            fontName=font,
            fontSize=15,
            leading=21,
            spaceBefore=6,
            spaceAfter=6,
            textColor=_INK,
        )
        self.h2 = ParagraphStyle(
            "h2",
            fontName=font,
            fontSize=11.5,
            leading=16,
            spaceBefore=8,
            spaceAfter=4,
            textColor=_INK,
        )
        self.body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13)
        self.small = ParagraphStyle("small", fontName=font, fontSize=7.5, leading=10)
        self.cell = ParagraphStyle("cell", fontName=font, fontSize=8, leading=10)
        self.mono = ParagraphStyle("mono", fontName=font, fontSize=7, leading=9, wordWrap="CJK")


def _esc(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _show(value: object) -> str:
    return "–" if value is None or value == "" else str(value)


def _value(value: object, as_rate: bool) -> str:
    """An indicator value as printed: rates as percentages (the data keeps the fraction)."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.2f}%" if as_rate else str(value)  # type: ignore[arg-type]


def _number(value: object) -> float | None:
    if value is None or value == "":
        return None
    return float(value)  # type: ignore[arg-type]


def _table(
    styles: _Styles,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    widths: Sequence[float] | None = None,
    numeric_from: int = 99,
) -> Table:
    """A ruled table with a repeated header row; long text wraps inside its cell."""
    data: list[list[Any]] = [[Paragraph(_esc(h), styles.cell) for h in header]]
    for row in rows:
        data.append(
            [
                Paragraph(_esc(v), styles.cell) if i < numeric_from else _esc(v)
                for i, v in enumerate(row)
            ]
        )
    table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), styles.font),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("BACKGROUND", (0, 0), (-1, 0), _BAND),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, _INK),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, _RULE),
                ("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _key_values(styles: _Styles, pairs: Sequence[tuple[str, object]]) -> Table:
    rows = [[Paragraph(_esc(k), styles.body), Paragraph(_esc(v), styles.mono)] for k, v in pairs]
    table = Table(rows, colWidths=[48 * mm, A4[0] - 2 * _MARGIN - 48 * mm])
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), styles.font),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, _RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _drawing(font: str, height: float) -> Drawing:
    drawing = Drawing(_CHART_WIDTH, height)
    # The renderer starts each drawing in Helvetica unless told otherwise; an unembedded
    # font would then appear in the file, even with no glyph drawn in it.
    drawing.initialFontName = font  # type: ignore[attr-defined]
    return drawing


def _bar_chart(font: str, names: Sequence[str], values: Sequence[float], title: str) -> Drawing:
    """Horizontal bars, one per name, scaled 0..100."""
    height = 30 + 13 * max(1, len(names))
    drawing = _drawing(font, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 150, 10
    chart.width, chart.height = _CHART_WIDTH - 170, height - 30
    chart.data = [list(reversed(values))] if values else [[0]]
    chart.categoryAxis.categoryNames = list(reversed(names)) if names else [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 20
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = _ACCENT
    chart.bars[0].strokeColor = None
    chart.barLabelFormat = "%.1f"
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 6
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    drawing.add(chart)
    drawing.add(String(0, height - 12, title, fontName=font, fontSize=9, fillColor=_INK))
    return drawing


def _column_chart(font: str, names: Sequence[str], values: Sequence[float], title: str) -> Drawing:
    drawing = _drawing(font, 150)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 25, _CHART_WIDTH - 60, 100
    chart.data = [list(values) or [0]]
    chart.categoryAxis.categoryNames = list(names) or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    top = max([*values, 1.0])
    chart.valueAxis.valueMin, chart.valueAxis.valueMax = 0, top
    chart.valueAxis.valueStep = max(1, math.ceil(top / 5))  # counts: whole steps
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = _ACCENT
    chart.bars[0].strokeColor = None
    drawing.add(chart)
    drawing.add(String(0, 138, title, fontName=font, fontSize=9, fillColor=_INK))
    return drawing


def _trend_chart(
    font: str, periods: Sequence[str], series: Sequence[float | None], title: str
) -> Drawing:
    """The score over the trend periods; gaps where a period had no score."""
    drawing = _drawing(font, 130)
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 40, 22, _CHART_WIDTH - 60, 85
    chart.data = [list(series)]
    chart.categoryAxis.categoryNames = list(periods)
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 25
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.lines[0].strokeColor = _ACCENT
    chart.lines[0].strokeWidth = 1.5
    chart.lines[0].symbol = makeMarker("FilledCircle")  # type: ignore[no-untyped-call]  # a lone period shows
    chart.joinedLines = 1
    drawing.add(chart)
    drawing.add(String(0, 118, title, fontName=font, fontSize=9, fillColor=_INK))
    return drawing


class _NumberedCanvas(Canvas):
    """Holds pages until the end so each footer can say "page n of m"."""

    def __init__(self, *args: Any, header: str, language: str, font: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []
        self._header = header
        self._language = language
        self._font = font

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()  # type: ignore[attr-defined]  # reportlab: new page

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._decorate(total)
            super().showPage()
        super().save()

    def _decorate(self, total: int) -> None:
        width, height = A4
        self.saveState()
        self.setFont(self._font, 7.5)
        self.setFillColor(_INK)
        self.drawString(_MARGIN, height - 11 * mm, self._header)
        self.setStrokeColor(_RULE)
        self.setLineWidth(0.5)
        self.line(_MARGIN, height - 12.5 * mm, width - _MARGIN, height - 12.5 * mm)
        self.drawRightString(
            width - _MARGIN,
            10 * mm,
            label("page", self._language, page=self.getPageNumber(), pages=total),
        )
        self.restoreState()


def _cover(
    styles: _Styles,
    document: Mapping[str, Any],
    language: str,
    title_key: str,
    data_sha256: str,
) -> list[Flowable]:
    basis = document["basis"]
    pairs: list[tuple[str, object]] = [
        (label("report_id", language), document["report_id"]),
        (label("log_origin", language), basis["log_origin"]),
        (label("tree_size", language), basis["tree_size"]),
        (label("root_hash", language), basis["root_hash"]),
    ]
    if basis["methodology"] is not None:
        methodology = basis["methodology"]
        pairs.append(
            (
                label("methodology", language),
                f"{methodology['version']}  sha256 {methodology['sha256']}",
            )
        )
    versions = ", ".join(f"{k} {v}" for k, v in basis["reference_versions"].items())
    pairs.append((label("reference_versions", language), versions or label("none", language)))
    pairs.append((label("unreadable", language), basis["records_unreadable"]))
    pairs.append((label("data_sha256", language), data_sha256))
    period_key = "period" if document["kind"] == "assessment" else "digest_period"
    return [
        Spacer(1, 30 * mm),
        Paragraph(_esc(label(title_key, language)), styles.title),
        Spacer(1, 4 * mm),
        Paragraph(_esc(label("authority", language)), styles.subtitle),
        Paragraph(
            f"{_esc(label(period_key, language))}：{_esc(document['period'])}"
            if language == "zh"
            else f"{_esc(label(period_key, language))}: {_esc(document['period'])}",
            styles.subtitle,
        ),
        Spacer(1, 18 * mm),
        Paragraph(_esc(label("basis", language)), styles.h2),
        _key_values(styles, pairs),
        Spacer(1, 5 * mm),
        Paragraph(_esc(label("verify_hint", language)), styles.small),
        PageBreak(),
    ]


def _kind_text(kind: str, language: str) -> str:
    key = f"kind_{kind}"
    try:
        return label(key, language)
    except KeyError:
        return kind


def _assessment_story(
    styles: _Styles, document: Mapping[str, Any], methodology: Methodology, language: str
) -> list[Flowable]:
    body = document["assessment"]
    province = body["province"]
    institutions = body["institutions"]
    story: list[Flowable] = [Paragraph(_esc(label("summary", language)), styles.h1)]
    story.append(
        _key_values(
            styles,
            [
                (label("institutions_assessed", language), province["institutions"]),
                (label("institutions_ranked", language), province["ranked"]),
                (label("records", language), province["records"]),
                (label("mean_score", language), _show(province["mean_score"])),
                (label("median_score", language), _show(province["median_score"])),
            ],
        )
    )
    ranked = [i for i in institutions if i["ranked"] and i["score"] is not None][:20]
    story.append(Spacer(1, 4 * mm))
    story.append(
        _bar_chart(
            styles.font,
            [i["name"][:14] for i in ranked],
            [float(i["score"]) for i in ranked],
            label("score_distribution", language),
        )
    )
    story.append(PageBreak())
    story.append(Paragraph(_esc(label("ranking", language)), styles.h1))
    story.append(
        Paragraph(
            _esc(label("not_ranked_note", language, min_records=methodology.min_records)),
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
            _show(i["score"]),
        ]
        for i in institutions
    ]
    header = [label(k, language) for k in ("rank", "code", "name", "kind", "volume", "score")]
    story.append(
        _table(
            styles,
            header,
            rows,
            [16 * mm, 28 * mm, 60 * mm, 34 * mm, 18 * mm, 18 * mm],
            numeric_from=4,
        )
    )
    story.append(PageBreak())
    story.append(Paragraph(_esc(label("indicators", language)), styles.h1))
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
    story.append(_table(styles, header, spec_rows, [40 * mm, 14 * mm, 22 * mm, 98 * mm]))
    specs = {spec.id: spec for spec in methodology.indicators}
    for item in institutions:
        story.append(PageBreak())
        story.extend(_institution_page(styles, body, item, specs, language))
    return story


def _institution_page(
    styles: _Styles,
    body: Mapping[str, Any],
    item: Mapping[str, Any],
    specs: Mapping[str, IndicatorSpec],
    language: str,
) -> list[Flowable]:
    rank = item["rank"] if item["ranked"] else label("not_ranked", language)
    heading = f"{item['name']}（{item['institution_code']}）"
    story: list[Flowable] = [
        Paragraph(_esc(label("institution_page", language)), styles.small),
        Paragraph(_esc(heading), styles.h1),
        _key_values(
            styles,
            [
                (label("kind", language), _kind_text(item["kind"], language)),
                (label("rank", language), rank),
                (label("score", language), _show(item["score"])),
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
                _show(i["numerator"]),
                _show(i["denominator"]),
                _value(i["value"], as_rate),
                _show(i["score"]),
                _value(item["province_median"].get(i["id"]), as_rate),
                _value(item["peer_median"].get(i["id"]), as_rate),
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
        _table(
            styles,
            header,
            rows,
            [44 * mm, 20 * mm, 25 * mm, 18 * mm, 17 * mm, 24 * mm, 24 * mm],
            numeric_from=1,
        )
    )
    trend = [_number(v) for v in item["trend"]]
    if any(v is not None for v in trend):
        story.append(Spacer(1, 4 * mm))
        story.append(
            KeepTogether(
                _trend_chart(styles.font, body["trend_periods"], trend, label("trend", language))
            )
        )
    return story


def _listing(
    styles: _Styles,
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
        Paragraph(_esc(label(heading, language)), styles.h2),
        _table(styles, header, rows or empty, widths, numeric_from=numeric_from),
    ]


def _digest_story(styles: _Styles, document: Mapping[str, Any], language: str) -> list[Flowable]:
    body = document["digest"]
    new = body["new_findings"]
    story: list[Flowable] = [Paragraph(_esc(label("new_findings", language)), styles.h1)]
    severities = list(new["by_severity"].items())
    story.append(
        _column_chart(
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
    story.append(Paragraph(_esc(label("top_risks", language)), styles.h1))
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
        ("finding_id", 50), ("rule", 28), ("code", 34), ("deadline", 26), ("days_overdue", 22),
    )  # fmt: skip
    story += _listing(styles, language, "overdue", columns=columns, rows=rows, numeric_from=4)
    story.append(Paragraph(_esc(label("anomalies", language)), styles.h1))
    rows = [
        [r["institution_code"], r["day"], r["records"], r["baseline_median"], r["robust_z"]]
        for r in body["volume_spikes"]
    ]
    columns = (("code", 40), ("day", 28), ("records", 24), ("baseline_median", 30),
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
    story.append(Paragraph(_esc(label("changes", language)), styles.h1))
    compared = ("new_findings", "high_findings", "overdue_rectifications", "records_now",
                "records_before")  # fmt: skip
    story.append(
        _key_values(
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
    styles = _Styles(font)
    kind = document["kind"]
    title_key = f"{kind}_title"
    basis = document["basis"]
    header = (
        f"{label(title_key, language)} · {document['period']} · "
        f"{label('header_checkpoint', language)} {basis['log_origin']} "
        f"#{basis['tree_size']} {basis['root_hash'][:16]}…"
    )
    story = _cover(styles, document, language, title_key, data_sha256)
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
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
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

    def canvas_maker(*args: Any, **kwargs: Any) -> _NumberedCanvas:
        return _NumberedCanvas(*args, header=header, language=language, font=font, **kwargs)

    doc.build(story, canvasmaker=canvas_maker)
    return out.getvalue()
