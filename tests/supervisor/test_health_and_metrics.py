"""What operators watch: liveness, readiness, Prometheus metrics, and outages answered as such.

Metrics are parsed back with ``prometheus_client``'s own parser (an independent
reader of the exposition format) and compared with what the test did.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import IntegrityError, OperationalError

from ledger.note import COSIGNATURE_V1, Signer
from supervisor.config import Settings
from supervisor.database.outages import outage_of
from supervisor.web.app import create_app
from supervisor.web.metrics import Metric, quantile, render_metrics
from supervisor.web.portal.sessions import LoginThrottle

from .conftest import Portal, make_portal

pytestmark = pytest.mark.database


def _scrape(portal: Portal) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = portal.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_the_front_door_leads_to_the_portal(portal: Portal) -> None:
    answer = portal.client.get("/")
    assert answer.status_code == 302 and answer.headers["Location"] == "/portal/"


def test_liveness_and_readiness(portal: Portal) -> None:
    assert portal.client.get("/healthz").get_data(as_text=True) == "ok\n"
    ready = portal.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_data(as_text=True) == f"ready: ledger size {portal.log_size()}\n"


def test_metrics_tell_what_happened(portal: Portal) -> None:
    records = portal.records(50)
    for batch in (records[:30], records[30:]):
        assert portal.post(portal.envelope(batch)).status_code == 201
    portal.clock.now += timedelta(seconds=42)
    throttle = LoginThrottle(portal.services.engine, portal.clock, max_failures=5)
    for _ in range(3):
        attempt = throttle.begin("wangjing", "127.0.0.1")
        assert not isinstance(attempt, timedelta)
        throttle.refused(attempt, None)

    samples = _scrape(portal)
    size = portal.log_size()
    assert samples[("careledger_ledger_entries_total", ())] == size
    assert samples[("careledger_ingest_records_per_second", ())] == pytest.approx(50 / 300)
    assert samples[("careledger_batch_processing_seconds_count", ())] == 2
    p99 = samples[("careledger_batch_processing_seconds", (("quantile", "0.99"),))]
    assert 0 < p99 < 30
    assert samples[("careledger_inspection_lag_entries", ())] == size  # not inspected yet
    assert samples[("careledger_checkpoint_age_seconds", ())] == 42
    assert samples[("careledger_unsigned_entries", ())] == 0  # receipts carry a checkpoint
    assert samples[("careledger_login_failures_recent", ())] == 3
    assert samples[("careledger_scheduler_lease_held", ())] == 0

    portal.services.inspector.follow_once()
    assert _scrape(portal)[("careledger_inspection_lag_entries", ())] < size

    portal.clock.now += timedelta(minutes=16)  # past both windows
    later = _scrape(portal)
    assert later[("careledger_ingest_records_per_second", ())] == 0
    assert later[("careledger_batch_processing_seconds_count", ())] == 0
    assert math.isnan(later[("careledger_batch_processing_seconds", (("quantile", "0.5"),))])
    assert later[("careledger_login_failures_recent", ())] == 0


def test_a_configured_witness_that_never_cosigned_lags_by_the_whole_log(
    tmp_path: Path, database_url: str
) -> None:
    portal = make_portal(tmp_path / "var", database_url)
    vkey = Signer.generate("witness.example", COSIGNATURE_V1).verifier.vkey
    witness = f"http://127.0.0.1:9/ {vkey}"
    settings = Settings(data_dir=portal.settings.data_dir, database_url=database_url)
    app = create_app(
        Settings(**{**settings.__dict__, "witnesses": (witness,), "witness_quorum": 0}),
        clock=portal.clock,
    )
    assert portal.post(portal.envelope(portal.records(10))).status_code == 201
    text = app.test_client().get("/metrics").get_data(as_text=True)
    samples = {
        (s.name, tuple(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    lag = samples[("careledger_witness_lag_entries", (("witness", "witness.example"),))]
    assert lag == portal.log_size()


def test_the_exposition_format_escapes_labels_and_help() -> None:
    text = render_metrics(
        [
            Metric(
                "x_total",
                "counter",
                'help with "quotes" and \\ and\nnewline',
                (("x_total", {"job": 'a"b\\c\nd'}, 3),),
            ),
            Metric.single("y", "gauge", "nan", math.nan),
        ]
    )
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["x"].samples[0].labels == {"job": 'a"b\\c\nd'}
    assert families["x"].documentation == 'help with "quotes" and \\ and\nnewline'
    assert math.isnan(families["y"].samples[0].value)


def test_nearest_rank_quantiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 0.5) == 50
    assert quantile(values, 0.99) == 99
    assert quantile([7.0], 0.95) == 7
    assert math.isnan(quantile([], 0.5))


def _wrapped(orig: Exception) -> OperationalError:
    return OperationalError("INSERT ...", {}, orig)


def test_outages_are_told_apart_from_bugs() -> None:
    full = outage_of(_wrapped(sqlite3.OperationalError("database or disk is full")))
    assert full is not None and full.status == 507 and full.retry_after > 0
    down = outage_of(_wrapped(Exception("connection failed: connection refused (port 5432)")))
    assert down is not None and down.status == 503
    assert outage_of(IntegrityError("INSERT", {}, Exception("duplicate key"))) is None
    assert outage_of(ValueError("bug")) is None


def test_an_unreachable_database_gives_503_with_retry_after_not_500(tmp_path: Path) -> None:
    """A database server nobody answers at (the restart itself: tests/e2e/test_faults_live.py)."""
    portal = make_portal(tmp_path / "var", f"sqlite:///{tmp_path}/var/careledger.db")
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:9/test"  # nothing listens on 9
    down = create_app(
        Settings(data_dir=portal.settings.data_dir, database_url=unreachable), clock=portal.clock
    )
    client = down.test_client()
    envelope = portal.envelope(portal.records(5))
    response = client.post("/api/v1/batches", json=envelope)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "application/problem+json"
    assert "same batch_id" in response.get_json()["detail"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
    with client.session_transaction() as cookie:  # a signed-in regulator's session cookie
        cookie["sid"] = "a" * 43
    page = client.get("/portal/")
    assert page.status_code == 503 and "服务暂时不可用" in page.get_data(as_text=True)
    # The real database never saw the batch; it is accepted once it is reachable.
    assert portal.post(envelope).status_code == 201
