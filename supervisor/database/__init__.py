"""The database: search-projection tables, engines from settings, Alembic migrations,
least-privilege PostgreSQL roles, and what an outage looks like.

Owns: ``tables``, ``engine``, ``migrations/``, ``roles``, ``outages``.
May import: ``ledger`` and ``supervisor.config``; nothing else of supervisor.
"""
