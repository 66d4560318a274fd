"""Institution and practitioner profiles: filings, volumes, findings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import abort, render_template
from flask_babel import gettext as _

from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.profiles import institution_profile, practitioner_profile
from supervisor.web.portal.views import signed_in


def _fact_names() -> dict[str, str]:
    return {
        "name": _("Name"),
        "kind": _("Kind"),
        "license_no": _("Licence"),
        "license_valid_until": _("Licence valid until"),
        "host_institution_code": _("Host hospital"),
        "role": _("Role"),
        "status": _("Status"),
        "valid_from": _("Valid from"),
        "valid_to": _("Valid to"),
        "practice_start": _("Independent practice since"),
        "primary_institution_code": _("Primary institution"),
        "multi_site_institution_codes": _("Multi-site filings"),
        "departments": _("Departments"),
        "registry_version": _("Registry version"),
    }


@portal.get("/institutions/<code>")
@signed_in
def institution(code: str) -> Any:
    profile = institution_profile(services(), code[:64])
    if profile is None:
        abort(404, description=_("No records of this institution."))
    if profile.facts is not None:
        keep = ("name", "kind", "license_no", "license_valid_until", "host_institution_code")
        profile = replace(profile, facts={k: profile.facts.get(k) for k in keep})
    return render_template(
        "portal/profile.html",
        title=_("Institution"),
        profile=profile,
        missing=_("No filing (备案) received for this institution."),
        fact_names=_fact_names(),
        related_title=_("Practitioners on its roster"),
        related_endpoint="portal.practitioner",
        related_arg="license_no",
    )


@portal.get("/practitioners/<license_no>")
@signed_in
def practitioner(license_no: str) -> Any:
    profile = practitioner_profile(services(), license_no[:64])
    if profile is None:
        abort(404, description=_("No such practitioner in the registry or the records."))
    return render_template(
        "portal/profile.html",
        title=_("Practitioner"),
        profile=profile,
        missing=_("Not in the practitioner registry."),
        fact_names=_fact_names(),
        related_title=_("Institutions whose records name this practitioner"),
        related_endpoint="portal.institution",
        related_arg="code",
    )
