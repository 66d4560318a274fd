"""The DISP rules on the demo province with its pharmacies: every platform (hospitals,
pharmacies, chains, the prescription circulation platform) submits its signed batches
over HTTP to the portal on a loopback port, the inspector follows live after each batch,
and what it finds is checked against the ground truth, on SQLite and PostgreSQL.

What only a province-wide ledger sees is checked on the ledger itself: one prescription
filled at two pharmacies through two platforms, whichever fill arrived first, and the
finding naming every fill; a fill that arrived before the hospital's prescription waited
for it and found nothing."""

from __future__ import annotations

import collections
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from inspectors.rulebook import RULES_BY_ID
from ledger.integrity import verify_stored_log
from supervisor.cli import cli
from supervisor.client.submit import load_platform_key, sign_envelope
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.custody.key_files import read_secret
from supervisor.database import tables
from supervisor.demo.pharmacies import CIRCULATION_PLATFORM, DISPENSING_RULES_INJECTED
from supervisor.demo.province import Label, generate_province
from supervisor.demo.province_files import ReplayClock, load_province, read_labels, write_province
from supervisor.intake.platforms import platform_id_for
from supervisor.runtime.services import Services, build_services
from supervisor.web.app import create_app
from tests.conftest import empty_database

pytestmark = pytest.mark.database

#: As tests/supervisor/test_inspection.py: four hospitals over three days, 40% violations.
PROVINCE = {
    "institutions": 4,
    "days": 3,
    "seed": 1,
    "violation_rate": 0.4,
    "end": date(2026, 11, 20),
}

Triple = tuple[str, str, str]


@dataclass
class Loaded:
    settings: Settings
    services: Services
    folder: Path
    labels: list[Label]
    ended_at: datetime
    #: How many records waited after each live pass.
    pending: list[int]

    def found(self) -> set[Triple]:
        with self.services.engine.connect() as connection:
            return {
                (r.institution_code, r.record_id, r.rule_id)
                for r in connection.execute(select(tables.findings))
            }

    def truth(self) -> set[Triple]:
        return {(x.institution_code, x.record_id, x.rule) for x in self.labels}

    def records(self) -> dict[tuple[str, str], Any]:
        """Every record row by (institution, record id)."""
        with self.services.engine.connect() as connection:
            return {
                (r.institution_code, r.record_id): r
                for r in connection.execute(select(tables.records))
            }

    def document(self, index: int) -> dict[str, Any]:
        entry = self.services.store.entry(index)
        return self.services.inspector.open_finding(entry.leaf, entry.payload)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    """The province submitted over HTTP and inspected live, then past every deadline."""
    root = tmp_path_factory.mktemp("pharmacies")
    urls = empty_database(request.param, root)
    folder = root / "province"
    write_province(generate_province(**PROVINCE), folder)  # type: ignore[arg-type]
    settings = Settings(data_dir=root / "var", database_url=next(urls))
    verifier = initialise(settings).log_verifier
    assert verifier is not None
    services = build_services(settings)
    pending: list[int] = []

    def follow(clock: ReplayClock) -> None:
        services.inspector.clock = clock
        pending.append(services.inspector.follow_once().pending)

    report = load_province(folder, settings, after_batch=follow)  # over HTTP
    later = report.ended_at + timedelta(days=4)  # past every grace deadline
    services.inspector.clock = lambda: later
    services.inspector.follow()
    yield Loaded(settings, services, folder, read_labels(folder), report.ended_at, pending)
    result = verify_stored_log(services.engine, verifier)
    assert result.ok, result.discrepancy
    services.engine.dispose()
    for _ in urls:  # drop the PostgreSQL schema
        pass


def _scores(found: set[Triple], truth: set[Triple]) -> dict[str, tuple[float, float]]:
    """(precision, recall) of every rule."""
    scores = {}
    for rule in RULES_BY_ID:
        f = {x for x in found if x[2] == rule}
        t = {x for x in truth if x[2] == rule}
        hit = len(f & t)
        scores[rule] = (hit / len(f) if f else 1.0, hit / len(t) if t else 1.0)
    return scores


