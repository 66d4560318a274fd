"""``careledger cases``: what a regulator does with cases in the portal, scripted.

Every step goes through the same ``CaseService`` as the portal, so it records the
same ledger entries under the name given with ``--actor``.
"""

from __future__ import annotations

import sys
from datetime import date

import click

from supervisor.cases.case_list import CASE_HEADERS, case_rows
from supervisor.cases.lifecycle import CaseError
from supervisor.cases.service import CaseFilter
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.inspection.case_grouping import CASE_STATES
from supervisor.inspection.findings_export import write_table

#: The CLI acts with a regulator's rights; who acted is named by ``--actor``.
_CLI_ROLES = frozenset({"regulator"})


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from e


def _actor(text: str) -> str:
    name = text.strip()
    if not name or len(name) > 64:
        raise click.BadParameter("name who acts (1-64 characters)")
    return name


@click.group("cases")
def cases_group() -> None:
    """Cases: findings that share one cause, and the steps taken on them."""


@cases_group.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("--state", type=click.Choice(CASE_STATES), help="Only cases in this state.")
@click.option("--rule", help="Only this rule id (e.g. ORG-LICENSE).")
@click.option("--institution", help="Only this institution code.")
@click.pass_obj
def list_cases(
    context: CliContext, fmt: str, state: str | None, rule: str | None, institution: str | None
) -> None:
    """One line per case: id, rule, institution, state, findings, first and last seen."""
    services = context.services()
    try:
        found = services.cases.list_cases(CaseFilter(state, rule, institution))
        count = write_table(case_rows(found), sys.stdout.buffer, fmt, CASE_HEADERS)
        click.echo(f"{count} cases", err=True)
    finally:
        services.engine.dispose()


@cases_group.command("order-rectification")
@click.argument("case_id")
@click.option("--deadline", required=True, help="Rectify by (YYYY-MM-DD, after today).")
@click.option("--text", required=True, help="What the institution must do.")
@click.option("--actor", required=True, help="Who orders it (recorded on the ledger).")
@click.pass_obj
def order_rectification(
    context: CliContext, case_id: str, deadline: str, text: str, actor: str
) -> None:
    """Order rectification: issue the notice (整改通知书) to the institution."""
    services = context.services()
    try:
        notice_id = services.cases.order_rectification(
            case_id,
            deadline=_day(deadline),
            text=text,
            username=_actor(actor),
            roles=_CLI_ROLES,
        )
        click.echo(f"notice {notice_id} issued for case {case_id}; rectify by {deadline}")
    except CaseError as e:
        raise CommandError(str(e)) from e
    finally:
        services.engine.dispose()


@cases_group.command("review")
@click.argument("response_id")
@click.option("--accept", "decision", flag_value="accept", help="Accept: the case closes.")
@click.option(
    "--reject", "decision", flag_value="reject", help="Reject: needs a reason and deadline."
)
@click.option("--reason", default="", help="Why it is rejected.")
@click.option("--deadline", help="The new deadline when rejecting (YYYY-MM-DD).")
@click.option("--actor", required=True, help="Who reviews it (recorded on the ledger).")
@click.pass_obj
def review(  # noqa: PLR0917 - click passes options positionally
    context: CliContext,
    response_id: str,
    decision: str | None,
    reason: str,
    deadline: str | None,
    actor: str,
) -> None:
    """Accept or reject an institution's response to a notice."""
    if decision is None:
        raise click.UsageError("say --accept or --reject")
    if decision == "reject" and (not reason.strip() or deadline is None):
        raise click.UsageError("--reject needs --reason and --deadline")
    services = context.services()
    try:
        state = services.cases.review(
            response_id,
            accept=decision == "accept",
            username=_actor(actor),
            roles=_CLI_ROLES,
            reason=reason,
            deadline=None if deadline is None else _day(deadline),
        )
        click.echo(f"response {response_id} {decision}ed; the case is now {state}")
    except CaseError as e:
        raise CommandError(str(e)) from e
    finally:
        services.engine.dispose()
