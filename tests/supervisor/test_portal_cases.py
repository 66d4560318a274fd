"""The case queue and a case's page, as regulators use them: gravest and oldest first,
filtered, one step on many cases with one reason, every step a ledger entry; a case's
findings, notice (PDF and canonical JSON), the institution's answers and their review, and
its timeline; auditors read and never act; institutions' pages count their cases."""

from __future__ import annotations

import base64
import html
import re
from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from inspectors.findings import Severity
from ledger.canonical import canonical_json
from ledger.leaf import decode_leaf
from reports.spreadsheet import read_table
from supervisor.cases.responses import sign_response
from supervisor.client.submit import PlatformKeyFile
from supervisor.database import tables
from supervisor.inspection.case_grouping import OPEN_CASE_STATES
from supervisor.intake.platforms import platform_id_for
from supervisor.runtime.services import Services

from .agency_directory import directory
from .conftest import Clock
from .test_portal_records import province_portal
from .test_portal_sign_in import _csrf, _sign_in

__all__ = ["directory", "province_portal"]  # the fixtures, shared

pytestmark = pytest.mark.database

REGULATOR = frozenset({"regulator"})
_GRAVITY = {s.value: rank for rank, s in enumerate(Severity)}


def _open_cases(services: Services) -> list[Any]:
    with services.engine.connect() as connection:
        rows = list(
            connection.execute(
                select(tables.cases).where(tables.cases.c.state.in_(OPEN_CASE_STATES))
            )
        )
    return sorted(
        rows, key=lambda c: (_GRAVITY[c.severity], c.first_seen, -c.finding_count, c.case_id)
    )


def _listed(page: str) -> list[str]:
    """The case ids of the queue's rows, in the order shown."""
    table = page.split('id="cases-table"')[1].split("</table>", maxsplit=1)[0]
    return re.findall(r'href="/portal/cases/(C[0-9A-F]+)"', table)


def _today(services: Services) -> date:
    return (services.clock() + timedelta(hours=8)).date()


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _in_english(client: FlaskClient) -> None:
    assert client.get("/portal/language?to=en&back=/portal/cases").status_code == 302


