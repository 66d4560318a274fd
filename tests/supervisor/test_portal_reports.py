"""Reports and schedules in the portal, signed in through the real directory: generate on
demand, filter, download, verify (and see verification fail), change a schedule."""

from __future__ import annotations

import html
import io
import re
import threading
import time
from hashlib import sha256
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import insert, select, update

from ledger import schema as ledger_schema
from supervisor.database import tables
from supervisor.reporting.verification import VERIFICATION_STEPS
from supervisor.runtime.services import Services
from supervisor.web.portal.jobs import JobRunningError
from tests.tampering import take_down_ledger_guards

from .agency_directory import directory
from .test_portal_records import province_portal
from .test_portal_sign_in import _csrf, _sign_in

__all__ = ["directory", "province_portal"]

REGULATOR = ("wangjing", "jing-password-1")
SUPERVISOR = ("liqiang", "qiang-password-2")
AUDITOR = ("zhaomin", "min-password-3")


def _generate(client: FlaskClient, kind: str, period: str) -> tuple[int, str]:
    token = _csrf(client.get("/portal/reports").data)
    answer = client.post(
        "/portal/reports/generate", data={"csrf_token": token, "kind": kind, "period": period}
    )
    return answer.status_code, answer.get_data(as_text=True)


def test_a_regulator_generates_downloads_and_verifies_a_report(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, *REGULATOR)[0] == 302
    status, page = _generate(client, "digest", "2026-10-31")
    assert status == 200
    report = services.reports.list()[0]
    assert f"已发布 {report.report_id}" in page and str(report.entry_index) in page
    assert report.requested_by == "wangjing"
    listing = client.get("/portal/reports?kind=digest&period=2026-10").get_data(as_text=True)
    assert report.report_id in listing
    assert report.report_id not in client.get("/portal/reports?kind=assessment").get_data(
        as_text=True
    )
    pdf = client.get(f"/portal/reports/{report.report_id}/pdf-zh")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert sha256(pdf.data).hexdigest() == report.pdf_sha256["zh"]
    assert "互联网诊疗智能监管简报" in PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    data = client.get(f"/portal/reports/{report.report_id}/json")
    assert sha256(data.data).hexdigest() == report.data_sha256
    assert client.get(f"/portal/reports/{report.report_id}/exe").status_code == 404
    assert client.get("/portal/reports/nothing-here/pdf-zh").status_code == 404
    token = _csrf(client.get("/portal/reports").data)
    status, text = _verification(client, report.report_id, token)
    assert status == 200 and "已核验" in text and "未通过" not in text
    # Each check says what it found in the reader's language, the CLI's English folded.
    visible = html.unescape(re.sub(r"<details>.*?</details>", "", text, flags=re.S))
    assert f"SHA-256 {report.pdf_sha256['zh']}" in visible and "账本中有一条报告发布条目" in visible
    assert "与发布时一致" in visible and "included in the log" not in visible
    # Without the form's token, nothing is verified (or generated).
    assert client.post(f"/portal/reports/{report.report_id}/verify").status_code == 400


