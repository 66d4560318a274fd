"""Reference files: accepted whole and canonical, or rejected with every problem located."""

from __future__ import annotations

import pytest

from inspectors.policy import PolicyError, default_policy_bytes, parse_policy
from inspectors.reference import dataset_version
from inspectors.reference_files import ReferenceFileError, parse_reference_csv

REGISTRY_HEADER = (
    "license_no,name,role,status,valid_from,valid_to,practice_start,"
    "primary_institution_code,multi_site_institution_codes,departments\n"
)
GOOD_REGISTRY = (
    REGISTRY_HEADER
    + "MD2,李娜,physician,active,2015-01-01,,2012-03-01,P9,H7;H1,INTERNAL\n"
    + "MD1,张伟,physician,active,2015-01-01,2035-12-31,2010-07-01,P1,,INTERNAL;ENDOCRINOLOGY\n"
)


def test_a_good_registry_is_canonical_whatever_the_row_and_list_order() -> None:
    rows = parse_reference_csv("registry", GOOD_REGISTRY.encode())
    assert [r["license_no"] for r in rows] == ["MD1", "MD2"]
    assert rows[1]["multi_site_institution_codes"] == ["H1", "H7"]
    assert rows[0]["valid_to"] == "2035-12-31" and rows[1]["valid_to"] is None
    lines = GOOD_REGISTRY.splitlines()
    shuffled = "\n".join([lines[0], lines[2], lines[1].replace("H7;H1", "H1;H7")]) + "\n"
    again = parse_reference_csv("registry", ("\ufeff" + shuffled).encode())
    assert dataset_version("registry", again) == dataset_version("registry", rows)


def test_every_problem_is_reported_with_its_line_and_column() -> None:
    bad = (
        REGISTRY_HEADER
        + "MD1,张伟,surgeon,active,2015-13-01,,2010-07-01,P1,,INTERNAL\n"
        + "MD1,张伟,physician,active,2015-01-01,2014-01-01,2010-07-01,P 1,,INTERNAL\n"
        + "MD3,王芳,physician\n"
    )
    with pytest.raises(ReferenceFileError) as caught:
        parse_reference_csv("registry", bad.encode())
    problems = {str(p) for p in caught.value.problems}
    assert (
        "line 2, column 3 (role): 'surgeon' is not one of physician, pharmacist, nurse, technician"
        in problems
    )
    assert "line 2, column 5 (valid_from): '2015-13-01' is not a date (YYYY-MM-DD)" in problems
    assert any(p.startswith("line 3, column 8 (primary_institution_code)") for p in problems)
    assert "line 3, column 6 (valid_to): ends before valid_from" in problems
    assert "line 4: 3 fields, the header has 10" in problems
    assert "the version in force is unchanged" in str(caught.value)


def test_duplicates_and_header_mistakes_are_refused() -> None:
    twice = (
        REGISTRY_HEADER
        + GOOD_REGISTRY.splitlines()[2]
        + "\n"
        + GOOD_REGISTRY.splitlines()[2]
        + "\n"
    )
    with pytest.raises(
        ReferenceFileError, match=r"line 3, column 1 \(license_no\): MD1 appears again"
    ):
        parse_reference_csv("registry", twice.encode())
    with pytest.raises(ReferenceFileError, match="missing departments; unknown dept"):
        parse_reference_csv("registry", REGISTRY_HEADER.replace("departments", "dept").encode())
    with pytest.raises(ReferenceFileError, match="not UTF-8"):
        parse_reference_csv("registry", REGISTRY_HEADER.encode() + "张".encode("gbk") + b"\n")
    with pytest.raises(ReferenceFileError, match="has no rows"):
        parse_reference_csv("registry", REGISTRY_HEADER.encode())


def test_price_windows_of_one_item_must_not_overlap() -> None:
    header = "item_code,item_name,unit,ceiling_price,valid_from,valid_to,insurance_covered\n"
    good = (
        header + "A1,诊查费,次,25.00,2026-01-01,2026-06-30,是\nA1,诊查费,次,28,2026-07-01,,true\n"
    )
    rows = parse_reference_csv("prices", good.encode())
    assert [r["ceiling_price"] for r in rows] == ["25", "28"]
    assert all(r["insurance_covered"] is True for r in rows)
    overlapping = header + "A1,诊查费,次,25.00,2026-01-01,,yes\nA1,诊查费,次,28,2026-07-01,,yes\n"
    with pytest.raises(ReferenceFileError, match=r"line 3, column 5 .*overlaps the row at line 2"):
        parse_reference_csv("prices", overlapping.encode())
    with pytest.raises(ReferenceFileError, match="is not a price"):
        parse_reference_csv("prices", (header + "A1,x,次,-3,2026-01-01,,yes\n").encode())


def test_drug_catalogue_categories_and_days() -> None:
    header = "drug_code,drug_name,category,online_prescribable,max_days_supply\n"
    rows = parse_reference_csv(
        "drugs", (header + "N1,吗啡,narcotic,false,\nD1,二甲双胍,rx,true,30\n").encode()
    )
    assert rows == [
        {
            "category": "rx",
            "drug_code": "D1",
            "drug_name": "二甲双胍",
            "max_days_supply": 30,
            "online_prescribable": True,
        },
        {
            "category": "narcotic",
            "drug_code": "N1",
            "drug_name": "吗啡",
            "max_days_supply": None,
            "online_prescribable": False,
        },
    ]
    with pytest.raises(ReferenceFileError, match="'opium' is not one of") as caught:
        parse_reference_csv("drugs", (header + "N1,x,opium,maybe,400\n").encode())
    assert len(caught.value.problems) == 3


def test_policy_hash_is_of_the_bytes_and_bad_keys_are_named() -> None:
    content = default_policy_bytes()
    policy = parse_policy(content)
    assert policy.grace.total_seconds() == 72 * 3600 and policy.minimum_practice_years == 3
    assert parse_policy(content + b"\n").sha256 != policy.sha256
    with pytest.raises(PolicyError, match=r"\[transmission\] late_after_hours must be an integer"):
        parse_policy(content.replace(b"late_after_hours = 24", b'late_after_hours = "24"'))
    with pytest.raises(PolicyError, match="unknown keys: typo"):
        parse_policy(content.replace(b"[cross_record]", b"[cross_record]\ntypo = 1"))
    exempt = (
        content + b'\n[[first_visit_exemptions]]\ninstitution_code = "H9"\ndepartment_code = "*"\n'
    )
    assert parse_policy(exempt).first_visit_exempt("H9", "ANY")
    with pytest.raises(PolicyError, match="first_visit_exemptions"):
        parse_policy(content + b'\n[[first_visit_exemptions]]\ninstitution_code = "H9"\n')


def test_a_diff_names_what_was_added_removed_and_changed() -> None:
    from inspectors.reference_diff import diff_rows

    before = parse_reference_csv("registry", GOOD_REGISTRY.encode())
    after_text = (
        REGISTRY_HEADER
        + "MD1,张伟,physician,suspended,2015-01-01,2035-12-31,2010-07-01,P1,,"
        + "INTERNAL;ENDOCRINOLOGY\n"
        + "MD3,王芳,pharmacist,active,2020-01-01,,2015-01-01,H1,,PHARMACY\n"
    )
    diff = diff_rows("registry", before, parse_reference_csv("registry", after_text.encode()))
    assert [row["license_no"] for row in diff.added] == ["MD3"]
    assert [row["license_no"] for row in diff.removed] == ["MD2"]
    assert diff.changed == [("MD1", {"status": ("active", "suspended")})]
