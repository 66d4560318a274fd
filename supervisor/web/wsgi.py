"""The WSGI entry point for gunicorn in production: ``gunicorn -c ops/gunicorn.conf.py
supervisor.web.wsgi:app``. Settings come from ``CARELEDGER_*`` and ``CARELEDGER_CONFIG``."""

from __future__ import annotations

from supervisor.web.app import create_app

app = create_app()
