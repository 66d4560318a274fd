"""The migrations build exactly the tables the code describes (ledger and projections)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, text

from ledger import schema
from supervisor.database import tables

pytestmark = pytest.mark.database


def _all_tables() -> MetaData:
    combined = MetaData()
    for metadata in (schema.metadata, tables.metadata):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


def test_migrated_schema_matches_the_code(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), _all_tables())
        assert differences == []
        head = connection.execute(text("SELECT size, root, last_leaf_hash FROM ledger_head")).one()
    assert head.size == 0
    assert (
        bytes(head.root).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert bytes(head.last_leaf_hash) == bytes(32)