def test_the_queue_is_gravest_then_oldest_and_filters_by_what_regulators_ask(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    expected = _open_cases(services)
    assert len({c.severity for c in expected}) >= 2, "the province has cases of several kinds"
    home = client.get("/portal/").get_data(as_text=True)
    assert 'href="/portal/cases"' in home, "the findings entry of the menu leads to the queue"
    page = client.get("/portal/cases").get_data(as_text=True)
    assert _listed(page) == [c.case_id for c in expected]
    assert 'href="/portal/findings"' in page, "every finding stays a link away"
    first = expected[0]
    assert f"{first.finding_count}</td>" in page and "北京时间" in page
    high = client.get("/portal/cases?severity=high").get_data(as_text=True)
    assert _listed(high) == [c.case_id for c in expected if c.severity == "high"]
    rule = expected[-1].rule_id
    by_rule = client.get(f"/portal/cases?rule={rule}").get_data(as_text=True)
    assert _listed(by_rule) == [c.case_id for c in expected if c.rule_id == rule]
    code = first.institution_code
    mine = client.get(f"/portal/cases?institution={code}").get_data(as_text=True)
    assert _listed(mine) == [c.case_id for c in expected if c.institution_code == code]
    assert _listed(client.get("/portal/cases?repeat=1").get_data(as_text=True)) == []
    # A parameter the queue does not know is left out and said so, as the search does.
    odd = client.get("/portal/cases?state=lost&severity=dire&page=x")
    assert odd.status_code == 200
    said = _text(odd.get_data(as_text=True))
    assert "无法识别" in said and "状态" in said and "严重程度" in said
    assert _listed(odd.get_data(as_text=True)) == [c.case_id for c in expected]
    # The CSV: the filtered queue, every page, headers in Chinese and machine names.
    download = client.get("/portal/cases.csv?severity=high")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    body = download.get_data().decode("utf-8-sig")
    assert body.splitlines()[0].startswith("案件编号 / case_id,规则 / rule")
    rows = read_table(body)
    assert [r["case_id"] for r in rows] == [c.case_id for c in expected if c.severity == "high"]


def test_one_step_on_many_cases_each_a_ledger_entry_each_outcome_said(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    expected = _open_cases(services)
    chosen = [c.case_id for c in expected[:2]]
    page = client.get("/portal/cases")
    token = _csrf(page.data)
    size = services.store.head().size
    # A dismissal needs its reason: nothing happens, and what was selected stays selected.
    refused = client.post(
        "/portal/cases/actions",
        data={"csrf_token": token, "action": "dismiss", "reason": " ", "case_id": chosen},
    )
    assert refused.status_code == 422 and services.store.head().size == size
    shown = refused.get_data(as_text=True)
    assert "需要填写理由" in _text(shown), _text(shown)[:2000]
    for case_id in chosen:
        assert re.search(rf'value="{case_id}" id="select-{case_id}" checked', shown)
    # Ordering rectification: a deadline and what must be done, one text for all.
    deadline = _today(services) + timedelta(days=15)
    text = "规范处方审核流程，提交整改报告"
    ordered = client.post(
        "/portal/cases/actions",
        data={
            "csrf_token": token,
            "action": "order_rectification",
            "reason": text,
            "deadline": deadline.isoformat(),
            "case_id": chosen,
        },
    )
    assert ordered.status_code == 200
    outcome = _text(
        ordered.get_data(as_text=True).split('id="bulk-outcomes"')[1].split("</table>")[0]
    )
    assert outcome.count("已下发整改通知") == 2, outcome
    entries = [services.store.entry(i) for i in range(size, services.store.head().size)]
    assert [e.type for e in entries] == ["case.event", "case.event"]
    statements = [decode_leaf(e.leaf).statement for e in entries]
    assert [s["case_id"] for s in statements] == chosen
    for case_id, statement in zip(chosen, statements, strict=True):
        (notice,) = services.cases.notices_of_case(case_id)
        assert statement["notice_id"] == notice["notice_id"]
        assert notice["required_action"] == text and notice["deadline"] == deadline.isoformat()
        assert services.cases.case(case_id).state == "rectification_ordered"
    # Again on the same cases and one more: each case says what happened to it.
    third = expected[2].case_id
    again = client.post(
        "/portal/cases/actions",
        data={"csrf_token": token, "action": "acknowledge", "case_id": [*chosen, third]},
    )
    assert again.status_code == 200
    rows = again.get_data(as_text=True).split('id="bulk-outcomes"')[1].split("</table>")[0]
    for case_id in chosen:
        said = _text(rows.split(case_id)[2].split("</tr>")[0])
        assert "未执行" in said and "已下发整改通知" in said, said
    assert "已确认" in _text(rows.split(third)[2].split("</tr>")[0])
    assert services.cases.case(third).state == "acknowledged"


def test_an_auditor_reads_cases_and_never_acts(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "zhaomin", "min-password-3")[0] == 302
    case_id = _open_cases(services)[0].case_id
    queue = client.get("/portal/cases").get_data(as_text=True)
    assert _listed(queue) and 'name="case_id"' not in queue and "bulk-form" not in queue
    page = client.get(f"/portal/cases/{case_id}").get_data(as_text=True)
    assert 'id="case-findings"' in page and "<textarea" not in page
    token = _csrf(page.encode())  # the sign-out form's token: the session's own
    size = services.store.head().size
    for address, form in (
        ("/portal/cases/actions", {"action": "acknowledge", "case_id": case_id}),
        (f"/portal/cases/{case_id}/actions", {"action": "acknowledge"}),
    ):
        answer = client.post(address, data={"csrf_token": token, **form})
        assert answer.status_code == 403, address
        assert "审计人员" in _text(answer.get_data(as_text=True))
    assert services.store.head().size == size and services.cases.case(case_id).state == "open"


def _respond(services: Services, notice_id: str, code: str, response_id: str) -> dict[str, Any]:
    seed = (services.settings.data_dir / "platform-keys" / f"{code}.key").read_text()
    key = PlatformKeyFile(base64.b64decode(seed))
    envelope = sign_response(
        key.seed,
        {
            "platform_id": platform_id_for(code),
            "key_id": key.key_id,
            "notice_id": notice_id,
            "response_id": response_id,
            "created_at": services.clock().isoformat(),
            "kind": "rectified",
            "statement": "已完成处方审核流程整改，附整改报告",
            "attachments": [{"name": "整改报告.pdf", "sha256": "ab" * 32, "size": 20480}],
        },
    )
    assert services.cases.respond(envelope).created
    return envelope


def test_an_answer_awaiting_review_heads_the_queue_whatever_its_severity(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    expected = _open_cases(services)
    mildest = expected[-1]
    assert mildest.severity != expected[0].severity, "the province has cases of several kinds"
    notice_id = services.cases.order_rectification(
        mildest.case_id,
        deadline=_today(services) + timedelta(days=10),
        text="补正处方审核记录",
        username="wangjing",
        roles=REGULATOR,
    )
    _respond(services, notice_id, mildest.institution_code, "resp-queue-head-1")
    listed = _listed(client.get("/portal/cases").get_data(as_text=True))
    assert listed == [mildest.case_id] + [c.case_id for c in expected[:-1]]


def test_a_case_page_shows_findings_notice_answers_and_every_step(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    case = _open_cases(services)[0]
    deadline = _today(services) + timedelta(days=10)
    notice_id = services.cases.order_rectification(
        case.case_id,
        deadline=deadline,
        text="补正处方审核记录",
        username="wangjing",
        roles=REGULATOR,
    )
    _respond(services, notice_id, case.institution_code, "resp-case-page-1")
    page = client.get(f"/portal/cases/{case.case_id}").get_data(as_text=True)
    findings = services.cases.finding_rows(case.case_id)
    listed = page.split('id="case-findings"')[1].split("</table>")[0]
    for finding in findings[:50]:
        assert f'href="/portal/findings/{finding.finding_id}"' in listed
        assert f'href="/portal/records/{finding.record_index}"' in listed
    assert "{" not in _text(listed), "evidence in words, never JSON"
    facts = _text(page.split('id="case-facts"')[1].split("</dl>")[0])
    assert "已答复待审" in facts and deadline.isoformat() in facts
    notices = page.split('id="case-notices"')[1].split("</table>")[0]
    assert notice_id in notices and "补正处方审核记录" in notices
    answers = _text(page.split('id="case-responses"')[1].split("</table>")[0])
    assert "已完成处方审核流程整改" in answers and "整改报告.pdf" in answers
    assert "ab" * 32 in answers and "20480" in answers and "待审核" in answers
    timeline = _text(page.split('id="case-timeline"')[1].split("</ol>")[0])
    events = services.cases.events(case.case_id)
    (response,) = services.cases.responses(case.case_id)
    for index in (case.opened_index, events[0].entry_index, response.entry_index):
        assert f"账本序号 {index}" in timeline, timeline
    assert "wangjing" in timeline and "下发整改通知" in timeline
    # The notice as sealed, and as a PDF.
    sealed = client.get(f"/portal/cases/{case.case_id}/notices/{notice_id}.json")
    assert sealed.mimetype == "application/json"
    (document,) = services.cases.notices_of_case(case.case_id)
    assert sealed.get_data() == canonical_json(document)
    assert orjson.loads(sealed.get_data())["required_action"] == "补正处方审核记录"
    pdf = client.get(f"/portal/cases/{case.case_id}/notices/{notice_id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.get_data().startswith(b"%PDF")
    assert client.get(f"/portal/cases/{case.case_id}/notices/N0.pdf").status_code == 404
    # Rejecting needs a new deadline: refused on the page, the reason typed kept.
    token = _csrf(page.encode())
    review = f"/portal/cases/{case.case_id}/responses/resp-case-page-1/review"
    size = services.store.head().size
    refused = client.post(
        review, data={"csrf_token": token, "decision": "reject", "reason": "整改报告缺少签章"}
    )
    assert refused.status_code == 422 and services.store.head().size == size
    shown = refused.get_data(as_text=True)
    assert "需要期限" in _text(shown) and ">整改报告缺少签章</textarea>" in shown
    later = deadline + timedelta(days=5)
    rejected = client.post(
        review,
        data={
            "csrf_token": token,
            "decision": "reject",
            "reason": "整改报告缺少签章",
            "deadline": later.isoformat(),
        },
    )
    assert rejected.status_code == 302
    assert services.cases.case(case.case_id).state == "rectification_ordered"
    assert services.cases.case(case.case_id).deadline == later.isoformat()
    # A step the state does not allow is said in words (409), nothing lost.
    again = client.post(
        f"/portal/cases/{case.case_id}/actions",
        data={"csrf_token": token, "action": "acknowledge"},
    )
    assert again.status_code == 409 and "不能" in _text(again.get_data(as_text=True))
    assert client.get("/portal/cases/CNOSUCHCASE").status_code == 404
    # In English, the same page in English words.
    _in_english(client)
    english = _text(client.get(f"/portal/cases/{case.case_id}").get_data(as_text=True))
    assert "rectification ordered" in english and "reject the answer" in english


def test_an_institution_page_counts_its_cases_and_overdue_notices(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    cases = _open_cases(services)
    # The gravest case of a hospital (a pharmacy's page is tested in test_portal_pharmacy).
    case = next(c for c in cases if c.institution_code.startswith("H"))
    code = case.institution_code
    deadline = _today(services) + timedelta(days=3)
    notice_id = services.cases.order_rectification(
        case.case_id,
        deadline=deadline,
        text="补正处方审核记录",
        username="wangjing",
        roles=REGULATOR,
    )
    clock = services.clock
    assert isinstance(clock, Clock)
    clock.now += timedelta(days=5)  # past the deadline, unanswered
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    page = client.get(f"/portal/institutions/{code}").get_data(as_text=True)
    open_here = [c for c in cases if c.institution_code == code]
    standing = _text(page.split('id="profile-open-cases"')[1].split("</p>")[0])
    assert str(len(open_here)) in standing
    assert f'href="/portal/cases?institution={code}"' in page
    assert f'href="/portal/cases?institution={code}&amp;severity={case.severity}"' in page
    overdue = _text(page.split('id="profile-overdue"')[1].split("</table>")[0])
    assert notice_id in overdue and "逾期" in overdue and case.case_id in overdue
    answered = _text(page.split('id="profile-responsiveness"')[1].split("</dl>")[0])
    assert "0 / 1" in answered, answered
