"""Reports over cases on a small real ledger: notices issued and answered through the
case service, responsiveness counted from them, escalations and overdue notices in the
digest, report facts that agree with the portal's cases, and v1 reports that still verify
(and regenerate byte for byte) after case and notice entries are appended."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from ledger.database import read_transaction
from reports.methodology import methodology_version
from supervisor.cases.responses import sign_response
from supervisor.cases.service import CaseFilter
from supervisor.cli import cli
from supervisor.database import tables
from supervisor.reporting.service import Generated
from supervisor.reporting.sources import read_ledger_facts
from tests.supervisor.conftest import CST, Portal, make_portal

pytestmark = pytest.mark.database

REGULATOR = frozenset({"regulator"})


@pytest.fixture
def portal(tmp_path: Path, database_url: str) -> Iterator[Portal]:
    portal = make_portal(tmp_path / "var", database_url)
    yield portal
    portal.assert_log_verifies()
    portal.services.engine.dispose()


def _answer(portal: Portal, notice_id: str, response_id: str) -> None:
    envelope = sign_response(
        portal.key.seed,
        {
            "platform_id": portal.platform_id,
            "key_id": portal.key.key_id,
            "notice_id": notice_id,
            "response_id": response_id,
            "created_at": portal.clock.now.isoformat(),
            "kind": "rectified",
            "statement": "已整改",
            "attachments": [],
        },
    )
    assert portal.services.cases.respond(envelope).created


def _on(portal: Portal, day: date) -> None:
    """Move the clock to 10:00 China time on ``day``."""
    portal.clock.now = datetime(day.year, day.month, day.day, 10, tzinfo=CST)


def _files(portal: Portal, generated: Generated) -> dict[str, bytes]:
    reports = portal.services.reports
    return {
        kind: reports.file_path(generated.report.report_id, kind).read_bytes()
        for kind in ("json", "csv", "pdf-zh", "pdf-en")
    }


def _pdf_text(files: dict[str, bytes]) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(files["pdf-zh"])).pages)


def _document(portal: Portal, generated: Generated) -> dict[str, Any]:
    return orjson.loads(_files(portal, generated)["json"])  # type: ignore[no-any-return]


def test_responsiveness_escalations_and_v1_reproducibility_from_real_notices(
    portal: Portal,
) -> None:
    assert portal.post(portal.envelope(portal.records(6))).status_code == 201
    services = portal.services
    # Records of 23 November, inspected on the 27th (past the grace for an unfiled one).
    portal.clock.now += timedelta(days=4)
    services.inspector.clock = portal.clock
    services.inspector.follow()
    reports = services.reports
    v1 = methodology_version("assessment-v1")
    # Published before any case step: v1 and the first digest edition.
    old_assessment = reports.generate("assessment", "2026-11", requested_by="t", methodology=v1)
    old_digest = reports.generate(
        "digest", "2026-11-27", requested_by="t", digest_edition="digest-v1"
    )
    published = {g.report.report_id: _files(portal, g) for g in (old_assessment, old_digest)}

    cases = services.cases
    unfiled = cases.list_cases(CaseFilter(rule="ORG-UNKNOWN"))[0].case_id
    doctors = [c.case_id for c in cases.list_cases(CaseFilter(rule="CRED-UNREGISTERED"))]
    on_time, late, silent, dismissed = unfiled, doctors[0], doctors[1], doctors[2]
    _on(portal, date(2026, 12, 1))

    def order(case_id: str, deadline: date) -> str:
        return cases.order_rectification(
            case_id, deadline=deadline, text="限期整改", username="wang", roles=REGULATOR
        )

    notice_on_time = order(on_time, date(2026, 12, 8))
    notice_late = order(late, date(2026, 12, 4))
    notice_silent = order(silent, date(2026, 12, 3))
    order(dismissed, date(2026, 12, 5))
    cases.act(dismissed, "dismiss", username="wang", roles=REGULATOR, reason="核实为误报")
    # On time: answered, rejected with a new deadline, answered again, accepted.
    _on(portal, date(2026, 12, 2))
    _answer(portal, notice_on_time, "r-1")
    cases.review(
        "r-1",
        accept=False,
        username="wang",
        roles=REGULATOR,
        reason="材料不全",
        deadline=date(2026, 12, 7),
    )
    _on(portal, date(2026, 12, 5))
    _answer(portal, notice_on_time, "r-2")
    cases.review("r-2", accept=True, username="wang", roles=REGULATOR)
    # The scheduler escalates both the late and the silent notice on the 5th.
    assert sorted(cases.escalate_overdue()) == sorted([late, silent])
    # Late: answered after its deadline, accepted.
    _on(portal, date(2026, 12, 6))
    _answer(portal, notice_late, "r-3")
    cases.review("r-3", accept=True, username="wang", roles=REGULATOR)

    # The report's facts are the portal's cases: same ids, same states.
    checkpoint = services.store.sign_checkpoint(now=portal.clock.now)
    with read_transaction(services.engine) as connection:
        reading = read_ledger_facts(
            connection, services.keys, checkpoint.checkpoint.size, checkpoint.checkpoint.root
        )
        portal_cases = {
            row.case_id: (row.state, row.repeat)
            for row in connection.execute(
                select(tables.cases.c.case_id, tables.cases.c.state, tables.cases.c.repeat)
            )
        }
    assert {c: (f.state, f.repeat) for c, f in reading.facts.cases.items()} == portal_cases

    # Responsiveness: three notices due in December (the dismissed case's is void); only
    # the one answered and accepted by its deadline (as extended on rejection) is met.
    assessment = _document(portal, reports.generate("assessment", "2026-12", requested_by="t"))
    (item,) = assessment["assessment"]["institutions"]
    answered = next(i for i in item["indicators"] if i["id"] == "responsiveness")
    assert (answered["numerator"], answered["denominator"]) == ("1", 3)
    assert item["rating"] == "vetoed"  # unfiled and unregistered doctors
    assert {v["case_id"] for v in item["veto"]} >= {late, silent}
    assert dismissed not in {c["case_id"] for c in item["cases"]}, "dismissed counts nowhere"

    # The digest of the 5th lists both escalations and the two notices overdue then.
    digest = _document(portal, reports.generate("digest", "2026-12-05", requested_by="t"))
    body = digest["digest"]
    assert body["edition"] == "digest-v3"
    assert {r["case_id"] for r in body["escalated_cases"]} == {late, silent}
    overdue = {r["notice_id"]: r for r in body["overdue_notices"]}
    assert set(overdue) == {notice_late, notice_silent}
    assert overdue[notice_silent]["days_overdue"] == 2 and overdue[notice_late]["answers"] == 0
    second = _files(portal, reports.generate("digest", "2026-12-05", requested_by="t"))
    assert reports.verify(second["json"]).ok, "recomputed as the edition its entry names"
    text = _pdf_text(second)
    assert "本期升级处理的案件" in text and "逾期未落实的整改通知" in text
    assert silent in text and notice_late in text
    # By the 7th the late notice was answered and accepted: only the silent one is left.
    later_digest = _document(portal, reports.generate("digest", "2026-12-07", requested_by="t"))
    assert [r["notice_id"] for r in later_digest["digest"]["overdue_notices"]] == [notice_silent]

    # The reports published before every case entry still verify, and regenerate the same.
    for generated in (old_assessment, old_digest):
        files = _files(portal, generated)
        assert files == published[generated.report.report_id]
        for kind in ("json", "pdf-zh", "pdf-en"):  # the CSV is verified through the data
            assert reports.verify(files[kind]).ok, kind
    again = reports.compute(
        "assessment", "2026-11", at_size=old_assessment.report.tree_size, methodology=v1
    )
    assert again.data.json_bytes == published[old_assessment.report.report_id]["json"]
    assert again.data.csv_bytes == published[old_assessment.report.report_id]["csv"]
    assert again.pdfs["zh"] == published[old_assessment.report.report_id]["pdf-zh"]
    digest_again = reports.compute(
        "digest", "2026-11-27", at_size=old_digest.report.tree_size, digest_edition="digest-v1"
    )
    assert digest_again.data.json_bytes == published[old_digest.report.report_id]["json"]


def test_the_command_line_chooses_the_methodology_and_explains_a_wrong_one(
    portal: Portal,
) -> None:
    assert portal.post(portal.envelope(portal.records(40))).status_code == 201
    env = {
        "CARELEDGER_DATA_DIR": str(portal.settings.data_dir),
        "CARELEDGER_DATABASE_URL": portal.settings.database_url,
    }

    def generate(*args: str) -> Any:
        return CliRunner().invoke(
            cli, ["report", "generate", "--period", "2026-11", "--allow-empty", *args], env=env
        )

    newest = generate("--kind", "assessment")
    assert newest.exit_code == 0, newest.output
    assert "assessment-2026-11-v3-at-" in newest.output
    first = generate("--kind", "assessment", "--methodology", "assessment-v1")
    assert first.exit_code == 0, first.output
    assert "assessment-2026-11-at-" in first.output
    wrong = generate("--kind", "assessment", "--methodology", "assessment-v7")
    assert wrong.exit_code == 1
    assert (
        "no methodology 'assessment-v7'; shipped: assessment-v1, assessment-v2, assessment-v3"
        in wrong.output
    )
    digest = generate("--kind", "digest", "--methodology", "assessment-v1")
    assert digest.exit_code == 1 and "applies to an assessment" in digest.output
