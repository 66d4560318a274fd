"""Consistent backups of the whole database, and restoring them into an empty one.

A backup is a folder:

* ``manifest.json``: when, which schema revision and log, the head, and for
  every table its columns, row count and the SHA-256 of its file;
* ``checkpoint.txt``: the latest signed checkpoint at the snapshot;
* ``tables/<name>.jsonl.gz``: one JSON array per row, in column order
  (bytes as ``{"b": base64}``, times as ``{"t": ISO 8601 UTC}``, days as
  ``{"d": ISO 8601 date}``).

Every table is read in one snapshot transaction, so the files agree with
each other while ingest goes on. The folder appears under its final name
only once complete (written as ``<name>.partial``, then renamed).

The format is the same from SQLite and PostgreSQL, so a backup also moves
a ledger from the embedded SQLite to PostgreSQL.

Keys are not in a backup: they are kept apart (``keys/``, backed up by
the operator to another medium), so that a stolen backup opens nothing and
retention's crypto-shredding is not undone by an old backup.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, MetaData, Table, func, select, text

from ledger import schema as ledger_schema
from ledger.database import snapshot_transaction, write_transaction
from supervisor.custody.file_modes import private_folder, private_tree
from supervisor.custody.key_files import sync_to_disk
from supervisor.database import tables

__all__ = [
    "BackupError",
    "BackupSummary",
    "all_tables",
    "read_manifest",
    "restore_backup",
    "write_backup",
]

FORMAT = "careledger-backup/1"
_CHUNK = 5000


class BackupError(Exception):
    """A backup cannot be written or restored: the folder, a file's hash, or the target."""


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    size: int
    checkpoint_size: int
    rows: dict[str, int]


def all_tables() -> list[Table]:
    """Every table careledger keeps, parents before children."""
    combined = MetaData()
    for metadata in (ledger_schema.metadata, tables.metadata):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return list(combined.sorted_tables)


# -- values ------------------------------------------------------------------------------


def encode_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return {"t": moment.astimezone(UTC).isoformat()}
    if isinstance(value, date):  # after datetime, which is a date too
        return {"d": value.isoformat()}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "b" in value:
            return base64.b64decode(value["b"])
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "d" in value:
            return date.fromisoformat(value["d"])
        raise BackupError(f"unknown tagged value {value!r}")
    return value


# -- writing ---------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dump_table(connection: Connection, table: Table, handle: gzip.GzipFile) -> int:
    order = list(table.primary_key.columns) or list(table.columns)
    result = connection.execution_options(stream_results=True, yield_per=_CHUNK).execute(
        select(table).order_by(*order)
    )
    count = 0
    for row in result:
        handle.write(orjson.dumps([encode_value(v) for v in row]) + b"\n")
        count += 1
    return count


