"""The look of report PDFs: colours, styles, tables, charts, the numbered page canvas and
the cover, shared by every kind of report. Nothing here knows what a report says."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
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
    Flowable,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from .labels import label
from .periods import parse_period

__all__ = [
    "MARGIN",
    "NumberedCanvas",
    "Styles",
    "as_number",
    "bar_chart",
    "column_chart",
    "cover",
    "data_table",
    "escaped",
    "key_values",
    "kind_text",
    "listing",
    "shown",
    "trend_chart",
    "value_text",
]

_INK = colors.HexColor("#1f2a44")
_RULE = colors.HexColor("#9aa5b8")
_BAND = colors.HexColor("#eef1f6")
_ACCENT = colors.HexColor("#2f6db5")
MARGIN = 18 * mm
_CHART_WIDTH = int(A4[0] - 2 * MARGIN)  # chart geometry is in whole points


class Styles:
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


def escaped(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shown(value: object) -> str:
    return "–" if value is None or value == "" else str(value)


def value_text(value: object, as_rate: bool) -> str:
    """An indicator value as printed: rates as percentages (the data keeps the fraction)."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.2f}%" if as_rate else str(value)  # type: ignore[arg-type]


def as_number(value: object) -> float | None:
    if value is None or value == "":
        return None
    return float(value)  # type: ignore[arg-type]


def data_table(
    styles: Styles,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    widths: Sequence[float] | None = None,
    numeric_from: int = 99,
) -> Table:
    """A ruled table with a repeated header row; long text wraps inside its cell."""
    data: list[list[Any]] = [[Paragraph(escaped(h), styles.cell) for h in header]]
    for row in rows:
        data.append(
            [
                Paragraph(escaped(v), styles.cell) if i < numeric_from else escaped(v)
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


def key_values(styles: Styles, pairs: Sequence[tuple[str, object]]) -> Table:
    rows = [
        [Paragraph(escaped(k), styles.body), Paragraph(escaped(v), styles.mono)] for k, v in pairs
    ]
    table = Table(rows, colWidths=[48 * mm, A4[0] - 2 * MARGIN - 48 * mm])
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


def bar_chart(font: str, names: Sequence[str], values: Sequence[float], title: str) -> Drawing:
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


def column_chart(font: str, names: Sequence[str], values: Sequence[float], title: str) -> Drawing:
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


def trend_chart(
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


class NumberedCanvas(Canvas):
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
        self.drawString(MARGIN, height - 11 * mm, self._header)
        self.setStrokeColor(_RULE)
        self.setLineWidth(0.5)
        self.line(MARGIN, height - 12.5 * mm, width - MARGIN, height - 12.5 * mm)
        self.drawRightString(
            width - MARGIN,
            10 * mm,
            label("page", self._language, page=self.getPageNumber(), pages=total),
        )
        self.restoreState()


def cover(
    styles: Styles,
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
    period = parse_period(document["period"])
    bounds = label(
        "period_bounds",
        language,
        start=period.start.isoformat(),
        end=(period.last + timedelta(days=1)).isoformat(),
    )
    return [
        Spacer(1, 30 * mm),
        Paragraph(escaped(label(title_key, language)), styles.title),
        Spacer(1, 4 * mm),
        Paragraph(escaped(label("authority", language)), styles.subtitle),
        Paragraph(
            f"{escaped(label(period_key, language))}：{escaped(document['period'])}"
            if language == "zh"
            else f"{escaped(label(period_key, language))}: {escaped(document['period'])}",
            styles.subtitle,
        ),
        Paragraph(escaped(bounds), styles.body),
        Spacer(1, 18 * mm),
        Paragraph(escaped(label("basis", language)), styles.h2),
        key_values(styles, pairs),
        Spacer(1, 5 * mm),
        Paragraph(escaped(label("verify_hint", language)), styles.small),
        Paragraph(escaped(label("time_zone_note", language)), styles.small),
        PageBreak(),
    ]


def kind_text(kind: str, language: str) -> str:
    """An institution kind in ``language`` (the code itself when it has no label)."""
    key = f"kind_{kind}"
    try:
        return label(key, language)
    except KeyError:
        return kind


def listing(
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
