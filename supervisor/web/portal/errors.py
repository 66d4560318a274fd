"""Errors as portal pages: in the reader's language, saying what happened and what to do.

Used by the portal's own handler and by the application's, for portal addresses that
match no route and for failures nobody expected, so a regulator never gets the
problem+json meant for platforms.
"""

from __future__ import annotations

from flask import Response, g, render_template
from flask_babel import gettext as _

__all__ = ["portal_error_page"]


def _explained(status: int) -> tuple[str, str]:
    """(title, what to do next) for a status, in the reader's language."""
    known = {
        400: (_("The request was not understood"), _("Go back and check what you entered.")),
        403: (
            _("Your role may not open this page"),
            _("Ask a supervisor if your work needs it."),
        ),
        404: (
            _("There is no such page or record"),
            _("Check the address, or find it from the overview or the search."),
        ),
        405: (
            _("This page cannot be used that way"),
            _("Use the buttons and links of the portal."),
        ),
        413: (_("What was sent is too large"), _("Send a smaller file.")),
        422: (
            _("Some of what you entered is not valid"),
            _("Correct the fields named and try again."),
        ),
        429: (_("Too many attempts"), _("Wait a few minutes, then try again.")),
        503: (
            _("The service is unavailable for the moment"),
            _("Try again in a minute."),
        ),
    }
    return known.get(
        status,
        (
            _("Something went wrong on the server"),
            _(
                "Nothing you did caused it. Try again; if it happens again, give the "
                "administrator the reference below."
            ),
        ),
    )


def portal_error_page(status: int, message: str | None = None) -> Response:
    """The error page for ``status``, with ``message`` (already in the reader's language)."""
    title, advice = _explained(status)
    page = render_template(
        "portal/error.html",
        status=status,
        title=title,
        message=message,
        advice=advice,
        reference=g.get("request_id"),
    )
    return Response(page, status=status, mimetype="text/html")