def write_backup(engine: Engine, folder: Path, *, origin: str, vkey: str) -> BackupSummary:
    """Snapshot every table into ``folder`` (which must not exist yet)."""
    if folder.exists():
        raise BackupError(f"{folder} exists already; a backup goes into a new folder")
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # what an interrupted earlier attempt left
    private_folder(partial / "tables")  # private before a single row is written
    os.chmod(partial, 0o700)
    manifest_tables: dict[str, Any] = {}
    with snapshot_transaction(engine) as connection:
        head = connection.execute(select(ledger_schema.head)).one()
        latest = connection.execute(
            select(ledger_schema.checkpoints)
            .order_by(ledger_schema.checkpoints.c.size.desc())
            .limit(1)
        ).first()
        revision = MigrationContext.configure(connection).get_current_revision()
        for table in all_tables():
            path = partial / "tables" / f"{table.name}.jsonl.gz"
            with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
                rows = _dump_table(connection, table, handle)
            manifest_tables[str(table.name)] = {
                "columns": [str(c.name) for c in table.columns],
                "rows": rows,
                "sha256": _sha256(path),
            }
    checkpoint_note = latest.note if latest else ""
    (partial / "checkpoint.txt").write_text(checkpoint_note, encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "careledger": version("careledger"),
        "schema_revision": revision,
        "log_origin": origin,
        "log_vkey": vkey,
        "size": head.size,
        "root": base64.b64encode(head.root).decode(),
        "checkpoint_size": latest.size if latest else 0,
        "checkpoint_sha256": hashlib.sha256(checkpoint_note.encode()).hexdigest(),
        "tables": manifest_tables,
    }
    (partial / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    for path in [*(partial / "tables").iterdir(), partial / "checkpoint.txt"]:
        sync_to_disk(path)
    sync_to_disk(partial / "manifest.json")
    sync_to_disk(partial / "tables")
    private_tree(partial)  # the backup holds what the database holds: sessions, pseudonyms
    partial.rename(folder)
    sync_to_disk(folder.parent)
    return BackupSummary(
        folder,
        head.size,
        manifest["checkpoint_size"],
        {n: t["rows"] for n, t in manifest_tables.items()},
    )


# -- reading and restoring ---------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, after checking every file against its hash."""
    try:
        manifest: dict[str, Any] = orjson.loads((folder / "manifest.json").read_bytes())
    except FileNotFoundError as e:
        raise BackupError(f"{folder} holds no manifest.json: not a complete backup") from e
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder} is not a {FORMAT} backup")
    note = (folder / "checkpoint.txt").read_text(encoding="utf-8")
    if hashlib.sha256(note.encode()).hexdigest() != manifest["checkpoint_sha256"]:
        raise BackupError(f"{folder}/checkpoint.txt does not match the manifest")
    for name, entry in manifest["tables"].items():
        path = folder / "tables" / f"{name}.jsonl.gz"
        if not path.exists() or _sha256(path) != entry["sha256"]:
            raise BackupError(f"{path} is missing or does not match the manifest's SHA-256")
    return manifest


def _rows(path: Path) -> Iterator[list[Any]]:
    with gzip.open(path, "rb") as handle:
        for line in handle:
            yield [decode_value(v) for v in orjson.loads(line)]


def _chunks(rows: Iterable[list[Any]], columns: list[str]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(dict(zip(columns, row, strict=True)))
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _reset_sequences(connection: Connection, table: Table) -> None:
    """PostgreSQL: serial ids continue after the restored ones."""
    for column in table.primary_key.columns:
        if column.autoincrement is True:
            connection.execute(
                text(
                    # Names from our own Table objects, never from input.
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "  # nosec B608
                    f"coalesce((SELECT max({column.name}) FROM {table.name}), 0) + 1, false)"
                )
            )


def restore_backup(
    engine: Engine,
    folder: Path,
    migrate_to: Callable[[Engine, str], None],
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> dict[str, Any]:
    """Load ``folder`` into an empty database; returns the manifest.

    The schema is brought to the backup's revision, the rows loaded in one
    transaction (all or nothing), then the schema is migrated to the newest
    revision by the caller's ``migrate_to``.
    """
    manifest = read_manifest(folder)
    migrate_to(engine, manifest["schema_revision"])
    by_name = {t.name: t for t in all_tables()}
    with write_transaction(engine) as connection:
        size = connection.execute(select(ledger_schema.head.c.size)).scalar_one()
        entries = connection.execute(select(func.count()).select_from(ledger_schema.entries))
        if size or entries.scalar_one():
            raise BackupError(
                "the target database holds a ledger already; restore only into an empty one"
            )
        for name, entry in manifest["tables"].items():
            table = by_name.get(name)
            if table is None:
                raise BackupError(f"the backup has a table {name!r} this version does not know")
            columns = entry["columns"]
            if name == ledger_schema.head.name:  # the one row migrations create: move it forward
                for row in _chunks(_rows(folder / "tables" / f"{name}.jsonl.gz"), columns):
                    connection.execute(table.update().values(**row[0]))
                continue
            for chunk in _chunks(_rows(folder / "tables" / f"{name}.jsonl.gz"), columns):
                connection.execute(table.insert(), chunk)
            if connection.dialect.name == "postgresql":
                _reset_sequences(connection, table)
            progress(name, entry["rows"])
    return manifest
