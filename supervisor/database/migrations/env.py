"""Alembic environment: migrations run on the connection handed in by ``upgrade_database``."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
