"""Liveness, readiness and metrics for load balancers and Prometheus.

``/healthz``: the process answers (no database). ``/readyz``: it can serve
(the database answers and the ledger head reads). ``/metrics``: Prometheus
text, read from the database (``metrics.py``). Expose them to the
monitoring network only; the nginx example keeps them off the internet.
"""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import select

from ledger import schema as ledger_schema
from ledger.database import read_transaction
from supervisor.database.outages import outage_of
from supervisor.web.current import services
from supervisor.web.metrics import collect_metrics, render_metrics
from supervisor.web.problems import problem_response

__all__ = ["health"]

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@health.get("/readyz")
def readyz() -> Response:
    try:
        with read_transaction(services().engine) as connection:
            size = connection.execute(select(ledger_schema.head.c.size)).scalar_one()
    except Exception as e:
        outage = outage_of(e)
        return problem_response(
            503,
            "not-ready",
            "Not ready",
            f"the database does not answer: {outage.detail if outage else type(e).__name__}",
            headers={"Retry-After": "5"},
        )
    return Response(f"ready: ledger size {size}\n", mimetype="text/plain")


@health.get("/metrics")
def metrics() -> Response:
    found = services()
    with read_transaction(found.engine) as connection:
        text = render_metrics(collect_metrics(connection, found.settings, found.clock()))
    return Response(text, mimetype="text/plain", content_type="text/plain; version=0.0.4")
