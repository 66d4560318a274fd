"""The findings queue and a finding's page, where regulators move findings through triage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ledger.database import read_transaction
from ledger.leaf import decode_leaf
from supervisor.custody.payload_keys import PayloadShreddedError, SealedPayloadError
from supervisor.database import tables
from supervisor.ground.records import PayloadMismatchError
from supervisor.inspection.reference_data import POLICY
from supervisor.inspection.triage import ACTIONS, TRIAGE_ROLES, TriageError
from supervisor.runtime.services import Services
from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.evidence_text import (
    dataset_names,
    evidence_text,
    legal_bases,
    rule_titles,
)
from supervisor.web.portal.findings_page import FindingFilter, findings_page
from supervisor.web.portal.sessions import PortalSession
from supervisor.web.portal.views import check_csrf, signed_in, value_names

_NEVER_IMPORTED = "0" * 64


@portal.get("/findings")
@signed_in
def findings() -> str:
    wanted = FindingFilter.from_args(request.args)
    registry = services().reference.snapshot()[0].registry  # names the practitioner filter
    return render_template(
        "portal/findings.html",
        wanted=wanted,
        result=findings_page(services().engine, wanted),
        rule_titles=rule_titles(_),
        practitioner=registry.by_license.get(wanted.practitioner),
        institution_names=institution_names(),
    )


def institution_names() -> dict[str, str]:
    """Institution codes with the names their platforms registered under."""
    p = tables.platforms.c
    with read_transaction(services().engine) as connection:
        return {code: name for code, name in connection.execute(select(p.institution_code, p.name))}


@dataclass(frozen=True)
class _UsedVersion:
    """A reference dataset (or the policy) a finding was judged by, as the page shows it."""

    dataset: str
    version: str
    entry_index: int | None  # None: no import of this version in this ledger
    imported_at: datetime | None
    has_earlier: bool  # a version before it exists, so the diff page does too

    @property
    def empty(self) -> bool:
        """The dataset had never been imported when the finding was made."""
        return self.version == _NEVER_IMPORTED


def _used_versions(
    services_: Services, versions: Mapping[str, str], policy_sha256: str
) -> list[_UsedVersion]:
    """The versions a finding names, each with the ledger entry that imported it."""
    wanted = {**versions, POLICY: policy_sha256}
    history = services_.reference.history()
    used = []
    order = list(dataset_names(_))  # registry, prices, drugs, then the policy

    def place(dataset: str) -> tuple[int, str]:
        return (order.index(dataset) if dataset in order else len(order), dataset)

    for dataset, version in sorted(wanted.items(), key=lambda item: place(item[0])):
        imports = [v for v in history if v.dataset == dataset]
        first = next((v for v in imports if v.version == version), None)
        used.append(
            _UsedVersion(
                dataset,
                version,
                None if first is None else first.entry_index,
                None if first is None else first.imported_at,
                # The diff page compares datasets only, never policies.
                dataset != POLICY
                and first is not None
                and imports[0].entry_index < first.entry_index,
            )
        )
    return used


def _related_records(services_: Services, indices: Sequence[int]) -> list[dict[str, Any]]:
    """The other records a finding involves, with their ids and types where known."""
    r = tables.records.c
    with read_transaction(services_.engine) as connection:
        known = {
            row.entry_index: row
            for row in connection.execute(
                select(r.entry_index, r.record_id, r.record_type).where(
                    r.entry_index.in_(list(indices))
                )
            )
        }
    return [
        {
            "index": index,
            "record_id": known[index].record_id if index in known else None,
            "record_type": known[index].record_type if index in known else None,
        }
        for index in indices
    ]


def _finding_page(finding_id: str, message: str | None = None, status: int = 200) -> Any:
    services_ = services()
    with services_.engine.connect() as connection:
        row = connection.execute(
            select(tables.findings).where(tables.findings.c.finding_id == finding_id[:32])
        ).first()
    if row is None:
        abort(404, description=_("There is no such finding."))
    stored = services_.store.entry(row.entry_index)
    unreadable = None
    try:
        finding = services_.inspector.open_finding(stored.leaf, stored.payload)
    except (SealedPayloadError, PayloadMismatchError) as e:
        # What the projection knows stays on the page; the sealed details do not.
        unreadable = (
            _("This finding's sealed details were destroyed at the end of their retention.")
            if isinstance(e, PayloadShreddedError)
            else _(
                "This finding's stored details do not match what the ledger committed to: "
                "they were altered in the database and are not shown. Report this to the "
                "system administrator."
            )
        )
        public = decode_leaf(stored.leaf).statement  # what the ledger states openly
        finding = {
            "finding_id": row.finding_id,
            "rule": row.rule_id,
            "severity": row.severity,
            "legal_basis": "—",
            "record_index": row.record_index,
            "record_id": row.record_id,
            "related_indices": [int(i) for i in row.related_indices.split(",") if i],
            "evidence": {},
            "reference_versions": public.get("reference_versions", {}),
            "policy_sha256": public.get("policy_sha256", "—"),
        }
    current: PortalSession = g.portal_session
    actions = [a for a, (before, _after) in ACTIONS.items() if row.state in before]
    versions = finding.get("reference_versions") or {}
    snapshot = services_.reference.snapshot_of(versions)
    rule = finding["rule"]
    page = render_template(
        "portal/finding.html",
        finding=finding,
        rule_title=rule_titles(_).get(rule),
        # The rule's basis in the reader's language; a retired rule keeps the sealed words.
        legal_basis=legal_bases(_).get(rule, finding["legal_basis"]),
        evidence=evidence_text(rule, finding.get("evidence") or {}, snapshot, _, value_names()),
        used_versions=_used_versions(services_, versions, str(finding["policy_sha256"])),
        dataset_names=dataset_names(_),
        related=_related_records(services_, finding.get("related_indices") or []),
        can_read_reference="supervisor" in current.roles,  # the reference pages are theirs
        unreadable=unreadable,
        case_id=row.case_id,
        state=row.state,
        deadline=row.rectification_deadline,
        history=services_.triage.history(row.finding_id),
        actions=actions,
        can_triage=bool(current.roles & TRIAGE_ROLES),
        message=message,
    )
    return page, status


@portal.get("/findings/<finding_id>")
@signed_in
def finding(finding_id: str) -> Any:
    return _finding_page(finding_id)


@portal.post("/findings/<finding_id>/actions")
@signed_in
def act_on_finding(finding_id: str) -> Any:
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    if not current.roles & TRIAGE_ROLES:
        abort(403, description=_("Auditors read findings; they do not triage them."))
    deadline_text = request.form.get("deadline", "").strip()
    try:
        deadline = date.fromisoformat(deadline_text) if deadline_text else None
    except ValueError:
        return _finding_page(finding_id, _("The deadline is not a date."), 400)
    try:
        services().triage.act(
            finding_id[:32],
            request.form.get("action", ""),
            username=current.username,
            roles=current.roles,
            reason=request.form.get("reason", ""),
            deadline=deadline,
        )
    except TriageError as refused:
        return _finding_page(finding_id, _triage_message(str(refused)), refused.status)
    return redirect(url_for("portal.finding", finding_id=finding_id[:32]))


def _triage_message(reason: str) -> str:
    """The refusal in the reader's language (the service's reasons are English)."""
    known = {
        "a dismissal needs its reason": _("A dismissal needs its reason."),
        "a rectification order needs a deadline": _("A rectification order needs a deadline."),
        "the rectification deadline must be after today": _(
            "The rectification deadline must be after today."
        ),
        "the finding changed meanwhile; reload it": _(
            "Someone changed this finding meanwhile; reload it."
        ),
    }
    return str(known.get(reason, _("This step is not allowed now: %(reason)s", reason=reason)))
