"""A record's page tells its consultation as a timeline, and names people and items as the
reference data in force when the ledger received the record named them."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import orjson
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from inspectors.reference import ReferenceSnapshot
from ledger import schema as ledger_schema
from supervisor.database import tables
from supervisor.ground.records import open_leaf_payload
from supervisor.runtime.services import Services
from supervisor.web.portal.timeline import FindingLink, TimelineRecord, timeline_rows
from tests.tampering import take_down_ledger_guards

from .agency_directory import directory
from .test_portal_records import _state_purpose, _swap_payloads, province_portal
from .test_portal_sign_in import _sign_in

__all__ = ["directory", "province_portal"]  # the fixtures, shared

_r = tables.records.c


def _busy_prescription(services: Services) -> tuple[int, str, str]:
    """A prescription with a finding whose consultation also has a charge:
    (its index, its institution, its consultation's record id)."""
    f = tables.findings.c
    with services.engine.connect() as connection:
        charged = select(_r.institution_code, _r.consultation_record_id).where(
            _r.record_type == "charge"
        )
        row = connection.execute(
            select(_r.entry_index, _r.institution_code, _r.consultation_record_id)
            .where(
                _r.record_type == "prescription",
                _r.entry_index.in_(select(f.record_index)),
                _r.consultation_record_id.in_(charged.with_only_columns(_r.consultation_record_id)),
            )
            .order_by(_r.entry_index)
            .limit(1)
        ).one()
    return int(row.entry_index), row.institution_code, row.consultation_record_id


def _rows(page: str) -> list[str]:
    table = re.search(r'<table id="timeline">(.*?)</table>', page, re.S)
    assert table, "no timeline on the page"
    body = table.group(1).split("<tbody>")[1]
    return [html.unescape(r) for r in re.findall(r"<tr.*?</tr>", body, re.S)]


def test_a_prescription_page_shows_its_whole_consultation_in_order(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    index, institution, visit_id = _busy_prescription(services)
    page = _state_purpose(client, f"/portal/records/{index}", "时间线展示测试")
    rows = _rows(page)
    with services.engine.connect() as connection:
        members = connection.execute(
            select(_r.entry_index, _r.record_type).where(
                _r.institution_code == institution,
                (_r.record_id == visit_id) | (_r.consultation_record_id == visit_id),
            )
        ).all()
        finding_ids = (
            connection.execute(
                select(tables.findings.c.finding_id).where(
                    tables.findings.c.record_index.in_([m.entry_index for m in members])
                )
            )
            .scalars()
            .all()
        )
    assert {m.record_type for m in members} >= {"consultation", "prescription", "charge"}
    text = "\n".join(rows)
    # Every other record of the consultation is linked; this one is marked, not linked.
    for member in members:
        if member.entry_index != index:
            assert f'href="/portal/records/{member.entry_index}"' in text
    current = [r for r in rows if 'aria-current="true"' in r]
    assert current and f'href="/portal/records/{index}"' not in "".join(current)
    # What happened, in words; times in China time, oldest first.
    assert "接诊开始" in text and "处方开具" in text and "收费" in text
    times = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) 北京时间</td>", text)
    assert len(times) == len(rows) and times == sorted(times)
    # The prescription's own review happened after it was signed, by a named pharmacist.
    stored = services.store.entry(index)
    record = orjson.loads(open_leaf_payload(services.keys, stored.leaf, stored.payload))
    if record.get("review"):
        pharmacist = services.reference.snapshot_at(index).registry.by_license.get(
            record["review"]["pharmacist_license_no"]
        )
        assert "药师审核" in text
        if pharmacist is not None:
            assert f"{pharmacist.name} ({pharmacist.license_no})" in text
    # Each record's findings are links to the finding; each record carries its proof badge.
    for finding_id in finding_ids:
        assert f'href="/portal/findings/{finding_id}"' in text
    assert text.count("✓ 已证明") == len(members)
    assert "✗" not in text


def test_names_are_those_in_force_when_the_record_was_received(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    with services.engine.connect() as connection:
        index = connection.execute(
            select(func.max(_r.entry_index)).where(_r.record_type == "consultation")
        ).scalar_one()
    entry = services.store.entry(index)
    doctor = orjson.loads(open_leaf_payload(services.keys, entry.leaf, entry.payload))[
        "practitioner_license_no"
    ]
    was = services.reference.snapshot()[0].registry.by_license[doctor].name
    # The registry renames the doctor after the record arrived.
    current = services.reference.current_versions()["registry"]
    rows = services.reference.rows(current.entry_index)
    for row in rows:
        if row["license_no"] == doctor:
            row["name"] = "改名后医师"
    services.reference.import_rows(
        "registry", rows, source="test", now=datetime.now(UTC) + timedelta(days=30)
    )
    assert services.reference.snapshot()[0].registry.by_license[doctor].name == "改名后医师"
    page = html.unescape(_state_purpose(client, f"/portal/records/{index}", "改名测试"))
    assert f"{was} ({doctor})" in page
    assert "改名后医师" not in page


def _record(
    index: int, kind: str, record: dict[str, object], proved: bool = True
) -> TimelineRecord:
    return TimelineRecord(
        index,
        f"R{index}",
        kind,
        datetime(2026, 10, 1, 1, 0, tzinfo=UTC),
        record,
        (FindingLink(f"f{index}", "RX-REVIEW", "high"),),
        proved,
        ReferenceSnapshot(),
    )


def test_events_are_ordered_by_time_and_badged_once_per_record() -> None:
    prescription = _record(
        5,
        "prescription",
        {
            "signed_at": "2026-10-01T09:10:00+08:00",
            "prescriber_license_no": "L1",
            "items": [{"drug_code": "D1", "drug_name": "阿司匹林", "quantity": 2, "unit": "盒"}],
            "review": {
                "pharmacist_license_no": "L2",
                "reviewed_at": "2026-10-01T09:05:00+08:00",  # before signing: shown as it is
                "result": "approved",
            },
            "dispensed_at": None,
        },
        proved=False,
    )
    visit = _record(
        3,
        "consultation",
        {
            "started_at": "2026-10-01T09:00:00+08:00",
            "ended_at": "2026-10-01T09:20:00+08:00",
            "practitioner_license_no": "L1",
            "visit_type": "follow_up",
            "channel": "video",
            "outcome": "completed",
        },
    )
    names = {"follow_up": "复诊", "video": "视频", "approved": "通过", "completed": "完成"}
    rows = timeline_rows([visit, prescription], 5, "H1", lambda s: s, names)
    assert [(r.index, r.what.split(":")[0]) for r in rows] == [
        (3, "Consultation started"),
        (5, "Pharmacist review"),
        (5, "Prescription signed"),
        (3, "Consultation ended"),
    ]
    assert "复诊" in rows[0].what and "阿司匹林 ×2盒" in rows[2].what
    # Not dispensed: no row for it. The badge and findings sit on each record's first event.
    by_record = {(r.index, r.proved is not None) for r in rows}
    assert by_record == {(3, True), (3, False), (5, True), (5, False)}
    assert [r.proved for r in rows if r.proved is not None] == [True, False]
    assert all(r.current == (r.index == 5) for r in rows)


def test_a_swapped_record_on_the_timeline_is_an_alarm_not_a_proof(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "zhaomin", "min-password-3")[0] == 302  # an auditor
    index, institution, visit_id = _busy_prescription(services)
    with services.engine.connect() as connection:
        charge = connection.execute(
            select(_r.entry_index)
            .where(
                _r.institution_code == institution,
                _r.consultation_record_id == visit_id,
                _r.record_type == "charge",
            )
            .limit(1)
        ).scalar_one()
    _swap_payloads(services, charge, index)
    try:
        page = _state_purpose(client, f"/portal/records/{index}", "审计篡改检查")
        rows = _rows(page)
        swapped = [r for r in rows if f'href="/portal/records/{charge}"' in r]
        assert swapped and "内容被篡改" in swapped[0] and "✓" not in swapped[0]
        assert "存储的内容与账本承诺的内容不一致" in swapped[0]
    finally:
        _swap_payloads(services, charge, index)


def test_a_record_after_the_last_checkpoint_awaits_it_and_is_not_called_unproved(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    index, _institution, _visit = _busy_prescription(services)
    with services.engine.begin() as connection:
        take_down_ledger_guards(connection)
        connection.execute(delete(ledger_schema.checkpoints))
    page = html.unescape(_state_purpose(client, f"/portal/records/{index}", "检查点测试"))
    assert "尚未签署任何检查点" in page and "等待下一个检查点" in page
    assert "✗ 未证明" not in page and "no signed checkpoint" not in page
    services.store.sign_checkpoint(now=services.clock())


def test_a_corrected_consultation_keeps_its_prescriptions_on_the_timeline() -> None:
    """From a correction's page the consultation's other records are still listed, and a
    record of the consultation always has its own row (pure: the rows come in)."""
    original = _record(3, "consultation", {"started_at": "2026-10-01T09:00:00+08:00"})
    corrected = _record(
        9,
        "consultation",
        {"started_at": "2026-10-01T09:01:00+08:00", "amends": "R3"},
    )
    prescription = _record(5, "prescription", {"signed_at": "2026-10-01T09:10:00+08:00"})
    rows = timeline_rows([original, prescription, corrected], 9, "H1", lambda s: s, {})
    assert [r.index for r in rows] == [3, 9, 5]
    assert "corrects R3" in rows[1].what and rows[1].current