def test_every_dispensing_rule_has_precision_and_recall_one(loaded: Loaded) -> None:
    truth = loaded.truth()
    injected = collections.Counter(rule for _, _, rule in truth)
    assert set(DISPENSING_RULES_INJECTED) <= set(RULES_BY_ID)
    assert all(injected[rule] >= 4 for rule in DISPENSING_RULES_INJECTED), injected
    pharmacy_codes = {
        p["code"] for p in orjson.loads((loaded.folder / "pharmacies.json").read_bytes())
    }
    assert any(code in pharmacy_codes for code, _, rule in truth if rule == "DATA-LATE")
    found = loaded.found()
    scores = _scores(found, truth)
    assert {rule: s for rule, s in scores.items() if s != (1.0, 1.0)} == {}
    assert found == truth


def test_the_pharmacies_are_of_every_kind_and_submit_through_their_platforms(
    loaded: Loaded,
) -> None:
    pharmacies = orjson.loads((loaded.folder / "pharmacies.json").read_bytes())
    assert {p["kind"] for p in pharmacies} == {
        "retail",
        "chain_store",
        "hospital_pharmacy",
        "platform",
    }
    stores = [p for p in pharmacies if p["kind"] == "chain_store"]
    assert stores and all(p["parent_code"] == p["submitter"] for p in stores)
    platforms = orjson.loads((loaded.folder / "platforms.json").read_bytes())
    serving = {p["code"]: set(p["serves"]) for p in platforms if p["serves"]}
    assert len(serving[CIRCULATION_PLATFORM]) >= 2
    with loaded.services.engine.connect() as connection:
        authorised = {
            (r.platform_id, r.institution_code)
            for r in connection.execute(select(tables.platform_institutions))
            if r.revoked_index is None
        }
    assert authorised == {
        (platform_id_for(code), served) for code, codes in serving.items() for served in codes
    }
    # Each pharmacy's roster is mostly pharmacists active in the registry at that pharmacy.
    with (loaded.folder / "registry.csv").open(encoding="utf-8", newline="") as handle:
        registry = {row["license_no"]: row for row in csv.DictReader(handle)}
    filings = [r for r in _records_sent(loaded) if r["type"] == "pharmacy"]
    assert len(filings) == sum(1 for p in pharmacies if p["files"])
    for filing in filings:
        active = [
            registry[licence]
            for licence in filing["pharmacists"]
            if licence in registry and registry[licence]["status"] == "active"
        ]
        assert len(active) >= 2
        assert all(
            r["role"] == "pharmacist"
            and r["primary_institution_code"] == filing["institution_code"]
            for r in active
        )


