"""assessment-v2 and the second digest edition stay what they were once pharmacies came:
the hand-made worlds' data and CSV hash to what careledger computed before the record
schema's second version was read by reports (commit 78363a0), so every v2 report and
digest published before recomputes byte for byte, even over a ledger holding pharmacy
filings, dispensings, deliveries and DISP findings that v2 knows nothing of."""

from __future__ import annotations

from reports.assessment_v2 import assess_v2
from reports.digest import digest_document
from reports.exports import ReportBasis, report_data
from reports.methodology import methodology_version
from reports.periods import parse_period

from .pharmacy_world import pharmacy_world
from .test_assessment import OCTOBER, october_world
from .test_digest import DAY, busy_world

V2_SHA256 = "0f5ef60012a297597dffb6b095c2874f1b531d306cba6127d3dc67e1288af0f7"
# (data, CSV) computed by the code of commit 78363a0 from these same worlds.
V2_PHARMACY_WORLD = (
    "f09dd1b48a44a922879a0d004ebc7dc1fc72d4611ab7d487f69acbd01efe303a",
    "2748a669fc60ccd7f00da1708c75dd45a0f11c8ac953fdbbd21468571937a233",
)
V2_OCTOBER_WORLD = (
    "a2d6cb1b21f09c1b725fcfd8636351afd76b05fbab66d881e719865b0e2e8fce",
    "061fb003475c38319e8b7f1d48edb71460ca87e45205c6f38a4c85603486c60b",
)
DIGEST_V2 = {
    "2026-11-25": (
        "e2085d6b1ba1c8ed45e344e332b2e2b350936a85db3f937ddc1535fb7653d43a",
        "e34b8e762cdb625000b572b46135974f66567c0abc43af89f593c8dfa47f8c9c",
    ),
    "2026-11": (
        "8dd5848c1a2383b74798bc7597866be4099f473ea61a8ba03685f52f49dfb9c0",
        "6467560fb5b7dc607852aaf6c24c5d5305f955b7428d0de2f52fc2122bb7475d",
    ),
}
DIGEST_V2_BUSY = (
    "9ae0d1af6455bc6f91313f82c3158f62bfc4fb589b671eda32cec239dc5dbc14",
    "3f9a742266f140105add97bf087ad2afebe8f912572e4d43fd8e687724bc6138",
)


def _basis(methodology: bool) -> ReportBasis:
    v2 = methodology_version("assessment-v2")
    if not methodology:
        return ReportBasis("test/log", 60, "ab" * 32, "note\n", {}, None, None, 0)
    return ReportBasis("test/log", 60, "ab" * 32, "note\n", {}, v2.version, v2.sha256, 0)


def test_the_v2_methodology_file_is_unchanged() -> None:
    assert methodology_version("assessment-v2").sha256 == V2_SHA256


def test_assessment_v2_hashes_as_before_with_and_without_pharmacies() -> None:
    v2 = methodology_version("assessment-v2")
    november = parse_period("2026-11")
    for facts, period, expected in (
        # The catalogue is new to reports: v2 must come out the same with it or without.
        (pharmacy_world(with_catalogue=False).facts(), november, V2_PHARMACY_WORLD),
        (pharmacy_world().facts(), november, V2_PHARMACY_WORLD),
        (october_world().facts(), OCTOBER, V2_OCTOBER_WORLD),
    ):
        body = assess_v2(facts, v2, period).document()
        data = report_data("assessment", period.key, _basis(True), body, "assessment-v2")
        assert (data.data_sha256, data.csv_sha256) == expected


def test_the_second_digest_edition_hashes_as_before() -> None:
    for world in (pharmacy_world(with_catalogue=False), pharmacy_world()):
        facts = world.facts()
        for key, expected in DIGEST_V2.items():
            period = parse_period(key)
            body = digest_document(facts, period, "digest-v2")
            data = report_data("digest", key, _basis(False), body, "digest-v2")
            assert (data.data_sha256, data.csv_sha256) == expected, key
    body = digest_document(busy_world().facts(), DAY, "digest-v2")
    data = report_data("digest", DAY.key, _basis(False), body, "digest-v2")
    assert (data.data_sha256, data.csv_sha256) == DIGEST_V2_BUSY
