"""``careledger doctor``: what this installation can and cannot do, with the fix for each."""

from __future__ import annotations

import shutil
import socket
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import func, select

from ledger import schema as ledger_schema
from reports.fonts import BUILT_IN_FONT, embedded_font_file
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.custody.data_folder import data_at_rest_problems, sqlite_files
from supervisor.database import tables
from supervisor.database.engine import durability_problems, open_engine


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    fix: str = ""
    #: A missing test tool does not stop careledger from running.
    needed_to_run: bool = True


def _font() -> Finding:
    path = embedded_font_file()
    if path is not None:
        return Finding(True, f"report PDFs embed the CJK font {path}")
    return Finding(
        True,
        f"report PDFs use the built-in {BUILT_IN_FONT} (readable in every PDF viewer, "
        "not embedded)",
        "to embed a font: apt-get install fonts-wqy-zenhei",
    )


def _database(context: CliContext) -> list[Finding]:
    settings = context.settings
    files = sqlite_files(settings)
    if files and not files[0].exists():
        return [Finding(False, f"no database at {files[0]}", "run `careledger init`")]
    engine = open_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            size = connection.execute(select(ledger_schema.head.c.size)).scalar_one()
            ungrouped = connection.execute(
                select(func.count())
                .select_from(tables.findings)
                .where(tables.findings.c.case_id.is_(None))
            ).scalar_one()
        found = [Finding(True, f"database reachable, ledger of {size} entries")]
        if ungrouped:
            # Findings recorded before cases existed (an upgraded installation).
            found.append(
                Finding(
                    False,
                    f"{ungrouped} findings belong to no case yet",
                    "run `careledger projections rebuild` once to group them",
                    needed_to_run=False,
                )
            )
        problems = durability_problems(engine)
    except Exception as e:  # reported, not raised: the doctor names every problem
        fix = "check database_url (CARELEDGER_DATABASE_URL), then `careledger init`"
        return [Finding(False, f"database not usable: {type(e).__name__}: {e}", fix)]
    finally:
        engine.dispose()
    found += [Finding(False, p, "see ops/postgresql/postgresql.conf.example") for p in problems]
    if not problems:
        found.append(Finding(True, "commits are durable (a receipt survives a crash)"))
    return found


def _files(context: CliContext) -> list[Finding]:
    problems = data_at_rest_problems(context.settings)
    if not problems:
        return [Finding(True, "data folder and key files private to this user")]
    return [Finding(False, p, "chmod as said, or run `careledger init`") for p in problems]


def _reachable(url: str, what: str, setting: str) -> Finding:
    if not url:
        return Finding(True, f"{what}: not configured ({setting})", "", needed_to_run=False)
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or (636 if parsed.scheme == "ldaps" else 389)
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=3).close()
    except OSError as e:
        return Finding(False, f"{what} at {url} unreachable: {e}", f"check {setting}")
    return Finding(True, f"{what} at {url} reachable")


def _tool(name: str, present: Callable[[], bool], package: str, purpose: str) -> Finding:
    if present():
        return Finding(True, f"{name}: present ({purpose})", needed_to_run=False)
    return Finding(
        False, f"{name}: missing ({purpose})", f"apt-get install {package}", needed_to_run=False
    )


#: (tool, is it here, Debian packages, what the tests use it for)
_TEST_TOOLS: tuple[tuple[str, Callable[[], bool], str, str], ...] = (
    ("slapd", lambda: Path("/usr/sbin/slapd").exists(), "slapd ldap-utils",
     "tests: a throwaway directory"),
    ("chromium", lambda: Path("/usr/bin/chromium").exists(), "chromium",
     "tests: the portal in a browser"),
    ("pdftoppm", lambda: shutil.which("pdftoppm") is not None, "poppler-utils poppler-data",
     "tests: PDFs rendered by a second reader"),
    ("nginx", lambda: Path("/usr/sbin/nginx").exists(), "nginx",
     "tests: the shipped reverse-proxy file"),
)  # fmt: skip


@click.command()
@click.pass_obj
def doctor(context: CliContext) -> None:
    """List what this installation can and cannot do, and how to fix what it cannot.

    Exits 1 if careledger itself cannot run here; missing test tools are only listed.
    """
    settings = context.settings
    modern = sys.version_info >= (3, 11)
    findings = [
        Finding(
            modern,
            f"Python {sys.version.split()[0]}",
            "" if modern else "careledger needs Python 3.11 or later",
        ),
        _font(),
        *_database(context),
        *_files(context),
        _reachable(settings.portal_ldap_url, "agency directory (sign-in)", "portal_ldap_url"),
        _reachable(settings.registry_ldap_url, "provider directory", "registry_ldap_url"),
    ]
    for name, present, package, purpose in _TEST_TOOLS:
        findings.append(_tool(name, present, package, purpose))
    for finding in findings:
        mark = "ok  " if finding.ok else ("FAIL" if finding.needed_to_run else "miss")
        click.echo(f"{mark}  {finding.what}")
        if finding.fix:
            click.echo(f"      fix: {finding.fix}")
    if any(not f.ok and f.needed_to_run for f in findings):
        raise CommandError("careledger cannot run here as configured: see FAIL above")
