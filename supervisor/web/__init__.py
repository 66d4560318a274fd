"""The Flask application: ``create_app``, one blueprint per user kind (``api`` for
platforms, ``log_api`` for auditors, ``portal`` for regulators), health and metrics,
problem+json, and the agency directory's sign-in.

Blueprints reach the services through ``current.services()`` (the app's
extensions), never by importing ``app``, which imports them.

Owns: ``app``, ``wsgi``, ``current``, ``api/``, ``log_api/``, ``portal/``, ``health``,
``metrics``, ``problems``, ``directory_auth``.
May import: ``supervisor.runtime`` and every room below it; never ``cli`` or ``demo``.
"""
