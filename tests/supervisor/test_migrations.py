"""The migrations build exactly the tables ``ledger/schema.py`` describes, on each database."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from ledger import schema

pytestmark = pytest.mark.database


def test_migrated_schema_matches_the_ledger_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
        assert differences == []
        head = connection.execute(text("SELECT size, root, last_leaf_hash FROM ledger_head")).one()
    assert head.size == 0
    assert (
        bytes(head.root).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert bytes(head.last_leaf_hash) == bytes(32)
