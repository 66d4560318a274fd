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

from . import reports_views, views  # noqa: E402, F401  (register the routes on the blueprint)
