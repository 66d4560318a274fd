"""Finding triage: the state machine, and each step as a ledger entry through the portal."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from ledger.leaf import decode_leaf
from supervisor.database import tables
from supervisor.inspection.triage import ACTIONS, STATES, TriageError, next_state
from supervisor.runtime.projections import rebuild_projections
from supervisor.runtime.services import Services

from .agency_directory import directory
from .test_portal_records import province_portal
from .test_portal_sign_in import _csrf, _sign_in

__all__ = ["directory", "province_portal"]  # the fixtures, shared

TODAY = date(2026, 11, 24)


def _step(state: str, action: str, reason: str = "", deadline: date | None = None) -> str:
    return next_state(state, action, reason=reason, deadline=deadline, today=TODAY)


def test_the_happy_path_and_every_refusal() -> None:
    state = _step("open", "acknowledge")
    state = _step(state, "order_rectification", deadline=date(2026, 12, 31))
    assert _step(state, "resolve") == "resolved"
    assert _step("acknowledged", "dismiss", reason="重复上报，已核实") == "dismissed"
    with pytest.raises(TriageError, match="needs its reason"):
        _step("open", "dismiss", reason="  ")
    with pytest.raises(TriageError, match="needs a deadline"):
        _step("open", "order_rectification")
    with pytest.raises(TriageError, match="after today"):
        _step("open", "order_rectification", deadline=TODAY)
    with pytest.raises(TriageError, match="open cannot be given 'resolve'"):
        _step("open", "resolve")
    for closed in ("resolved", "dismissed"):
        for action in ACTIONS:
            with pytest.raises(TriageError):
                _step(closed, action, reason="理由充分的说明", deadline=date(2027, 1, 1))
    assert {after for _, after in ACTIONS.values()} | {"open"} == set(STATES)


def _a_finding(services: Services) -> str:
    with services.engine.connect() as connection:
        return str(connection.execute(select(tables.findings.c.finding_id).limit(1)).scalar_one())


def test_regulators_triage_in_the_portal_and_each_step_is_a_ledger_entry(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, auditor, services = province_portal
    finding_id = _a_finding(services)
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    page = client.get(f"/portal/findings/{finding_id}").get_data(as_text=True)
    assert 'id="finding-state">待处理' in page and "法律依据" in page
    size = services.store.head().size

    def act(action: str, **form: str) -> tuple[int, str]:
        token = _csrf(client.get(f"/portal/findings/{finding_id}").data)
        answer = client.post(
            f"/portal/findings/{finding_id}/actions",
            data={"csrf_token": token, "action": action, **form},
        )
        return answer.status_code, answer.get_data(as_text=True)

    assert act("acknowledge")[0] == 302
    status, page = act("order_rectification")
    assert status == 422 and "整改通知须设定整改期限" in page  # what was entered: 422
    assert act("order_rectification", deadline="2030-01-31")[0] == 302
    status, page = act("dismiss", reason="x")
    assert status == 422 and "排除须说明理由" in page
    assert act("resolve")[0] == 302
    page = client.get(f"/portal/findings/{finding_id}").get_data(as_text=True)
    assert 'id="finding-state">已整改完成' in page and "下发整改通知" in page
    assert "记录此操作" not in page  # closed: nothing more to do
    steps = [services.store.entry(i) for i in range(size, services.store.head().size)]
    assert [decode_leaf(e.leaf).statement["action"] for e in steps] == [
        "acknowledge",
        "order_rectification",
        "resolve",
    ]
    assert all("wangjing" not in e.leaf.decode() for e in steps)  # who is sealed
    # The states are a projection: a replay of the ledger gives the same.
    with services.engine.connect() as connection:
        before = connection.execute(select(tables.finding_actions)).all()
    rebuild_projections(services.engine, services.keys, lambda last: last + 1)
    with services.engine.connect() as connection:
        assert connection.execute(select(tables.finding_actions)).all() == before
        state = connection.execute(
            select(tables.findings.c.state).where(tables.findings.c.finding_id == finding_id)
        ).scalar_one()
    assert state == "resolved"
    # An auditor reads but cannot act, even with a valid form.
    assert _sign_in(auditor, "zhaomin", "min-password-3")[0] == 302
    other = _a_finding(services)
    page = auditor.get(f"/portal/findings/{other}").get_data(as_text=True)
    assert "记录此操作" not in page
    token = _csrf(auditor.get("/portal/findings").data)
    refused = auditor.post(
        f"/portal/findings/{other}/actions", data={"csrf_token": token, "action": "acknowledge"}
    )
    assert refused.status_code == 403
    assert re.search(r"待处理|已整改完成", page)
