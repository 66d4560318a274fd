-- careledger on PostgreSQL: one database, three roles (run once, as a superuser).
--
--   psql -v ON_ERROR_STOP=1 -f ops/postgresql/roles.sql
--
-- Then, as the owner, migrate and grant (re-run after every upgrade; it is idempotent):
--
--   CARELEDGER_DATABASE_URL=postgresql+psycopg://careledger_owner@db.internal/careledger \
--   CARELEDGER_DATABASE_APP_ROLE=careledger_app \
--   CARELEDGER_DATABASE_READONLY_ROLE=careledger_readonly \
--   careledger db upgrade
--
-- careledger_owner    owns the schema; used only by `careledger db upgrade`.
-- careledger_app      portal, API, scheduler, inspector. May append to the ledger, never
--                     UPDATE/DELETE/TRUNCATE entries, checkpoints or the leaf index; may only
--                     grow tiles and move the head forward (grants plus migration 0012's
--                     triggers, which hold for the owner too).
-- careledger_readonly read replicas serving proofs and search, database auditors.
--
-- Set the passwords with \password in psql (never in this file) or use certificate auth;
-- pg_hba.conf should admit these roles only from the application hosts, with scram-sha-256
-- or cert, over TLS (hostssl).

CREATE ROLE careledger_owner LOGIN;
CREATE ROLE careledger_app LOGIN CONNECTION LIMIT 200;
CREATE ROLE careledger_readonly LOGIN CONNECTION LIMIT 100;

CREATE DATABASE careledger OWNER careledger_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE careledger FROM PUBLIC;
GRANT CONNECT ON DATABASE careledger TO careledger_app, careledger_readonly;

\connect careledger
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO careledger_owner;
-- A statement that waits on a lock longer than this is a bug; fail it, do not queue forever.
ALTER ROLE careledger_app SET lock_timeout = '10s';
ALTER ROLE careledger_app SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE careledger_readonly SET default_transaction_read_only = on;
