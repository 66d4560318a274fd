"""Every portal route against every kind of caller: anonymous, a platform's API key, an
auditor, a regulator, a supervisor. And the directory being down is a message, not a 500."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from supervisor.custody.data_folder import initialise
from supervisor.custody.payload_keys import SALT_SIZE
from supervisor.database import tables
from supervisor.runtime.services import Services
from supervisor.web.app import create_app
from tests.slapd import Directory

from .agency_directory import directory
from .test_portal_records import _consultation_index, _state_purpose, province_portal
from .test_portal_sign_in import _csrf, _settings, _sign_in

__all__ = ["directory", "province_portal"]  # the fixtures, shared

PEOPLE = {
    "auditor": ("zhaomin", "min-password-3"),
    "regulator": ("wangjing", "jing-password-1"),
    "supervisor": ("liqiang", "qiang-password-2"),
}


def _routes(services: Services) -> dict[str, str]:
    index = _consultation_index(services)
    with services.engine.connect() as connection:
        finding = connection.execute(select(tables.findings.c.finding_id).limit(1)).scalar_one()
        pseudonym = connection.execute(
            select(tables.records.c.patient_pseudonym).where(tables.records.c.entry_index == index)
        ).scalar_one()
        reference = connection.execute(
            select(tables.reference_versions.c.entry_index).where(
                tables.reference_versions.c.dataset == "drugs"
            )
        ).scalar_one()
    published = services.reports.list(limit=1)
    report = (
        published[0]
        if published
        else services.reports.generate("digest", "2026-10-31", requested_by="test").report
    )
    return {
        "dashboard": "/portal/",
        "findings": "/portal/findings",
        "finding": f"/portal/findings/{finding}",
        "record": f"/portal/records/{index}",
        "patient access": f"/portal/patients/{pseudonym}/access",
        "search": "/portal/search?type=consultation",
        "patient search": f"/portal/search?patient={pseudonym}",
        "institution": "/portal/institutions/H330100001",
        "practitioner": "/portal/practitioners/103300000002",
        "reference": "/portal/reference",
        "reference diff": f"/portal/reference/{reference}/diff",
        "reports": "/portal/reports",
        "report file": f"/portal/reports/{report.report_id}/pdf-zh",
        "schedules": "/portal/schedules",
    }


#: What each role gets on each route once signed in with a stated purpose.
EXPECTED = {
    "auditor": {"patient access": 403, "patient search": 403, "reference": 403,
                "reference diff": 403},
    "regulator": {"reference": 403, "reference diff": 403},
    # The only drugs version is the first: nothing to compare it with.
    "supervisor": {"reference diff": 404},
}  # fmt: skip


def test_anonymous_callers_and_platform_keys_are_sent_to_sign_in(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    platform_header = {
        "Authorization": 'CareLedger-Ed25519 platform_id="PLT-H330100001", key_id="0", '
        'created="0", signature="AA=="'
    }
    for name, path in _routes(services).items():
        for headers in ({}, platform_header):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 302, name
            assert answer.headers["Location"].startswith("/portal/login"), name
    for path in (
        "/portal/logout",
        "/portal/reference/upload",
        "/portal/reference/policy",
        "/portal/search",
        "/portal/search/export",
    ):
        assert client.post(path).status_code in (302, 400)  # never served


@pytest.mark.parametrize("role", sorted(PEOPLE))
def test_each_role_gets_what_it_should_and_auditors_never_see_a_patient_id(
    province_portal: tuple[FlaskClient, FlaskClient, Services], role: str
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, *PEOPLE[role])[0] == 302
    routes = _routes(services)
    _state_purpose(client, routes["record"], "授权矩阵测试")
    sealed = services.store.entry(_consultation_index(services)).payload or b""
    patient_id = orjson.loads(services.keys.open(sealed)[SALT_SIZE:])["patient"]["id_number"]
    for name, path in routes.items():
        answer = client.get(path)
        expected = EXPECTED[role].get(name, 200)
        assert answer.status_code == expected, (role, name, answer.status_code)
        if role == "auditor":
            assert patient_id.encode() not in answer.get_data(), name


def test_the_directory_being_down_is_a_message_not_an_error(
    tmp_path: Path, database_url: str, directory: Directory
) -> None:
    down = replace(
        _settings(tmp_path, database_url, directory), portal_ldap_url="ldap://127.0.0.1:9"
    )
    initialise(down)
    client = create_app(down).test_client()
    status, page = _sign_in(client, "wangjing", "jing-password-1")
    assert status == 503 and "机构目录暂不可用，请稍后再试" in page


def test_no_patient_level_page_is_served_without_its_access_entry(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    routes = _routes(services)
    _state_purpose(client, routes["record"], "留痕完整性测试")
    sealed = services.store.entry(_consultation_index(services)).payload or b""
    patient_id = orjson.loads(services.keys.open(sealed)[SALT_SIZE:])["patient"]["id_number"]
    pseudonym = services.keys.pseudonym("patient", patient_id)
    patient_level = {
        "record": (routes["record"], "access.viewed_record"),
        "patient search": (f"/portal/search?patient={pseudonym}", "access.searched_patient"),
    }
    for name, (path, entry_type) in patient_level.items():
        size = services.store.head().size
        assert client.get(path).status_code == 200, name
        assert services.store.head().size == size + 1, name
        assert services.store.entry(size).type == entry_type, name
    token = _csrf(client.get("/portal/search").data)
    for name, form in (
        ("export", {"type": "consultation"}),
        ("patient export", {"patient_id": patient_id}),
    ):
        size = services.store.head().size
        answer = client.post("/portal/search/export", data={**form, "csrf_token": token})
        assert answer.status_code == 200 and answer.mimetype == "text/csv", name
        assert services.store.head().size == size + 1, name
        assert services.store.entry(size).type == "access.exported", name
    # Pages without patient-level data write nothing.
    for name in ("dashboard", "findings", "finding", "search", "institution", "practitioner"):
        size = services.store.head().size
        assert client.get(routes[name]).status_code == 200, name
        assert services.store.head().size == size, name
