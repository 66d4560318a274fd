"""The record page: purpose first, the view written to the ledger before anything is shown,
identities for regulators only, the inclusion proof checked against the signed checkpoint."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select, update

from ledger import schema as ledger_schema
from ledger.integrity import verify_stored_log
from ledger.leaf import decode_leaf
from supervisor.cli import cli
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.database import tables
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import LoadReport, load_province, write_province
from supervisor.ground.records import open_leaf_payload
from supervisor.inspection.related_records import RECORD_QUERY
from supervisor.runtime.projections import rebuild_projections
from supervisor.runtime.services import Services
from supervisor.web.app import create_app
from tests.slapd import Directory
from tests.tampering import take_down_ledger_guards

from .agency_directory import directory
from .conftest import Clock
from .test_portal_sign_in import _csrf, _settings, _sign_in

__all__ = ["directory"]  # the fixture, shared

pytestmark = pytest.mark.database


def _load_small_province(tmp_path: Path, settings: Settings, *, seed: int) -> LoadReport:
    """One institution's day, violations injected, submitted through the platform API."""
    folder = tmp_path / "province"
    small = {"institutions": 1, "days": 1, "seed": seed, "violation_rate": 0.3}
    write_province(generate_province(**small, end=date(2026, 11, 1)), folder)  # type: ignore[arg-type]
    return load_province(folder, settings)


@pytest.fixture
def province_portal(
    tmp_path: Path, database_url: str, directory: Directory
) -> tuple[FlaskClient, FlaskClient, Services]:
    settings = _settings(tmp_path, database_url, directory)
    verifier = initialise(settings).log_verifier
    report = _load_small_province(tmp_path, settings, seed=3)
    clock = Clock(report.ended_at + timedelta(days=4))
    app = create_app(settings, clock=clock)
    services: Services = app.extensions["careledger"]
    services.inspector.follow()
    yield app.test_client(), app.test_client(), services
    assert verifier is not None
    result = verify_stored_log(services.engine, verifier)
    assert result.ok, result.discrepancy


def _consultation_index(services: Services) -> int:
    with services.engine.connect() as connection:
        return int(
            connection.execute(
                select(tables.records.c.entry_index)
                .where(tables.records.c.record_type == "consultation")
                .limit(1)
            ).scalar_one()
        )


