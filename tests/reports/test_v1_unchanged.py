"""assessment-v1 and the first digest edition stay what they were: the hand-made worlds'
data and CSV hash to what careledger computed before cases and assessment-v2 existed, so
every report published then still recomputes byte for byte."""

from __future__ import annotations

from hashlib import sha256

from reports.assessment import assess
from reports.digest import digest, digest_document
from reports.exports import ReportBasis, report_data
from reports.methodology import methodology_version

from .test_assessment import OCTOBER, october_world
from .test_digest import DAY, busy_world

# Computed by the code of commit f517c2c (before assessment-v2), from these same worlds.
V1_ASSESSMENT = (
    "21f8c46614a5682784529c6936ef087ebce5ada61447b5e63de26b8a4d9bae35",
    "51450f2d87b6dcc6e6c04f5fa02c0b1f9fdb09a45531cb314f5f18bb0b9f896b",
)
V1_DIGEST = (
    "bfbdc8e89291c40631e9a6cf4e1947170216e7e775e3af60c6f6b0e694433ca3",
    "3f9a742266f140105add97bf087ad2afebe8f912572e4d43fd8e687724bc6138",
)


def test_assessment_v1_hashes_as_before() -> None:
    v1 = methodology_version("assessment-v1")
    assert v1.sha256 == sha256(v1.text.encode()).hexdigest()
    basis = ReportBasis("test/log", 10, "ab" * 32, "note\n", {}, v1.version, v1.sha256, 0)
    body = assess(october_world().facts(), v1, OCTOBER).document()
    data = report_data("assessment", OCTOBER.key, basis, body)
    assert (data.data_sha256, data.csv_sha256) == V1_ASSESSMENT
    assert data.report_id == "assessment-2026-10-at-10"


def test_the_first_digest_edition_hashes_as_before() -> None:
    basis = ReportBasis("test/log", 10, "ab" * 32, "note\n", {}, None, None, 0)
    facts = busy_world().facts()
    assert digest_document(facts, DAY, "digest-v1") == digest(facts, DAY).document()
    data = report_data("digest", DAY.key, basis, digest_document(facts, DAY, "digest-v1"))
    assert (data.data_sha256, data.csv_sha256) == V1_DIGEST
    later = report_data(
        "digest", DAY.key, basis, digest_document(facts, DAY, "digest-v2"), "digest-v2"
    )
    assert later.report_id == "digest-2026-11-20-v2-at-10" != data.report_id