def _records_sent(loaded: Loaded) -> Iterator[dict[str, Any]]:
    for path in sorted((loaded.folder / "records").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            yield orjson.loads(line)["record"]


def test_double_fills_come_in_either_order_from_two_platforms_and_name_every_fill(
    loaded: Loaded,
) -> None:
    records = loaded.records()
    with loaded.services.engine.connect() as connection:
        fills = collections.defaultdict(list)
        for row in connection.execute(select(tables.prescription_fills)):
            fills[(row.prescription_institution_code, row.prescription_record_id)].append(row)
        doubles = connection.execute(
            select(tables.findings).where(tables.findings.c.rule_id == "DISP-DOUBLE-FILL")
        ).all()
    assert len(doubles) >= 4
    orders: collections.Counter[str] = collections.Counter()
    for finding in doubles:
        evidence = loaded.document(finding.entry_index)["evidence"]
        key = (evidence["prescription_institution_code"], evidence["prescription_record_id"])
        prescription = records[key]
        involved = sorted(
            (r for r in fills[key] if r.entry_index <= finding.record_index),
            key=lambda r: r.entry_index,
        )
        # The finding lies on the fill later in the ledger and names every fill up to it.
        assert len(involved) >= 2 and involved[-1].entry_index == finding.record_index
        assert [
            (d["record_id"], d["pharmacy_code"], d["ledger_index"]) for d in evidence["dispensings"]
        ] == [(r.record_id, r.pharmacy_code, r.entry_index) for r in involved]
        assert evidence["prescription_index"] == prescription.entry_index
        related = {int(i) for i in finding.related_indices.split(",") if i}
        assert related == {prescription.entry_index} | {r.entry_index for r in involved[:-1]}
        platforms = {records[(r.pharmacy_code, r.record_id)].platform_id for r in involved}
        assert len(platforms) == len(involved), "each fill came through another platform"
        dispensed = [d["dispensed_at"] for d in evidence["dispensings"]]
        orders["as dispensed" if dispensed == sorted(dispensed) else "reversed"] += 1
    assert orders["as dispensed"] >= 1 and orders["reversed"] >= 1, orders


def test_a_fill_that_arrives_before_its_prescription_waits_and_is_clean(loaded: Loaded) -> None:
    records = loaded.records()
    truth = loaded.truth()
    early = []
    with loaded.services.engine.connect() as connection:
        for row in connection.execute(select(tables.prescription_fills)):
            prescription = records.get(
                (row.prescription_institution_code, row.prescription_record_id)
            )
            labelled = any(c == row.pharmacy_code and r == row.record_id for c, r, _ in truth)
            if prescription is not None and row.entry_index < prescription.entry_index:
                early.append((row, labelled))
    assert any(not labelled for _, labelled in early), "a clean fill came first"
    found = loaded.found()
    for row, labelled in early:
        if not labelled:
            assert not any(c == row.pharmacy_code and r == row.record_id for c, r, _ in found)
    assert max(loaded.pending) > 0, "live passes left records waiting"


def test_platform_authorise_and_revoke_on_the_demo_province(loaded: Loaded) -> None:
    """The circulation platform loses one pharmacy and gets it back, from the command line;
    its batches for that pharmacy are refused in between."""
    settings = loaded.settings
    env = {"CARELEDGER_DATA_DIR": str(settings.data_dir)}
    env["CARELEDGER_DATABASE_URL"] = settings.database_url
    platforms = orjson.loads((loaded.folder / "platforms.json").read_bytes())
    served = next(p["serves"] for p in platforms if p["code"] == CIRCULATION_PLATFORM)
    platform_id = platform_id_for(CIRCULATION_PLATFORM)
    runner = CliRunner()
    listed = runner.invoke(cli, ["platform", "authorisations", "--platform", platform_id], env=env)
    assert listed.exit_code == 0, listed.output
    active = [orjson.loads(line) for line in listed.output.splitlines()]
    assert sorted(a["institution_code"] for a in active if a["active"]) == sorted(served)
    pharmacy = served[0]
    key = load_platform_key(
        read_secret(settings.data_dir / "platform-keys" / f"{CIRCULATION_PLATFORM}.key")
    )
    client = create_app(settings, clock=lambda: loaded.ended_at).test_client()
    sent = 0

    def post(code: str) -> int:
        nonlocal sent
        sent += 1
        filing = {
            "type": "pharmacy",
            "record_id": f"{code}-FILING-ROUND-TRIP-{sent}",
            "institution_code": code,
            "occurred_at": loaded.ended_at.isoformat(timespec="seconds"),
            "name": "往返测试药房",
            "kind": "retail",
            "license_no": "ZJAA57199999",
            "license_valid_until": "2029-06-30",
            "gsp_valid_until": "2029-06-30",
            "online_sales_filed": True,
            "physical_address": "杭州市西湖区文三路1号",
            "region_code": "330106",
            "parent_code": None,
            "pharmacists": [],
        }
        envelope = sign_envelope(
            platform_id=platform_id,
            key=key,
            batch_id=f"round-trip-{sent}",
            created_at=loaded.ended_at,
            records=[filing],
        )
        return client.post("/api/v1/batches", json=envelope).status_code

    revoked = runner.invoke(
        cli,
        [
            "platform",
            "revoke-authorisation",
            "--platform",
            platform_id,
            "--institution",
            pharmacy,
            "--reason",
            "流转协议终止",
        ],
        env=env,
    )
    assert revoked.exit_code == 0, revoked.output
    assert post(pharmacy) == 403
    if len(served) > 1:
        assert post(served[1]) == 201  # the others stay authorised
    again = runner.invoke(
        cli,
        ["platform", "authorise", "--platform", platform_id, "--institution", pharmacy],
        env=env,
    )
    assert again.exit_code == 0, again.output
    assert post(pharmacy) == 201
    listed = runner.invoke(cli, ["platform", "authorisations", "--platform", platform_id], env=env)
    rows = [orjson.loads(line) for line in listed.output.splitlines()]
    # Each period of authorisation is listed: the revoked one, then the current one.
    assert [r["active"] for r in rows if r["institution_code"] == pharmacy] == [False, True]
