"""A prescription's journey page: patient-level data, so read as a record page is read (a
purpose first, asked again when the link came from elsewhere), and every record it shows
written to the access trail before anything is shown."""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template, request, url_for
from flask_babel import gettext as _

from inspectors.rulebook import RULES_BY_ID
from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.evidence_text import rule_titles
from supervisor.web.portal.journey import (
    DOUBLE_FILL_RULE,
    double_fills,
    drug_totals,
    journey_rows,
    load_journey,
)
from supervisor.web.portal.record_page import proved_records
from supervisor.web.portal.record_views import confirm_recorded_look, deliberate, needs_purpose
from supervisor.web.portal.sessions import PortalSession
from supervisor.web.portal.views import check_csrf, signed_in, value_names


def _rule_title(rule: str) -> str:
    known = RULES_BY_ID.get(rule)
    return rule_titles(_).get(rule) or (known.title if known is not None else "")


@portal.route("/prescriptions/<institution>/<record_id>/journey", methods=["GET", "POST"])
@signed_in
def prescription_journey(institution: str, record_id: str) -> Any:
    current: PortalSession = g.portal_session
    here = url_for("portal.prescription_journey", institution=institution, record_id=record_id)
    if request.method == "POST":
        check_csrf(current.csrf_token)
    elif not deliberate():
        return confirm_recorded_look(
            here, {}, _("The journey of prescription %(record_id)s", record_id=record_id)
        )
    if not current.purpose:
        return needs_purpose()
    services_ = services()
    source = load_journey(services_, institution[:64], record_id[:128])
    if source is None:
        abort(
            404,
            description=_(
                "The ledger holds no prescription with this institution code and record ID, "
                "and no dispensing naming one."
            ),
        )
    # The trail first, one entry per record shown, as if each record's page were opened:
    # each record's own page then lists this look, and so does the patient's trail.
    for row in source.rows:
        services_.access.record(
            "viewed_record",
            username=current.username,
            roles=current.roles,
            purpose=current.purpose,
            subject_index=row.entry_index,
            patient_pseudonym=row.patient_pseudonym,
        )
    records = proved_records(services_, source.rows)
    names = value_names()
    prescription = next((r for r in source.rows if r.record_type == "prescription"), None)
    return render_template(
        "portal/journey.html",
        source=source,
        prescription_index=None if prescription is None else prescription.entry_index,
        rows=journey_rows(source, records, _, names),
        totals=drug_totals(source, records),
        double_fills=double_fills(source, records),
        double_fill_rule=DOUBLE_FILL_RULE,
        double_fill_title=_rule_title(DOUBLE_FILL_RULE),
        dispensings=sum(1 for r in source.rows if r.record_type == "dispensing"),
    )
