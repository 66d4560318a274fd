"""A finding's page reads as a regulator writes: the rule's title and legal basis, the
evidence as sentences, the records involved linked, the reference versions and policy
behind it, in Chinese or English; the sealed JSON only behind a toggle."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from inspectors.rulebook import RULES_BY_ID
from supervisor.database import tables
from supervisor.runtime.services import Services
from supervisor.web.portal.evidence_text import evidence_text, rule_titles
from supervisor.web.portal.views import value_names

from .agency_directory import directory
from .test_evidence_text import EN, ZH, reading
from .test_portal_records import province_portal
from .test_portal_sign_in import _sign_in

__all__ = ["directory", "province_portal"]  # the fixtures, shared

pytestmark = pytest.mark.database


def _findings(services: Services) -> list[Any]:
    with services.engine.connect() as connection:
        return list(
            connection.execute(select(tables.findings).order_by(tables.findings.c.entry_index))
        )


def _outside_details(page: str) -> str:
    return re.sub(r"<details.*?</details>", "", page, flags=re.S)


def _text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">(.*?)</(?:div|dd|span|table|ul)>', page, re.S)
    assert found, element_id
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def _sealed(services: Services, entry_index: int) -> dict[str, Any]:
    stored = services.store.entry(entry_index)
    return services.inspector.open_finding(stored.leaf, stored.payload)


def _expected_sentences(services: Services, sealed: dict[str, Any], language: str) -> list[str]:
    snapshot = services.reference.snapshot_of(sealed["reference_versions"])
    with reading(language) as (_, __):
        read = evidence_text(sealed["rule"], sealed["evidence"], snapshot, _, value_names())
    assert read.sentences and not read.lines
    return list(read.sentences)


def _in_english(client: FlaskClient) -> None:
    assert client.get("/portal/language?to=en&back=/portal/findings").status_code == 302


def test_every_finding_reads_as_sentences_with_its_basis_and_records_linked(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    findings = _findings(services)
    rules = {f.rule_id for f in findings}
    assert len(rules) >= 5, rules  # the small province breaks many rules, not one
    with_related = [f for f in findings if f.related_indices]
    assert with_related, "the province has a finding that involves another record"
    for language in (ZH, EN):
        if language == EN:
            _in_english(client)
        for row in findings:
            page = client.get(f"/portal/findings/{row.finding_id}").get_data(as_text=True)
            rule = RULES_BY_ID[row.rule_id]
            sealed = _sealed(services, row.entry_index)
            shown = _text_of(page, "finding-evidence")
            for sentence in _expected_sentences(services, sealed, language):
                assert sentence in shown, (row.rule_id, sentence, shown)
            visible = _outside_details(page)
            assert "{" not in visible and '"license_no"' not in visible, row.rule_id
            assert f'href="/portal/records/{row.record_index}"' in page
            # Its case: the findings of the same cause, and what was done about them.
            assert row.case_id and re.search(
                rf'id="finding-case"><a href="/portal/cases/{row.case_id}">', page
            ), row.finding_id
            for index in sealed["related_indices"]:
                assert f'href="/portal/records/{index}"' in visible, row.rule_id
            # The sealed finding stays available, behind the toggle.
            assert 'id="finding-sealed"' in page and "&#34;evidence&#34;" in page
            basis = _text_of(page, "finding-legal-basis").strip()
            title = _text_of(page, "finding-title").strip()
            if language == ZH:
                assert basis == rule.legal_basis and title == rule.title
            else:
                assert not re.search(r"[\u4e00-\u9fff]", basis + title), row.rule_id
                # It opens with the regulation it cites, by its English name.
                regulations = ("Measures", "Detailed", "Guiding", "Drug Administration Law")
                regulations += ("Good Supply Practice", "Regulations on the Administration")
                assert basis.startswith(regulations), basis


def test_the_page_names_the_reference_versions_and_policy_behind_the_finding(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, other, services = province_portal
    row = _findings(services)[0]
    sealed = _sealed(services, row.entry_index)
    imported = {v.dataset: v for v in services.reference.history()}
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    page = client.get(f"/portal/findings/{row.finding_id}").get_data(as_text=True)
    versions = _text_of(page, "finding-versions")
    for dataset, words in (
        ("registry", "医师（药师）执业注册信息"),
        ("prices", "价格目录"),
        ("drugs", "药品目录"),
        ("policy", "监管政策"),
    ):
        version = (
            sealed["policy_sha256"]
            if dataset == "policy"
            else sealed["reference_versions"][dataset]
        )
        assert words in versions and version[:16] in versions, dataset
        assert imported[dataset].version == version  # the demo imported each once
        assert f"账本序号 {imported[dataset].entry_index}" in versions
    assert versions.count("北京时间") == 4
    assert 'href="/portal/reference"' not in _outside_details(page).split("finding-versions")[1]
    # A supervisor, who keeps the reference data, is led to it.
    assert _sign_in(other, "liqiang", "qiang-password-2")[0] == 302
    _in_english(other)
    page = other.get(f"/portal/findings/{row.finding_id}").get_data(as_text=True)
    versions = _text_of(page, "finding-versions")
    assert "practitioner registry" in versions and versions.count("CST") == 4
    assert 'href="/portal/reference"' in page.split('id="finding-versions"')[1]


def test_the_findings_list_names_each_rule_in_words(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    rules = {f.rule_id for f in _findings(services)}
    assert _sign_in(client, "zhaomin", "min-password-3")[0] == 302
    page = client.get("/portal/findings").get_data(as_text=True)
    for rule in rules:
        assert f'{rule}</a> <span class="rule-title">{RULES_BY_ID[rule].title}</span>' in page
        assert f">{rule} · {RULES_BY_ID[rule].title}</option>" in page
    assert "北京时间" in page
    _in_english(client)
    page = client.get("/portal/findings").get_data(as_text=True)
    with reading(EN) as (_, __):
        titles = rule_titles(_)
    for rule in rules:
        assert f'<span class="rule-title">{escape(titles[rule])}</span>' in page
    assert "CST" in page
