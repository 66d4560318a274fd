"""Institution and practitioner pages: who they are, volumes, findings and compliance rate."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import func, select

from supervisor.database import tables
from supervisor.runtime.services import Services
from supervisor.web.portal.profiles import institution_profile, practitioner_profile

from .agency_directory import directory
from .test_portal_records import province_portal
from .test_portal_sign_in import _sign_in

__all__ = ["directory", "province_portal"]  # the fixtures, shared


def test_an_institution_page_adds_up(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    profile = institution_profile(services, "H330100001")
    assert profile is not None and profile.facts is not None
    assert profile.facts["kind"] in ("second_name", "standalone", "platform")
    r, f = tables.records.c, tables.findings.c
    with services.engine.connect() as connection:
        records = connection.execute(select(func.count()).select_from(tables.records)).scalar_one()
        service = select(r.entry_index).where(
            r.record_type.in_(("consultation", "prescription", "charge"))
        )
        total = connection.execute(
            select(func.count()).select_from(service.subquery())
        ).scalar_one()
        flagged = connection.execute(
            select(func.count(func.distinct(f.record_index))).where(f.record_index.in_(service))
        ).scalar_one()
    assert sum(profile.volumes.values()) == records  # one institution in this province
    assert profile.compliance_rate == round(1 - flagged / total, 4)
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    page = client.get("/portal/institutions/H330100001").get_data(as_text=True)
    shown = re.search(r'id="compliance-rate">合规率: ([0-9.]+)%', page)
    assert shown and abs(float(shown.group(1)) - 100 * profile.compliance_rate) < 0.06
    assert "依托实体医疗机构" in page or profile.facts["host_institution_code"] is None
    assert client.get("/portal/institutions/H999").status_code == 404


def test_a_practitioner_page_shows_the_registry_and_their_records(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    with services.engine.connect() as connection:
        licence, count = connection.execute(
            select(tables.records.c.practitioner_license_no, func.count())
            .where(tables.records.c.record_type == "consultation")
            .group_by(tables.records.c.practitioner_license_no)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
    profile = practitioner_profile(services, licence)
    assert profile is not None and profile.facts is not None
    assert profile.facts["role"] == "physician" and profile.volumes["consultation"] == count
    assert profile.related == [("H330100001", "H330100001")]
    assert _sign_in(client, "zhaomin", "min-password-3")[0] == 302
    page = client.get(f"/portal/practitioners/{licence}").get_data(as_text=True)
    assert profile.facts["name"] in page and "主执业机构" in page
    assert "<dd>医师</dd>" in page and ">physician<" not in page  # enums in words
    assert client.get("/portal/practitioners/X0000").status_code == 404
