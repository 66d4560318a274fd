"""Alerts of high-severity cases through a real SMTP relay (aiosmtpd on loopback) and a
signed webhook (http.server on loopback); the relay down and back; deadline escalation
by the scheduler's job under a controlled clock."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from inspectors.grouping import CHINA
from inspectors.rulebook import RULES_BY_ID
from ledger.integrity import verify_stored_log
from ledger.leaf import decode_leaf
from supervisor.cases.alert_message import verify_webhook_signature
from supervisor.cases.alerts import AlertDispatcher, AlertSettings, alert_counts
from supervisor.cases.responses import sign_response
from supervisor.cases.service import SCHEDULER_ACTOR, CaseFilter
from supervisor.cli import cli
from supervisor.custody.data_folder import initialise
from supervisor.database import tables
from supervisor.runtime.projections import rebuild_projections
from supervisor.runtime.scheduler import job_functions
from supervisor.runtime.services import Services
from supervisor.web.app import create_app
from tests.slapd import Directory

from .agency_directory import directory
from .conftest import Clock, Portal
from .test_portal_records import _load_small_province
from .test_portal_sign_in import _settings, _sign_in

__all__ = ["directory"]  # the fixture, shared

pytestmark = pytest.mark.database

ON_DUTY = ("duty-1@wsjkw.example.cn", "duty-2@wsjkw.example.cn")
REGULATOR = frozenset({"regulator"})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """What the relay received: one parsed message per recipient of each delivery."""

    messages: list[tuple[str, EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        for recipient in envelope.rcpt_tos:
            self.messages.append((recipient, parsed))
        return "250 OK"


class Relay:
    """A real SMTP server on a loopback port, started and stopped on demand."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def relay() -> Iterator[Relay]:
    served = Relay(_free_port())  # nothing listens until a test starts it
    yield served
    served.stop()


@dataclass
class Province:
    client: FlaskClient
    services: Services
    clock: Clock

    def run_job(self, job_id: str) -> str:
        return job_functions(self.services)[job_id]()

    def alert_rows(self) -> list[Any]:
        a = tables.alerts.c
        with self.services.engine.connect() as connection:
            return list(
                connection.execute(
                    select(tables.alerts).where(a.channel != "start").order_by(a.alert_id)
                )
            )

    def cases(self) -> dict[str, Any]:
        with self.services.engine.connect() as connection:
            return {r.case_id: r for r in connection.execute(select(tables.cases))}


@pytest.fixture
def province(
    tmp_path: Path, database_url: str, directory: Directory, relay: Relay
) -> Iterator[Province]:
    """One institution's day submitted but not yet inspected; alerts by e-mail to two
    regulators on duty through ``relay``'s port, switched on before inspection."""
    settings = replace(
        _settings(tmp_path, database_url, directory),
        alert_smtp_host="127.0.0.1",
        alert_smtp_port=relay.port,
        alert_from="careledger@wsjkw.example.cn",
        alert_recipients=ON_DUTY,
        portal_base_url="https://jg.example.cn",
    )
    verifier = initialise(settings).log_verifier
    report = _load_small_province(tmp_path, settings, seed=3)
    clock = Clock(report.ended_at + timedelta(days=4))
    app = create_app(settings, clock=clock)
    services: Services = app.extensions["careledger"]
    yield Province(app.test_client(), services, clock)
    assert verifier is not None
    result = verify_stored_log(services.engine, verifier)
    assert result.ok, result.discrepancy
    services.engine.dispose()


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_each_new_high_case_is_mailed_once_to_each_regulator_on_duty_and_no_other(
    province: Province, relay: Relay
) -> None:
    relay.start()
    # Switched on before any case opened: the first run marks the start and sends nothing.
    assert province.run_job("alerts").startswith("queued 0, sent 0")
    province.services.inspector.follow()
    cases = province.cases()
    high = {c for c, row in cases.items() if row.severity == "high"}
    others = set(cases) - high
    assert high and any(cases[c].severity == "medium" for c in others)

    summary = province.run_job("alerts")
    assert summary == f"queued {2 * len(high)}, sent {2 * len(high)}"
    received = relay.mailbox.messages
    assert sorted(to for to, _ in received) == sorted(ON_DUTY * len(high))
    for recipient in ON_DUTY:
        mailed = [m["X-Careledger-Case"] for to, m in received if to == recipient]
        assert sorted(mailed) == sorted(high)  # each high case exactly once, nothing else
    for _, message in received:
        case = cases[message["X-Careledger-Case"]]
        title = RULES_BY_ID[case.rule_id].title
        subject, text = str(message["Subject"]), _text(message)
        assert subject.startswith("【高风险案件告警】") and case.case_id in subject
        assert case.rule_id in subject and title in subject
        assert f"案件编号：{case.case_id}" in text and f"违规规则：{case.rule_id} {title}" in text
        assert f"问题记录数：{case.finding_count}" in text
        assert f"https://jg.example.cn/portal/cases/{case.case_id}" in text
        assert text.index("案件编号") < text.index("Case: ")  # Chinese first, English after
    assert not any(c in _text(m) for _, m in received for c in others)

    # Never twice: not on the next run, nor after the projections are rebuilt.
    assert province.run_job("alerts") == "queued 0, sent 0"
    rebuild_projections(province.services.engine, province.services.keys, lambda last: last + 1)
    assert province.run_job("alerts") == "queued 0, sent 0"
    assert len(relay.mailbox.messages) == 2 * len(high)
    assert {r.state for r in province.alert_rows()} == {"sent"}
    assert all(r.attempts == 1 for r in province.alert_rows())
    # All went through: the overview shows no alert trouble.
    assert _sign_in(province.client, "wangjing", "jing-password-1")[0] == 302
    assert 'id="alert-trouble"' not in province.client.get("/portal/").get_data(as_text=True)