def test_verification_in_the_portal_fails_once_a_record_behind_the_report_changes(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    generated = services.reports.generate("digest", "2026-10-31", requested_by="test")
    e = ledger_schema.entries
    with services.engine.begin() as connection:
        index, payload = connection.execute(
            select(e.c.idx, e.c.payload)
            .where(e.c.type == "record.consultation", e.c.idx < generated.report.tree_size)
            .limit(1)
        ).one()
        take_down_ledger_guards(connection)
        connection.execute(update(e).where(e.c.idx == index).values(payload=payload[:-1] + b"x"))
    assert _sign_in(client, *AUDITOR)[0] == 302
    token = _csrf(client.get("/portal/reports").data)
    _, text = _verification(client, generated.report.report_id, token)
    assert "核验未通过" in text
    visible = html.unescape(re.sub(r"<details>.*?</details>", "", text, flags=re.S))
    assert "已不再包含报告计算所依据的数据" in visible, visible
    with services.engine.begin() as connection:
        take_down_ledger_guards(connection)
        connection.execute(update(e).where(e.c.idx == index).values(payload=payload))


def test_auditors_cannot_generate_and_bad_periods_are_explained(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, other, services = province_portal
    assert _sign_in(client, *AUDITOR)[0] == 302
    page = client.get("/portal/reports").get_data(as_text=True)
    assert 'id="generate-form"' not in page
    size = services.store.head().size
    assert _generate(client, "digest", "2026-10-31")[0] == 403
    assert _sign_in(other, *REGULATOR)[0] == 302
    status, page = _generate(other, "assessment", "2026-10-31")
    assert status == 422 and "covers a month or quarter, not a day" in page
    status, page = _generate(other, "digest", "yesterday")
    assert status == 422 and "yesterday" in page
    assert services.store.head().size == size  # nothing appended for refused requests


def test_a_supervisor_changes_a_schedule_and_everyone_sees_runs_and_failures(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, other, services = province_portal
    with services.engine.begin() as connection:
        connection.execute(
            insert(tables.job_runs).values(
                job_id="daily_digest", attempt=3, status="failed",
                started_at=services.clock(), finished_at=services.clock(),
                detail="FontMissingError: reports need a TrueType CJK font",
            )
        )  # fmt: skip
    assert _sign_in(other, *REGULATOR)[0] == 302
    page = other.get("/portal/schedules").get_data(as_text=True)
    assert "每日智能监管简报" in page and "30 0 * * *" in page
    assert "FontMissingError" in page and "没有调度程序在运行" in page
    assert 'name="cron"' not in page  # regulators read schedules
    assert _sign_in(client, *SUPERVISOR)[0] == 302
    token = _csrf(client.get("/portal/schedules").data)
    refused = client.post(
        "/portal/schedules/daily_digest", data={"csrf_token": token, "cron": "30 25 * * *"}
    )
    shown = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 422 and "30 25 * * * 不是调度程序可以执行的计划" in shown
    assert "not a valid cron expression" in shown.split("<details>")[1]  # detail, folded
    assert "每天 00:30" in shown  # the schedule in force, in words
    changed = client.post(
        "/portal/schedules/daily_digest",
        data={"csrf_token": token, "cron": "0 7 * * *", "reason": "早班前送达"},
    )
    text = changed.get_data(as_text=True)
    assert changed.status_code == 200
    index = int(re.search(r"账本条目 (\d+)", text).group(1))  # type: ignore[union-attr]
    entry = services.store.entry(index)
    assert entry.type == "schedule.change"
    assert orjson.loads(entry.leaf)["statement"]["cron"] == "0 7 * * *"
    assert "0 7 * * *" in other.get("/portal/schedules").get_data(as_text=True)
    token = _csrf(other.get("/portal/schedules").data)
    assert (
        other.post(
            "/portal/schedules/daily_digest", data={"csrf_token": token, "cron": "0 8 * * *"}
        ).status_code
        == 403
    )


def _verification(client: FlaskClient, report_id: str, token: str) -> tuple[int, str]:
    """Start a verification, then follow its job's page until it is finished."""
    started = client.post(f"/portal/reports/{report_id}/verify", data={"csrf_token": token})
    assert started.status_code == 303 and "/portal/jobs/" in started.headers["Location"]
    deadline = time.monotonic() + 120
    while True:
        page = client.get(started.headers["Location"])
        text = page.get_data(as_text=True)
        if 'id="job-progress"' not in text:
            return page.status_code, text
        assert time.monotonic() < deadline, "the verification job did not finish"
        time.sleep(0.1)


def test_a_heavy_action_is_a_job_with_progress_one_per_person(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, other, services = province_portal
    report = services.reports.generate("digest", "2026-10-31", requested_by="test").report
    assert _sign_in(client, *AUDITOR)[0] == 302
    jobs = client.application.extensions["careledger.portal"].jobs
    release = threading.Event()

    def slow(progress: Any) -> dict[str, Any]:
        progress("included")
        release.wait(30)
        return {"report_id": report.report_id, "ok": True, "checks": []}

    username = AUDITOR[0]
    running = jobs.start(username, "report_verify", report.report_id, VERIFICATION_STEPS, slow)
    try:
        page = client.get(f"/portal/jobs/{running}").get_data(as_text=True)
        assert "job-progress.js" in page and 'id="job-progress"' in page
        assert "2" in page  # step 2 of 4 is running
        # A second heavy action of the same person leads to the one running.
        token = _csrf(client.get("/portal/reports").data)
        again = client.post(
            f"/portal/reports/{report.report_id}/verify", data={"csrf_token": token}
        )
        assert again.headers["Location"].endswith(f"/portal/jobs/{running}")
        with pytest.raises(JobRunningError):
            jobs.start(username, "report_verify", "x", VERIFICATION_STEPS, slow)
        # Nobody else sees it.
        assert _sign_in(other, "wangjing", "jing-password-1")[0] == 302
        assert other.get(f"/portal/jobs/{running}").status_code == 404
    finally:
        release.set()
    deadline = time.monotonic() + 30
    while jobs.running(username) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert jobs.get(running, username).state == "done"  # type: ignore[union-attr]


def test_a_report_of_a_period_without_records_is_published_only_when_confirmed(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "liqiang", "qiang-password-2")[0] == 302
    token = _csrf(client.get("/portal/reports").data)
    form = {"csrf_token": token, "kind": "digest", "period": "2020-01-01"}
    size = services.store.head().size
    asked = client.post("/portal/reports/generate", data=form).get_data(as_text=True)
    assert 'id="empty-period"' in asked and "2020-01-01" in asked
    assert services.store.head().size == size  # nothing published yet
    confirmed = client.post("/portal/reports/generate", data={**form, "confirm_empty": "1"})
    assert 'id="reports-message"' in confirmed.get_data(as_text=True)
    assert services.store.head().size > size
