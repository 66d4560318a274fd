"""Reference data in the portal: versions in force, uploads of new versions, the policy, diffs."""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template, request
from flask_babel import gettext as _

from inspectors.policy import PolicyError, default_policy_bytes
from inspectors.reference_diff import diff_rows
from inspectors.reference_files import ReferenceFileError, ReferenceProblem, parse_reference_csv
from supervisor.inspection.reference_data import POLICY
from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.problem_text import problem_text
from supervisor.web.portal.record_fields import drug_category_names
from supervisor.web.portal.sessions import PortalSession
from supervisor.web.portal.views import check_csrf, signed_in, value_names


def _supervisor_only() -> PortalSession:
    current: PortalSession = g.portal_session
    if "supervisor" not in current.roles:
        abort(403, description=_("Only supervisors manage reference data and policy."))
    return current


def _reference_page(message: str | None = None, problems: Any = (), status: int = 200) -> Any:
    reference = services().reference
    versions = list(reversed(reference.history()))
    seen: dict[str, int] = {}
    previous: dict[int, int] = {}
    for version in reversed(versions):  # oldest first: each version's predecessor
        if version.dataset in seen and version.dataset != POLICY:
            previous[version.entry_index] = seen[version.dataset]
        seen[version.dataset] = version.entry_index
    current = reference.current_versions()
    policy_text = (
        reference.payload(current[POLICY].entry_index)
        if POLICY in current
        else default_policy_bytes()
    ).decode("utf-8")
    page = render_template(
        "portal/reference.html",
        versions=versions,
        previous=previous,
        policy_text=policy_text,
        message=message,
        problems=[
            problem_text(p, _, _column_names()) if isinstance(p, ReferenceProblem) else str(p)
            for p in problems
        ],
        dataset_names=_dataset_names(),
        sources={v.entry_index: _source_shown(v.source) for v in versions},
    )
    return page, status


def _dataset_names() -> dict[str, str]:
    return {
        "registry": _("practitioner registry"),
        "prices": _("price catalogue"),
        "drugs": _("drug catalogue"),
        "policy": _("inspection policy"),
    }


def _source_shown(source: str) -> str:
    """Where a version came from, as recorded (``portal:USER``, ``file:NAME by USER``,
    ``csv:NAME``, ``ldap:URL/BASE``, ``default``), in the reader's language."""
    kind, _colon, rest = source.partition(":")
    if source == "default":
        return str(_("built-in default"))
    if kind == "portal" and rest:
        return str(_("uploaded in the portal by %(who)s", who=rest))
    if kind in ("file", "csv") and rest:
        name, by, who = rest.partition(" by ")
        if by:
            return str(_("file %(name)s, imported by %(who)s", name=name, who=who))
        return str(_("file %(name)s", name=name))
    if kind == "ldap" and rest:
        return str(_("provider directory %(address)s", address=rest))
    return source


def _column_names() -> dict[str, str]:
    """The reference CSV files' columns (``inspectors.reference_files``) as people read them."""
    return {
        "license_no": _("Licence number"),
        "name": _("Name"),
        "role": _("Role"),
        "status": _("Status"),
        "valid_from": _("Valid from"),
        "valid_to": _("Valid to"),
        "practice_start": _("Independent practice since"),
        "primary_institution_code": _("Primary institution"),
        "multi_site_institution_codes": _("Multi-site practice filings"),
        "departments": _("Departments"),
        "item_code": _("Item code"),
        "item_name": _("Item"),
        "unit": _("Unit"),
        "ceiling_price": _("Price ceiling (yuan)"),
        "insurance_covered": _("Covered by insurance"),
        "drug_code": _("Drug code"),
        "drug_name": _("Drug"),
        "category": _("Category"),
        "online_prescribable": _("May be prescribed online"),
        "max_days_supply": _("Longest supply (days)"),
        "cold_chain": _("Cold chain (2–8 °C)"),
    }


def _value_shown(value: Any, words: dict[str, str]) -> str:
    if value is None or value in ("", []):
        return "–"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list | tuple):
        return ", ".join(_value_shown(v, words) for v in value)
    return words.get(str(value), str(value))


def _rows_shown(
    rows: list[dict[str, Any]], columns: dict[str, str], words: dict[str, str]
) -> list[list[tuple[str, str]]]:
    return [
        [(columns.get(c, c), _value_shown(v, words)) for c, v in sorted(row.items())]
        for row in rows
    ]


@portal.get("/reference")
@signed_in
def reference() -> Any:
    _supervisor_only()
    return _reference_page()


@portal.post("/reference/upload")
@signed_in
def reference_upload() -> Any:
    current = _supervisor_only()
    check_csrf(current.csrf_token)
    dataset = request.form.get("dataset", "")
    upload = request.files.get("file")
    if dataset not in ("registry", "prices", "drugs") or upload is None:
        abort(400, description=_("Choose a dataset and a CSV file."))
    try:
        rows = parse_reference_csv(dataset, upload.read())
    except ReferenceFileError as rejected:
        return _reference_page(problems=rejected.problems, status=422)
    result = services().reference.import_rows(
        dataset, rows, source=f"portal:{current.username}", now=services().clock()
    )
    if result.unchanged:
        return _reference_page(_("This version is already in force; nothing was appended."))
    return _reference_page(
        _("Imported: %(rows)s rows, in force from ledger entry %(index)s.",
          rows=result.row_count, index=result.entry_index)
    )  # fmt: skip


@portal.post("/reference/policy")
@signed_in
def policy_update() -> Any:
    current = _supervisor_only()
    check_csrf(current.csrf_token)
    text = request.form.get("policy", "").replace("\r\n", "\n")
    try:
        result = services().reference.import_policy(
            text.encode("utf-8"), source=f"portal:{current.username}", now=services().clock()
        )
    except PolicyError as refused:
        return _reference_page(problems=[refused], status=422)
    if result.unchanged:
        return _reference_page(_("This version is already in force; nothing was appended."))
    return _reference_page(
        _("Policy %(version)s in force from ledger entry %(index)s.",
          version=result.version[:16], index=result.entry_index)
    )  # fmt: skip


@portal.get("/reference/<int:entry_index>/diff")
@signed_in
def reference_diff(entry_index: int) -> Any:
    _supervisor_only()
    reference = services().reference
    history = reference.history()
    this = next((v for v in history if v.entry_index == entry_index), None)
    if this is None or this.dataset == POLICY:
        abort(404, description=_("No such reference version."))
    earlier = [v for v in history if v.dataset == this.dataset and v.entry_index < entry_index]
    if not earlier:
        abort(404, description=_("This is the first version: nothing to compare with."))
    before = earlier[-1]
    diff = diff_rows(this.dataset, reference.rows(before.entry_index), reference.rows(entry_index))
    columns = _column_names()
    words = {**value_names(), **drug_category_names(_)}
    changed = [
        (
            key,
            [
                (columns.get(c, c), _value_shown(old, words), _value_shown(new, words))
                for c, (old, new) in changed_columns.items()
            ],
        )
        for key, changed_columns in diff.changed
    ]
    return render_template(
        "portal/reference_diff.html",
        dataset=this.dataset,
        old_index=before.entry_index,
        new_index=entry_index,
        added=_rows_shown(diff.added, columns, words),
        removed=_rows_shown(diff.removed, columns, words),
        changed=changed,
        dataset_names=_dataset_names(),
    )