def test_a_relay_that_is_down_is_retried_shown_and_never_blocks_inspection(
    province: Province, relay: Relay
) -> None:
    province.run_job("alerts")  # alerting starts; the relay is down (nothing listens)
    # Inspection is its own job: it completes whatever the relay does.
    assert "new findings" in province.run_job("inspection")
    high = {c for c, row in province.cases().items() if row.severity == "high"}
    assert high

    started = province.clock.now
    summary = province.run_job("alerts")
    assert f"{2 * len(high)} to retry" in summary
    rows = province.alert_rows()
    assert len(rows) == 2 * len(high)
    for row in rows:
        assert (row.state, row.attempts, row.sent_at) == ("pending", 1, None)
        assert "Connection refused" in row.last_error or "ConnectionRefused" in row.last_error
        assert f"127.0.0.1:{relay.port}" in row.last_error
        retry = tables.read_time(row.next_attempt_at)
        assert retry == started + timedelta(minutes=1)
    assert alert_counts(province.services.engine) == {"pending": 2 * len(high)}

    # Not due yet: nothing is tried.
    province.clock.now += timedelta(seconds=30)
    assert province.run_job("alerts") == "queued 0, sent 0"
    assert all(r.attempts == 1 for r in province.alert_rows())
    # Due and still down: a second attempt, and the wait doubles.
    province.clock.now = started + timedelta(minutes=1)
    province.run_job("alerts")
    for row in province.alert_rows():
        assert row.attempts == 2
        assert tables.read_time(row.next_attempt_at) == province.clock.now + timedelta(minutes=2)

    # The overview says so, in Chinese, with the count, the error and since when.
    assert _sign_in(province.client, "wangjing", "jing-password-1")[0] == 302
    page = province.client.get("/portal/").get_data(as_text=True)
    assert 'id="alert-trouble"' in page and "高风险案件告警未能送达" in page
    assert f"{2 * len(high)} 条告警等待重试" in page
    assert f"127.0.0.1:{relay.port}" in page
    assert started.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") in page

    # The relay is back: the next due run sends each alert once.
    relay.start()
    province.clock.now += timedelta(minutes=2)
    assert province.run_job("alerts") == f"queued 0, sent {2 * len(high)}"
    assert province.run_job("alerts") == "queued 0, sent 0"
    province.clock.now += timedelta(hours=1)
    assert province.run_job("alerts") == "queued 0, sent 0"
    mailed = sorted(m["X-Careledger-Case"] for _, m in relay.mailbox.messages)
    assert mailed == sorted(list(high) * 2)
    assert {(r.state, r.attempts) for r in province.alert_rows()} == {("sent", 3)}
    page = province.client.get("/portal/").get_data(as_text=True)
    assert 'id="alert-trouble"' not in page


def test_an_alert_given_up_after_its_attempts_is_shown_as_failed(
    province: Province, relay: Relay
) -> None:
    services = replace(
        province.services, settings=replace(province.services.settings, alert_max_attempts=2)
    )
    job = job_functions(services)["alerts"]
    job()
    services.inspector.follow()
    job()
    province.clock.now += timedelta(minutes=1)
    assert "given up" in job()
    assert {r.state for r in province.alert_rows()} == {"failed"}
    province.clock.now += timedelta(hours=1)
    assert job() == "queued 0, sent 0"  # given up: not tried again by itself
    assert _sign_in(province.client, "wangjing", "jing-password-1")[0] == 302
    page = province.client.get("/portal/").get_data(as_text=True)
    assert "多次重试均失败，已停止发送" in page


