"""The one exception the command line raises, and how foreign errors become it."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from inspectors.policy import PolicyError
from inspectors.reference_files import ReferenceFileError
from ledger.errors import LedgerError
from reports.fonts import FontMissingError
from reports.methodology import MethodologyError
from supervisor.client.submit import SubmitError
from supervisor.config import ConfigError
from supervisor.custody.backup import BackupError
from supervisor.custody.key_files import KeyFileError
from supervisor.custody.payload_keys import SealedPayloadError
from supervisor.custody.retention import RetentionError
from supervisor.database.roles import RoleError
from supervisor.demo.build import DemoError
from supervisor.inspection.inspector import InspectionConflictError
from supervisor.inspection.registry_sync import RegistrySyncError
from supervisor.intake.platforms import PlatformError
from supervisor.intake.receipts import ReceiptError
from supervisor.reporting.computation import ReportError
from supervisor.reporting.sources import LedgerBasisError

__all__ = ["EXPECTED_ERRORS", "CommandError", "diagnostics"]


class CommandError(click.ClickException):
    """A failure the user can act on; printed as ``Error: ...`` with exit status 1."""


#: Errors that come from input, configuration or the environment, not from a bug.
EXPECTED_ERRORS = (
    LedgerError,
    ConfigError,
    KeyFileError,
    PlatformError,
    SubmitError,
    ReceiptError,
    SealedPayloadError,
    DemoError,
    ReferenceFileError,
    PolicyError,
    InspectionConflictError,
    RegistrySyncError,
    ReportError,
    LedgerBasisError,
    FontMissingError,
    MethodologyError,
    RoleError,
    BackupError,
    RetentionError,
    SQLAlchemyError,
    OSError,
)


def diagnostics(error: BaseException) -> str:
    """One paragraph saying what went wrong and what to try next."""
    if isinstance(error, SQLAlchemyError):
        detail = str(getattr(error, "orig", None) or error).splitlines()[0]
        return (
            f"database error: {detail}\n"
            "Check database_url (CARELEDGER_DATABASE_URL) and that `careledger init` has run. "
            "Add --verbose for the traceback."
        )
    if isinstance(error, ReferenceFileError):
        return str(error)  # every problem, located; nothing else to add
    if isinstance(error, OSError) and error.filename:
        return f"{error.strerror}: {error.filename}"
    return f"{error}\nAdd --verbose for the traceback."
