"""Kept for deployments whose units still name ``supervisor.wsgi:app`` (before the rooms):
the application is ``supervisor.web.wsgi:app``; this module only hands it on."""

from supervisor.web.wsgi import app

__all__ = ["app"]