def _post_records(portal: Portal) -> None:
    assert portal.post(portal.envelope(portal.records(5))).status_code == 201
    portal.clock.now += timedelta(days=4)  # past the grace period: every record is final
    portal.services.inspector.follow()


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "status": 204})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/careledger-alerts", handler
    server.shutdown()
    server.server_close()


def test_the_webhook_gets_each_high_case_signed_with_hmac(
    portal: Portal, tmp_path: Path, webhook: tuple[str, type[_Hook]]
) -> None:
    url, hook = webhook
    secret_file = tmp_path / "webhook.secret"
    secret_file.write_text("s3cret-shared-with-the-duty-system\n")
    settings = AlertSettings(webhook_url=url, webhook_secret_file=str(secret_file))
    dispatcher = AlertDispatcher(portal.services.engine, settings, portal.clock)
    hook.status = 500  # the receiver fails first: recorded and retried
    dispatcher.run()
    _post_records(portal)
    failed = dispatcher.run()
    assert (
        failed.sent == 0
        and failed.retrying > 0
        and failed.last_error == ("webhook answered HTTP 500")
    )
    hook.status = 204
    hook.received.clear()
    portal.clock.now += timedelta(minutes=1)
    done = dispatcher.run()
    assert done.sent == failed.retrying and done.retrying == 0
    with portal.services.engine.connect() as connection:
        high = set(
            connection.execute(
                select(tables.cases.c.case_id).where(tables.cases.c.severity == "high")
            ).scalars()
        )
    assert len(hook.received) == len(high)
    seen = set()
    for headers, body in hook.received:
        timestamp = headers["X-Careledger-Timestamp"]
        assert timestamp == str(int(portal.clock.now.timestamp()))
        # Recomputed here from the documented recipe, and with the helper receivers use.
        expected = hmac.new(
            b"s3cret-shared-with-the-duty-system",
            timestamp.encode() + b"." + body,
            hashlib.sha256,
        ).hexdigest()
        assert headers["X-Careledger-Signature"] == f"sha256={expected}"
        assert verify_webhook_signature(
            b"s3cret-shared-with-the-duty-system",
            timestamp,
            body,
            headers["X-Careledger-Signature"],
            now=portal.clock.now,
        )
        assert not verify_webhook_signature(
            b"another secret", timestamp, body, f"sha256={expected}", now=portal.clock.now
        )
        assert not verify_webhook_signature(  # a replay an hour later
            b"s3cret-shared-with-the-duty-system",
            timestamp,
            body,
            f"sha256={expected}",
            now=portal.clock.now + timedelta(hours=1),
        )
        document = orjson.loads(body)
        assert document["event"] == "case.opened" and document["severity"] == "high"
        assert document["url"] == f"/portal/cases/{document['case_id']}"
        seen.add(document["case_id"])
    assert seen == high
    assert dispatcher.run().sent == 0  # never twice


def test_cases_open_before_alerting_started_are_not_sent(portal: Portal, relay: Relay) -> None:
    relay.start()
    _post_records(portal)
    portal.clock.now += timedelta(minutes=1)
    settings = AlertSettings(
        smtp_host="127.0.0.1", smtp_port=relay.port, sender="a@b.cn", recipients=ON_DUTY[:1]
    )
    dispatcher = AlertDispatcher(portal.services.engine, settings, portal.clock)
    assert dispatcher.run().enqueued == 0  # the open cases are history to this dispatcher
    # A configured start earlier than the cases does send them.
    earlier = replace(settings, since=portal.clock.now - timedelta(days=1))
    sent = AlertDispatcher(portal.services.engine, earlier, portal.clock).run()
    assert sent.sent == sent.enqueued > 0
    assert len(relay.mailbox.messages) == sent.sent


