"""The services of the application handling the request at hand.

Blueprints reach the services through ``current_app.extensions``, never by
importing the module that builds the application: ``app`` imports the
blueprints, so the blueprints must not import ``app`` back.
"""

from __future__ import annotations

from flask import current_app

from supervisor.runtime.services import Services

__all__ = ["SERVICES_EXTENSION", "services"]

#: Where ``create_app`` keeps the ``Services`` in ``app.extensions``.
SERVICES_EXTENSION = "careledger"


def services() -> Services:
    """The services of the app handling the current request (requires an app context)."""
    found: Services = current_app.extensions[SERVICES_EXTENSION]
    return found