def _state_purpose(client: FlaskClient, path: str, purpose: str) -> str:
    asked = client.get(path)
    assert asked.status_code == 302 and "/portal/purpose" in asked.headers["Location"]
    form = client.get(asked.headers["Location"]).data
    answer = client.post(
        "/portal/purpose", data={"csrf_token": _csrf(form), "purpose": purpose, "back": path}
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith(path)
    return client.get(path).get_data(as_text=True)


def test_a_regulator_states_a_purpose_and_the_view_is_in_the_ledger(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    index = _consultation_index(services)
    size = services.store.head().size
    page = _state_purpose(client, f"/portal/records/{index}", "投诉核查 2026-117")
    assert "已通过已签名检查点验证" in page or "verified against the signed checkpoint" in page
    record = services.store.entry(index)
    content = re.search(r'<pre id="record-content">(.*?)</pre>', page, re.S)
    assert content
    shown = html.unescape(content.group(1))
    assert "***" not in shown and '"id_number"' in shown
    assert "wangjing" in page and "投诉核查 2026-117" in page  # the trail shows this view
    # The view was appended before the page was built, and its public leaf names nobody.
    access = services.store.entry(size)
    assert access.type == "access.viewed_record"
    statement = decode_leaf(access.leaf).statement
    assert statement["subject_index"] == index and "wangjing" not in access.leaf.decode()
    assert record.type == "record.consultation"
    # Who looked at this patient's records, and the trail survives a replay of the ledger.
    pseudonym = re.search(r"/portal/patients/([0-9a-f]+)/access", page)
    assert pseudonym
    listing = client.get(f"/portal/patients/{pseudonym.group(1)}/access").get_data(as_text=True)
    assert "wangjing" in listing and "投诉核查 2026-117" in listing
    with services.engine.connect() as connection:
        before = connection.execute(select(tables.access_events)).all()
    rebuild_projections(services.engine, services.keys, lambda last: last + 1)
    with services.engine.connect() as connection:
        assert connection.execute(select(tables.access_events)).all() == before


def test_an_auditor_sees_the_record_without_the_patient(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    _, auditor, services = province_portal
    assert _sign_in(auditor, "zhaomin", "min-password-3")[0] == 302
    index = _consultation_index(services)
    page = _state_purpose(auditor, f"/portal/records/{index}", "年度账本审计")
    content = re.search(r'<pre id="record-content">(.*?)</pre>', page, re.S)
    assert content and html.unescape(content.group(1)).count("***") == 2  # name and ID number
    assert "/portal/patients/" not in page
    assert auditor.get("/portal/patients/00ff/access").status_code == 403


def test_a_tampered_leaf_is_shown_as_not_verified(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "liqiang", "qiang-password-2")[0] == 302
    index = _consultation_index(services)
    _state_purpose(client, f"/portal/records/{index}", "例行检查")
    entries = ledger_schema.entries
    with services.engine.begin() as connection:
        leaf = connection.execute(select(entries.c.leaf).where(entries.c.idx == index)).scalar_one()
        forged = bytes(leaf).replace(b'"record_id":"', b'"record_id":"X', 1)
        take_down_ledger_guards(connection)
        connection.execute(update(entries).where(entries.c.idx == index).values(leaf=forged))
    page = client.get(f"/portal/records/{index}").get_data(as_text=True)
    assert re.search(r'id="proof-status">(未通过验证|not verified)', page)
    with services.engine.begin() as connection:  # put it back for the log check afterwards
        take_down_ledger_guards(connection)
        connection.execute(update(entries).where(entries.c.idx == index).values(leaf=leaf))


def test_no_record_no_view(province_portal: tuple[FlaskClient, FlaskClient, Services]) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    _state_purpose(client, f"/portal/records/{_consultation_index(services)}", "核查投诉线索")
    size = services.store.head().size
    assert client.get("/portal/records/0").status_code == 404  # a key event, not a record
    assert services.store.head().size == size  # nothing looked at, nothing recorded


def test_a_purpose_must_say_something(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    path = f"/portal/records/{_consultation_index(services)}"
    form = client.get(f"/portal/purpose?back={path}").data
    for vague in ("看看", "   ", "x" * 201):
        answer = client.post(
            "/portal/purpose", data={"csrf_token": _csrf(form), "purpose": vague, "back": path}
        )
        assert answer.status_code == 200 and "请用 4 至 200 个字说明访问目的" in answer.get_data(
            as_text=True
        )
    assert client.get(path).status_code == 302  # still no purpose, still no record
    forged = client.post("/portal/purpose", data={"purpose": "例行检查工作", "back": path})
    assert forged.status_code == 400  # no CSRF token, no purpose


def _swap_payloads(services: Services, first: int, second: int) -> None:
    """What someone with write access to the database can do: swap two payload rows."""
    entries = ledger_schema.entries
    with services.engine.begin() as connection:
        payloads = dict(
            connection.execute(
                select(entries.c.idx, entries.c.payload).where(entries.c.idx.in_([first, second]))
            ).all()
        )
        take_down_ledger_guards(connection)
        for index, other in ((first, second), (second, first)):
            connection.execute(
                update(entries).where(entries.c.idx == index).values(payload=payloads[other])
            )


def test_swapped_payloads_are_never_shown_as_verified_content(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "liqiang", "qiang-password-2")[0] == 302
    with services.engine.connect() as connection:
        first, second = connection.execute(
            select(tables.records.c.entry_index, tables.records.c.record_id)
            .where(tables.records.c.record_type == "consultation")
            .order_by(tables.records.c.entry_index)
            .limit(2)
        ).all()
    page = _state_purpose(client, f"/portal/records/{first.entry_index}", "例行检查")
    assert second.record_id not in page  # the right content before
    _swap_payloads(services, first.entry_index, second.entry_index)
    page = client.get(f"/portal/records/{first.entry_index}").get_data(as_text=True)
    assert 'id="content-mismatch"' in page and 'id="record-content"' not in page
    assert second.record_id not in page  # the other record's content is not shown as this one
    assert not re.search(r'id="proof-status">(已通过已签名检查点验证|verified)', page)
    # The inspector refuses to judge content the ledger does not vouch for.
    opened, unreadable = services.inspector.reader.open(
        services.engine.connect().execute(
            RECORD_QUERY.where(
                tables.records.c.entry_index.in_([first.entry_index, second.entry_index])
            )
        )
    )
    assert opened == [] and unreadable == 2
    _swap_payloads(services, first.entry_index, second.entry_index)  # put back for the fixture


def test_ledger_verify_with_payloads_names_the_first_swapped_payload(
    tmp_path: Path, database_url: str, directory: Directory
) -> None:
    settings = _settings(tmp_path, database_url, directory)
    initialise(settings)
    _load_small_province(tmp_path, settings, seed=5)
    app = create_app(settings)
    services: Services = app.extensions["careledger"]
    env = {"CARELEDGER_DATA_DIR": str(settings.data_dir), "CARELEDGER_DATABASE_URL": database_url}
    runner = CliRunner()
    clean = runner.invoke(cli, ["ledger", "verify", "--payloads"], env=env)
    assert clean.exit_code == 0 and "payloads verify" in clean.output, clean.output
    with services.engine.connect() as connection:
        indices = (
            connection.execute(
                select(tables.records.c.entry_index)
                .order_by(tables.records.c.entry_index)
                .limit(40)
            )
            .scalars()
            .all()
        )
    _swap_payloads(services, indices[17], indices[31])
    plain = runner.invoke(cli, ["ledger", "verify"], env=env)
    assert plain.exit_code == 0, plain.output  # the tree alone cannot see it
    found = runner.invoke(cli, ["ledger", "verify", "--payloads"], env=env)
    assert found.exit_code == 1
    assert f"first disagreement at index {indices[17]}" in found.output
    _swap_payloads(services, indices[17], indices[31])


def test_a_record_reads_as_labelled_fields_with_names_yuan_and_china_time(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    index = _consultation_index(services)
    page = _state_purpose(client, f"/portal/records/{index}", "字段展示测试")
    fields = re.search(r'<dl id="record-fields">(.*?)</dl>', page, re.S)
    assert fields
    shown = html.unescape(fields.group(1))
    record = orjson.loads(open_leaf_payload(services.keys, *_stored(services, index)))
    doctor = services.reference.snapshot()[0].registry.by_license[record["practitioner_license_no"]]
    assert "接诊医师" in shown and f"{doctor.name} ({doctor.license_no})" in shown
    assert "北京时间" in shown and "follow_up" not in shown and "复诊" in shown
    assert "{" not in shown  # no raw JSON outside the toggle
    with services.engine.connect() as connection:
        charge = connection.execute(
            select(tables.records.c.entry_index)
            .where(tables.records.c.record_type == "charge")
            .limit(1)
        ).scalar_one()
    charged = client.get(f"/portal/records/{charge}").get_data(as_text=True)
    assert re.search(r"<dd class=\"depth-0\">¥\d+\.\d\d</dd>", charged)


def _stored(services: Services, index: int) -> tuple[bytes, bytes | None]:
    entry = services.store.entry(index)
    return entry.leaf, entry.payload


@pytest.mark.parametrize("damage", ["flip", "null", "reference"])
def test_tampering_with_a_payload_never_passes_for_retention(
    tmp_path: Path, database_url: str, directory: Directory, damage: str
) -> None:
    settings = _settings(tmp_path, database_url, directory)
    initialise(settings)
    _load_small_province(tmp_path, settings, seed=6)
    engine = create_app(settings).extensions["careledger"].engine
    env = {"CARELEDGER_DATA_DIR": str(settings.data_dir), "CARELEDGER_DATABASE_URL": database_url}
    clean = CliRunner().invoke(cli, ["ledger", "verify", "--payloads"], env=env)
    assert clean.exit_code == 0 and "shredded" not in clean.output, clean.output
    entries = ledger_schema.entries
    with engine.begin() as connection:
        wanted = entries.c.type.like("reference.%" if damage == "reference" else "record.%")
        index, payload = connection.execute(
            select(entries.c.idx, entries.c.payload).where(wanted).order_by(entries.c.idx).limit(1)
        ).one()
        changed = {
            "flip": payload[:-1] + bytes([payload[-1] ^ 1]),
            "null": None,
            "reference": b'[{"evil": 1}]',
        }[damage]
        take_down_ledger_guards(connection)
        connection.execute(update(entries).where(entries.c.idx == index).values(payload=changed))
    found = CliRunner().invoke(cli, ["ledger", "verify", "--payloads"], env=env)
    assert found.exit_code == 1 and f"first disagreement at index {index}" in found.output
    with engine.begin() as connection:  # put it back for the fixture's own checks
        take_down_ledger_guards(connection)
        connection.execute(update(entries).where(entries.c.idx == index).values(payload=payload))


def test_a_finding_whose_details_were_altered_is_a_page_that_says_so(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    with services.engine.connect() as connection:
        first, second = connection.execute(
            select(tables.findings.c.finding_id, tables.findings.c.entry_index)
            .order_by(tables.findings.c.entry_index)
            .limit(2)
        ).all()
    _swap_payloads(services, first.entry_index, second.entry_index)
    page = client.get(f"/portal/findings/{first.finding_id}")
    assert page.status_code == 200 and 'id="finding-unreadable"' in page.get_data(as_text=True)
    _swap_payloads(services, first.entry_index, second.entry_index)
