"""What the benchmarks share: throwaway PostgreSQL schemas and the JSON report."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy

__all__ = ["postgres_schemas", "write_report"]


@contextmanager
def postgres_schemas(url: str, names: Sequence[str]) -> Iterator[dict[str, str]]:
    """A fresh schema per name in the database at ``url``; yields name -> URL using it.

    The schemas are dropped afterwards, whatever happens.
    """
    admin = sqlalchemy.create_engine(url)
    schemas = {name: f"bench_{uuid.uuid4().hex[:8]}_{name}" for name in names}
    with admin.begin() as connection:
        for schema in schemas.values():
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield {name: f"{url}?options=-csearch_path%3D{schema}" for name, schema in schemas.items()}
    finally:
        with admin.begin() as connection:
            for schema in schemas.values():
                connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def write_report(report: dict[str, Any], out: Path | None) -> None:
    """Print the report as JSON, and write it to ``out`` too when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out is not None:
        out.write_text(text + "\n")
