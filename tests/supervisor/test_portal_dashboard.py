"""The dashboard: its figures agree with the projections, and move when findings are triaged."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import func, select

from supervisor.database import tables
from supervisor.runtime.services import Services
from supervisor.web.portal.dashboard import CHINA, dashboard

from .agency_directory import directory
from .test_portal_records import province_portal
from .test_portal_sign_in import _sign_in

__all__ = ["directory", "province_portal"]  # the fixtures, shared


def test_the_dashboard_counts_what_the_projections_hold(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    now = services.clock()
    board = dashboard(services, now)
    with services.engine.connect() as connection:
        records = connection.execute(select(func.count()).select_from(tables.records)).scalar_one()
        findings = dict(
            connection.execute(
                select(tables.findings.c.severity, func.count()).group_by(
                    tables.findings.c.severity
                )
            ).all()
        )
        month_start = now.astimezone(CHINA).replace(day=1, hour=0, minute=0, second=0)
        this_month = connection.execute(
            select(func.count())
            .select_from(tables.records)
            .where(tables.records.c.received_at >= tables.stored_time(month_start))
        ).scalar_one()
        late = connection.execute(
            select(func.count())
            .select_from(tables.findings)
            .where(tables.findings.c.rule_id == "DATA-LATE")
        ).scalar_one()
    # The province's day was four days ago: inside the fourteen-day trend; the month turned
    # since, so this month holds only what arrived after it (a late consultation or two).
    assert sum(bar.records for bar in board.trend) == records
    assert sum(board.month_by_type.values()) == this_month < records
    assert len(board.trend) == 14 and max(bar.height for bar in board.trend) == 120
    assert board.today_by_type == {}
    assert board.open_by_severity == findings
    assert sum(n for _, n in board.late_institutions) == late
    assert board.log_holds and board.checkpoint_size == services.store.head().size
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    page = client.get("/portal/").get_data(as_text=True)
    assert "最新检查点的签名与树根均与已存储的账本一致" in page
    assert page.count("<rect ") == 14
    high = re.search(r"严重: (\d+)", page)
    assert high and int(high.group(1)) == findings.get("high", 0)
    # A dismissed finding is no longer open.
    with services.engine.connect() as connection:
        finding_id, severity = connection.execute(
            select(tables.findings.c.finding_id, tables.findings.c.severity).limit(1)
        ).one()
    services.triage.act(
        finding_id, "dismiss", username="wangjing", roles=frozenset({"regulator"}),
        reason="经核实为重复上报",
    )  # fmt: skip
    after = dashboard(services, now)
    assert after.open_by_severity.get(severity, 0) == findings[severity] - 1
