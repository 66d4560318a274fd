"""Cases over a real ledger: grouping findings by cause, the steps people take, notices,
platforms' signed responses, recurrence, and rebuilding all of it from the ledger alone."""

from __future__ import annotations

import collections
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from inspectors.findings import Grouping
from inspectors.grouping import case_key, month_of, unkeyed_subject
from ledger.integrity import verify_stored_log
from ledger.leaf import decode_leaf
from reports.spreadsheet import read_table
from supervisor.cases.lifecycle import CaseError, next_case_state
from supervisor.cases.responses import sign_response, verify_response_receipt
from supervisor.cases.service import CaseFilter
from supervisor.cli import cli
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.database import tables
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import load_province, read_labels, write_province
from supervisor.ground.plain_text import unprintable
from supervisor.intake.envelope import RejectionError
from supervisor.intake.platforms import PlatformError, PlatformRegistry, generate_platform_key
from supervisor.runtime.projections import rebuild_projections
from supervisor.runtime.services import Services, build_services
from tests.supervisor.conftest import INSTITUTION, Portal

REGULATOR = frozenset({"regulator"})
CST_OFFSET = timedelta(hours=8)


# -- grouping and the state machine: pure -------------------------------------------------


def test_each_grouping_gives_the_key_its_rule_declares() -> None:
    moment = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 2026-12-01 01:00 in China
    evidence = {"license_no": "110101199001011234"}
    assert (
        case_key("ORG-LICENSE", Grouping.INSTITUTION, "H1", evidence, moment) == "ORG-LICENSE|H1|"
    )
    monthly = case_key("RX-DAYS", Grouping.MONTH, "H1", evidence, moment)
    assert monthly == "RX-DAYS|H1|m:2026-12", "the month is China's, not UTC's"
    personal = case_key("CRED-SITE", Grouping.PRACTITIONER, "H1", evidence, moment)
    other = case_key("CRED-SITE", Grouping.PRACTITIONER, "H1", {"license_no": "x"}, moment)
    assert personal.startswith("CRED-SITE|H1|p:") and personal != other
    assert "110101199001011234" not in personal, "the key is public: no licence number in it"
    assert month_of(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == "2026-11"


def test_the_steps_a_case_may_take_and_what_each_needs() -> None:
    today = date(2026, 12, 1)
    later = date(2026, 12, 15)
    assert next_case_state("open", "acknowledge", reason="", deadline=None, today=today) == (
        "acknowledged"
    )
    assert (
        next_case_state(
            "open", "order_rectification", reason="整改处方审核", deadline=later, today=today
        )
        == "rectification_ordered"
    )
    assert next_case_state("responded", "accept", reason="", deadline=None, today=today) == "closed"
    # An answer the scheduler escalated while it awaited review is still reviewed.
    assert next_case_state("escalated", "accept", reason="", deadline=None, today=today) == "closed"
    assert (
        next_case_state("responded", "reject", reason="证据不足", deadline=later, today=today)
        == "rectification_ordered"
    )
    refusals = [
        ("open", "order_rectification", "整改处方审核", None, 422),  # no deadline
        ("open", "order_rectification", "整改处方审核", today, 422),  # not after today
        ("open", "order_rectification", "", later, 422),  # nothing to do named
        ("open", "dismiss", " ", None, 422),  # a dismissal needs its reason
        ("responded", "reject", "证据不足", None, 422),  # a rejection needs a new deadline
        ("closed", "dismiss", "重复立案", None, 409),  # final
        ("dismissed", "escalate", "逾期未整改", None, 409),
        ("open", "accept", "", None, 409),  # nothing to accept
        ("open", "promote", "", None, 422),
    ]
    for state, action, reason, deadline, status in refusals:
        with pytest.raises(CaseError) as raised:
            next_case_state(state, action, reason=reason, deadline=deadline, today=today)
        assert raised.value.status == status, (state, action)


# -- the demo province ------------------------------------------------------------------


def _projection(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Everything rebuild must restore, row for row."""
    with services.engine.connect() as connection:
        return {
            name: sorted(tuple(row) for row in connection.execute(select(table)))
            for name, table in (
                ("cases", tables.cases),
                ("case_events", tables.case_events),
                ("notices", tables.notices),
                ("notice_responses", tables.notice_responses),
                (
                    "finding_cases",
                    select(tables.findings.c.finding_id, tables.findings.c.case_id).subquery(),
                ),
            )
        }


@pytest.mark.database
def test_the_demo_province_has_one_case_per_institution_wide_cause(
    tmp_path: Path, database_url: str
) -> None:
    folder = tmp_path / "province"
    end = date(2026, 11, 20)
    write_province(
        generate_province(institutions=6, days=7, seed=1, violation_rate=0.05, end=end), folder
    )
    settings = Settings(data_dir=tmp_path / "var", database_url=database_url)
    verifier = initialise(settings).log_verifier
    # In process: the submission service's checks, sealing and projections without HTTP,
    # which the intake and accuracy tests cover; here only the cases matter.
    report = load_province(folder, settings, over_http=False)
    later = report.ended_at + timedelta(days=4)  # past every grace deadline
    services = build_services(settings, lambda: later)
    try:
        services.inspector.follow()
        labels = read_labels(folder)
        cases = services.cases.list_cases()
        by_cause = collections.defaultdict(list)
        for case in cases:
            by_cause[(case.rule_id, case.institution_code)].append(case)
        for rule in ("ORG-UNKNOWN", "ORG-LICENSE"):
            affected = collections.defaultdict(set)
            for label in labels:
                if label.rule == rule:
                    affected[label.institution_code].add(label.record_id)
            assert affected, f"the demo province injects {rule}"
            for institution, record_ids in affected.items():
                (case,) = by_cause[(rule, institution)]  # one case, however many records
                assert case.state == "open" and case.severity == "high" and not case.repeat
                listed = {f.record_id for f in services.cases.finding_rows(case.case_id)}
                assert listed == record_ids, "the case lists every affected record"
                assert case.finding_count == len(record_ids)
        # Record-level causes: one case per institution, rule and month the record occurred in.
        with services.engine.connect() as connection:
            rows = connection.execute(
                select(
                    tables.findings.c.case_id,
                    tables.findings.c.rule_id,
                    tables.findings.c.institution_code,
                    tables.records.c.occurred_at,
                ).join(
                    tables.records, tables.records.c.entry_index == tables.findings.c.record_index
                )
            ).all()
        grouping = {c.case_id: c for c in cases}
        assert all(r.case_id in grouping for r in rows), "every finding is in a case"
        causes: dict[str, set[tuple[str, str, str]]] = collections.defaultdict(set)
        for r in rows:
            case = grouping[r.case_id]
            month = month_of(tables.read_time(r.occurred_at))
            cause = (r.rule_id, r.institution_code, month if case.grouping == "month" else "")
            causes[r.case_id].add(cause)
        assert all(len(c) == 1 for c in causes.values()), "a case has one cause"
        assert len(cases) < len(rows) / 5, "cases are far fewer than findings"
        credential = next(c for c in cases if c.grouping == "practitioner")
        (first, *_) = services.cases.finding_rows(credential.case_id)
        stored = services.store.entry(first.entry_index)
        opened = services.inspector.open_finding(stored.leaf, stored.payload)
        licence_no = opened["evidence"]["license_no"]
        assert credential.case_key.endswith(
            "|p:"
            + services.keys.pseudonym(
                "case-subject", f"{credential.institution_code}\x00{licence_no}"
            )[:16]
        ), "a practitioner's case key is keyed: no guessed licence can be tested against it"
        assert unkeyed_subject(credential.institution_code, licence_no) not in credential.case_key

        # Steps on cases, then the ledger alone restores every case exactly.
        licence = by_cause[
            (
                "ORG-LICENSE",
                next(x.institution_code for x in labels if x.rule == "ORG-LICENSE"),
            )
        ][0]
        deadline = (later + CST_OFFSET).date() + timedelta(days=15)
        notice_id = services.cases.order_rectification(
            licence.case_id,
            deadline=deadline,
            text="立即停止超期执业并办理校验",
            username="wang",
            roles=REGULATOR,
        )
        (notice,) = services.cases.notices_of_case(licence.case_id)
        assert notice["notice_id"] == notice_id and notice["deadline"] == deadline.isoformat()
        assert len(notice["findings"]) == licence.finding_count
        assert all(f["evidence"]["license_no"] for f in notice["findings"]), "evidence is in it"
        minor = next(c for c in cases if c.severity != "high")
        assert services.cases.act(minor.case_id, "acknowledge", username="li", roles=REGULATOR) == (
            "acknowledged"
        )
        with pytest.raises(CaseError, match="reason"):
            services.cases.act(minor.case_id, "dismiss", username="li", roles=REGULATOR)
        services.cases.act(
            minor.case_id, "dismiss", username="li", roles=REGULATOR, reason="系统误报，已核实"
        )
        with pytest.raises(CaseError) as auditors:
            services.cases.act(
                cases[0].case_id, "acknowledge", username="a", roles=frozenset({"auditor"})
            )
        assert auditors.value.status == 403
        before = _projection(services)
        rebuild_projections(services.engine, services.keys, lambda index: index + 1)
        assert _projection(services) == before
    finally:
        result = verify_stored_log(services.engine, verifier)
        assert result.ok, result.discrepancy
        services.engine.dispose()


# -- the loop with a platform, and recurrence -------------------------------------------


def _respond(
    portal: Portal,
    notice_id: str,
    response_id: str,
    kind: str = "rectified",
    statement: str = "已补办备案并上传执业许可证",
) -> dict[str, Any]:
    return sign_response(
        portal.key.seed,
        {
            "platform_id": portal.platform_id,
            "key_id": portal.key.key_id,
            "notice_id": notice_id,
            "response_id": response_id,
            "created_at": portal.clock.now.isoformat(),
            "kind": kind,
            "statement": statement,
            "attachments": [{"name": "许可证.pdf", "sha256": "ab" * 32, "size": 12345}],
        },
    )


def _inspect_all(portal: Portal) -> None:
    services = portal.services
    later = portal.clock.now + timedelta(days=4)  # the institution never files: past grace
    services.inspector.clock = lambda: later
    services.inspector.follow()


@pytest.mark.database
def test_a_closed_case_that_recurs_opens_a_new_case_marked_repeat(portal: Portal) -> None:
    assert portal.post(portal.envelope(portal.records(6))).status_code == 201
    _inspect_all(portal)
    cases = portal.services.cases
    (unfiled,) = cases.list_cases(CaseFilter(rule="ORG-UNKNOWN"))
    assert unfiled.institution_code == INSTITUTION and unfiled.finding_count >= 6
    deadline = (portal.clock.now + CST_OFFSET).date() + timedelta(days=10)
    notice_id = cases.order_rectification(
        unfiled.case_id, deadline=deadline, text="向监管平台备案", username="wang", roles=REGULATOR
    )
    first = _respond(portal, notice_id, "resp-1", "objection")
    taken = cases.respond(first)
    assert taken.created
    index = verify_response_receipt(taken.receipt, portal.services.log_keys(), first)
    assert cases.respond(first).receipt["index"] == index, "a resend gets the same receipt"
    size = portal.log_size()
    altered = {**first, "statement": "改过的答复"}
    with pytest.raises(RejectionError) as refused:
        cases.respond(altered)
    assert refused.value.status == 403 and portal.log_size() == size
    with pytest.raises(RejectionError) as early:
        cases.respond(_respond(portal, notice_id, "resp-2"))
    assert early.value.status == 409, "one answer awaits review at a time"
    leaf = portal.services.store.entry(index).leaf
    public = decode_leaf(leaf).statement
    assert "已联系" not in leaf.decode() and "signature" not in public
    assert "envelope_sha256" not in public, "no hash to test a guessed answer against"
    with pytest.raises(RejectionError) as control:
        cases.respond(_respond(portal, notice_id, "resp-nul", statement="已整改\u0000"))
    assert control.value.status == 422 and "U+0000" in control.value.detail
    with pytest.raises(CaseError, match="U\\+0007"):
        cases.act(
            unfiled.case_id, "escalate", username="w", roles=REGULATOR, reason="逾期\u0007未答"
        )
    # Escalated while the answer awaits review: no new notice over it, but it is reviewed.
    cases.act(unfiled.case_id, "escalate", username="wang", roles=REGULATOR, reason="逾期未审")
    with pytest.raises(CaseError, match="awaits review") as over:
        cases.order_rectification(
            unfiled.case_id, deadline=deadline, text="重新整改", username="wang", roles=REGULATOR
        )
    assert over.value.status == 409
    assert (
        cases.review(
            "resp-1",
            accept=False,
            username="wang",
            roles=REGULATOR,
            reason="未见备案材料",
            deadline=deadline,
        )
        == "rectification_ordered"
    )
    cases.respond(_respond(portal, notice_id, "resp-2"))
    assert cases.review("resp-2", accept=True, username="wang", roles=REGULATOR) == "closed"
    assert [e.action for e in cases.events(unfiled.case_id)] == [
        "order_rectification",
        "escalate",
        "reject",
        "accept",
    ]
    with pytest.raises(CaseError) as twice:
        cases.review(
            "resp-2",
            accept=False,
            username="li",
            roles=REGULATOR,
            reason="再审一次",
            deadline=deadline,
        )
    assert twice.value.status == 409, "an answer is reviewed once"
    assert [(r.response_id, r.review) for r in cases.responses(unfiled.case_id)] == [
        ("resp-1", "rejected"),
        ("resp-2", "accepted"),
    ]
    # The institution goes on without filing: a new case, a repeat of the closed one.
    portal.clock.now += timedelta(days=1)
    renewed = [{**r, "record_id": r["record_id"] + "-2"} for r in portal.records(3)]
    assert portal.post(portal.envelope(renewed)).status_code == 201
    _inspect_all(portal)
    again = cases.list_cases(CaseFilter(rule="ORG-UNKNOWN"))
    assert len(again) == 2
    (second,) = [c for c in again if c.case_id != unfiled.case_id]
    assert second.repeat and second.state == "open" and second.generation == 2
    assert cases.case(unfiled.case_id).state == "closed", "a closed case takes no new findings"
    before = _projection(portal.services)
    rebuild_projections(portal.services.engine, portal.services.keys, lambda index: index + 1)
    assert _projection(portal.services) == before


@pytest.mark.database
def test_the_cases_commands_list_order_and_review(portal: Portal) -> None:
    assert portal.post(portal.envelope(portal.records(4))).status_code == 201
    _inspect_all(portal)
    runner = CliRunner()
    env = {
        "CARELEDGER_DATA_DIR": str(portal.settings.data_dir),
        "CARELEDGER_DATABASE_URL": portal.settings.database_url,
    }
    listed = runner.invoke(
        cli, ["cases", "list", "--format", "csv", "--rule", "ORG-UNKNOWN"], env=env
    )
    assert listed.exit_code == 0, listed.output
    (row,) = read_table(listed.stdout)
    assert row["rule"] == "ORG-UNKNOWN" and row["institution_code"] == INSTITUTION
    assert int(row["finding_count"]) >= 4 and row["state"] == "open"
    past = runner.invoke(
        cli,
        [
            "cases",
            "order-rectification",
            row["case_id"],
            "--deadline",
            "2020-01-01",
            "--text",
            "向监管平台备案",
            "--actor",
            "wang",
        ],
        env=env,
    )
    assert past.exit_code == 1 and "deadline must be after today" in past.output
    missing = runner.invoke(
        cli, ["cases", "review", "nope", "--accept", "--actor", "wang"], env=env
    )
    assert missing.exit_code == 1 and "no response nope" in missing.output
    future = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    ordered = runner.invoke(
        cli,
        [
            "cases",
            "order-rectification",
            row["case_id"],
            "--deadline",
            future,
            "--text",
            "向监管平台备案",
            "--actor",
            "wang",
        ],
        env=env,
    )
    assert ordered.exit_code == 0, ordered.output
    jsonl = runner.invoke(cli, ["cases", "list", "--state", "rectification_ordered"], env=env)
    assert row["case_id"] in jsonl.stdout and '"notice_id":"N' in jsonl.stdout


def test_free_text_may_hold_line_breaks_but_no_control_codes() -> None:
    assert unprintable("已整改。\n附件见后\t(三份)", multiline=True) is None
    assert unprintable("已整改\u0000") == "holds the control character U+0000 at position 3"
    assert unprintable("a\nb") is not None, "a name or header is one line"
    assert unprintable("\u202egpj.exe") is not None, "no name reads as another"
    assert unprintable("互联网医院 (杭州)") is None


@pytest.mark.database
def test_a_platform_name_with_a_line_break_is_refused(portal: Portal) -> None:
    # It would end up in the alert e-mail's Subject header.
    with pytest.raises(PlatformError, match="U\\+000A"):
        PlatformRegistry(portal.services.store).register(
            "H330100099",
            "某医院\nBcc: x@example.org",
            generate_platform_key()[1],
            now=portal.clock.now,
        )
