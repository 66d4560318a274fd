"""The database itself refuses to rewrite the ledger.

Entries, checkpoints and the leaf-hash index are insert-only; a tile may
only grow (its base row, the C2SP bytes, kept as a prefix; inner rows are
recomputed as it grows); the head may only move forward.
Grants keep the portal's PostgreSQL role from UPDATE and DELETE on these
tables (``ops/postgresql/roles.sql``); these triggers hold for every role,
the owner included, and for an operator's mistaken statement. Only a
superuser switching triggers off (``session_replication_role = replica``)
or an attacker editing the SQLite file gets past them, and the proofs
catch what they change.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_INSERT_ONLY = ("ledger_entries", "ledger_checkpoints", "ledger_leaf_index")
_MESSAGE = "careledger: the ledger is append-only"

_POSTGRES_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION careledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{_MESSAGE}: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION careledger_tile_grows() RETURNS trigger AS $$
BEGIN
    IF NEW.level <> OLD.level OR NEW.idx <> OLD.idx OR NEW.width <= OLD.width
       OR substring(NEW.hashes FROM 1 FOR OLD.width * 32)
          <> substring(OLD.hashes FROM 1 FOR OLD.width * 32) THEN
        RAISE EXCEPTION '{_MESSAGE}: a tile may only grow'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION careledger_head_moves_forward() RETURNS trigger AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.size < OLD.size
       OR (NEW.size = OLD.size AND NEW.root <> OLD.root) THEN
        RAISE EXCEPTION '{_MESSAGE}: the head may only move forward'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
"""


def _postgres() -> None:
    op.execute(_POSTGRES_FUNCTIONS)
    for table in _INSERT_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION careledger_refuse_change()"
        )
    for table in (*_INSERT_ONLY, "ledger_tiles", "ledger_head"):
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION careledger_refuse_change()"
        )
    op.execute(
        "CREATE TRIGGER ledger_tiles_grow_only BEFORE UPDATE ON ledger_tiles "
        "FOR EACH ROW EXECUTE FUNCTION careledger_tile_grows()"
    )
    op.execute(
        "CREATE TRIGGER ledger_head_forward_only BEFORE UPDATE ON ledger_head "
        "FOR EACH ROW EXECUTE FUNCTION careledger_head_moves_forward()"
    )
    for table in ("ledger_tiles", "ledger_head"):
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION careledger_refuse_change()"
        )


def _sqlite() -> None:
    for table in _INSERT_ONLY:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: {event} on {table} refused'); END"
            )
    for table in ("ledger_tiles", "ledger_head"):
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: DELETE on {table} refused'); END"
        )
    op.execute(
        "CREATE TRIGGER ledger_tiles_grow_only BEFORE UPDATE ON ledger_tiles "
        "WHEN NEW.level <> OLD.level OR NEW.idx <> OLD.idx OR NEW.width <= OLD.width "
        "OR substr(NEW.hashes, 1, OLD.width * 32) <> substr(OLD.hashes, 1, OLD.width * 32) "
        f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: a tile may only grow'); END"
    )
    op.execute(
        "CREATE TRIGGER ledger_head_forward_only BEFORE UPDATE ON ledger_head "
        "WHEN NEW.id <> OLD.id OR NEW.size < OLD.size "
        "OR (NEW.size = OLD.size AND NEW.root <> OLD.root) "
        f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: the head may only move forward'); END"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres()
    else:
        _sqlite()


def _trigger_names() -> list[tuple[str, str]]:
    names = [(f"{t}_append_only", t) for t in _INSERT_ONLY]
    names += [(f"{t}_no_truncate", t) for t in (*_INSERT_ONLY, "ledger_tiles", "ledger_head")]
    names += [(f"{t}_no_{e}", t) for t in _INSERT_ONLY for e in ("update", "delete")]
    names += [(f"{t}_no_delete", t) for t in ("ledger_tiles", "ledger_head")]
    names += [
        ("ledger_tiles_grow_only", "ledger_tiles"),
        ("ledger_head_forward_only", "ledger_head"),
    ]
    return names


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table in _trigger_names():
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
    if postgres:
        for function in (
            "careledger_refuse_change",
            "careledger_tile_grows",
            "careledger_head_moves_forward",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
