"""The regulators' portal: server-rendered pages behind the agency directory's sign-in."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["portal"]

portal = Blueprint(
    "portal",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# Importing the view modules registers their routes on the blueprint.
from supervisor.web.portal import (  # noqa: E402, F401
    case_views,
    findings_views,
    journey_views,
    profile_views,
    record_views,
    reference_views,
    reports_views,
    views,
)