def test_an_operator_sees_the_queue_and_sends_it_now_from_the_command_line(
    portal: Portal, relay: Relay, database_url: str
) -> None:
    _post_records(portal)
    env = {
        "CARELEDGER_DATA_DIR": str(portal.settings.data_dir),
        "CARELEDGER_DATABASE_URL": database_url,
        "CARELEDGER_ALERT_SMTP_HOST": "127.0.0.1",
        "CARELEDGER_ALERT_SMTP_PORT": str(relay.port),
        "CARELEDGER_ALERT_FROM": "careledger@wsjkw.example.cn",
        "CARELEDGER_ALERT_RECIPIENTS": ";".join(ON_DUTY),
        "CARELEDGER_ALERT_SINCE": "2026-01-01T00:00:00+08:00",
    }
    runner = CliRunner()
    down = runner.invoke(cli, ["alerts", "send-pending"], env=env)
    assert down.exit_code == 1 and "some alerts did not go out" in down.output
    assert f"relay 127.0.0.1:{relay.port}" in down.output
    queued = len(portal.services.cases.list_cases(CaseFilter(severity="high"))) * 2
    status = runner.invoke(cli, ["alerts", "status", "--recent", "50"], env=env)
    assert status.exit_code == 0, status.output
    assert f"pending {queued}, sending 0, sent 0, failed 0" in status.output
    assert status.output.count("attempts 1") == queued
    relay.start()  # back up: sent at once, without waiting for the retry time
    up = runner.invoke(cli, ["alerts", "send-pending"], env=env)
    assert up.exit_code == 0, up.output
    assert f"sent {queued}" in up.output and len(relay.mailbox.messages) == queued
    status = runner.invoke(cli, ["alerts", "status"], env=env)
    assert f"pending 0, sending 0, sent {queued}, failed 0" in status.output


# -- deadlines -----------------------------------------------------------------------


def _respond(portal: Portal, notice_id: str) -> str:
    unsigned = {
        "platform_id": portal.platform_id,
        "key_id": portal.key.key_id,
        "notice_id": notice_id,
        "response_id": f"resp-{notice_id}",
        "created_at": portal.clock.now.astimezone(CHINA).isoformat(),
        "kind": "rectified",
        "statement": "已完成整改：补充备案材料并停止相关执业人员在线接诊。",
        "attachments": [],
    }
    portal.services.cases.respond(sign_response(portal.key.seed, unsigned))
    return str(unsigned["response_id"])


def _state(portal: Portal, case_id: str) -> str:
    case = portal.services.cases.case(case_id)
    assert case is not None
    return str(case.state)


def test_the_scheduler_escalates_a_case_past_its_deadline_without_an_accepted_answer(
    portal: Portal,
) -> None:
    _post_records(portal)
    cases = portal.services.cases
    overdue, answered = (row.case_id for row in cases.list_cases()[:2])
    today = portal.clock.now.astimezone(CHINA).date()
    deadline = today + timedelta(days=7)
    notices = {}
    for case_id in (overdue, answered):
        notices[case_id] = cases.order_rectification(
            case_id,
            deadline=deadline,
            text="请于期限内完成整改并提交整改报告。",
            username="wangjing",
            roles=REGULATOR,
        )
    response_id = _respond(portal, notices[answered])
    cases.review(response_id, accept=True, username="wangjing", roles=REGULATOR)
    job = job_functions(portal.services)["case_escalation"]

    # On the deadline day nothing is overdue yet.
    portal.clock.now += timedelta(days=7)
    assert portal.clock.now.astimezone(CHINA).date() == deadline
    assert job() == "escalated 0 overdue cases"
    # The day after: the unanswered case is escalated by the scheduler, on the ledger.
    portal.clock.now += timedelta(days=1)
    size = portal.services.store.head().size
    assert job() == f"escalated 1 overdue cases: {overdue}"
    assert _state(portal, overdue) == "escalated"
    assert _state(portal, answered) == "closed"
    last = cases.events(overdue)[-1]
    assert (last.action, last.state_after, last.username) == (
        "escalate",
        "escalated",
        SCHEDULER_ACTOR,
    )
    assert deadline.isoformat() in last.reason
    entries = [
        decode_leaf(portal.services.store.entry(i).leaf)
        for i in range(size, portal.services.store.head().size)
    ]
    public = [
        (e.type, {k: v for k, v in e.statement.items() if k != "commitment"}) for e in entries
    ]
    assert public == [
        ("case.event", {"case_id": overdue, "action": "escalate", "state_after": "escalated"})
    ]
    assert SCHEDULER_ACTOR not in entries[0].statement.values()  # who acted is sealed
    # Once only: the next day's run leaves it be.
    portal.clock.now += timedelta(days=1)
    assert job() == "escalated 0 overdue cases"
    assert len(cases.events(overdue)) == 2


def test_a_responded_case_awaiting_review_past_its_deadline_is_escalated_too(
    portal: Portal,
) -> None:
    _post_records(portal)
    cases = portal.services.cases
    case_id = cases.list_cases()[0].case_id
    today = portal.clock.now.astimezone(CHINA).date()
    notice_id = cases.order_rectification(
        case_id,
        deadline=today + timedelta(days=3),
        text="请于期限内完成整改。",
        username="wangjing",
        roles=REGULATOR,
    )
    _respond(portal, notice_id)
    portal.clock.now += timedelta(days=4)
    assert job_functions(portal.services)["case_escalation"]() == (
        f"escalated 1 overdue cases: {case_id}"
    )
    assert _state(portal, case_id) == "escalated"
