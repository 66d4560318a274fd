"""``careledger notices``: a platform's client for the rectification notices to its
institution: pull them into a folder, answer them, verify every receipt offline."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.cli.submit_commands import log_verifier
from supervisor.client.notices import (
    NoticeClient,
    NoticeFolder,
    attachment_of,
    response_envelope,
    verify_response,
)
from supervisor.client.submit import ReceiptVerifier, SubmitError, load_platform_key
from supervisor.custody.key_files import read_secret
from supervisor.intake.receipts import ReceiptError

_Command = TypeVar("_Command", bound=Callable[..., Any])
#: A notice of a case in these states will not change again.
_FINAL_CASE_STATES = frozenset({"closed", "dismissed"})


def _platform_options(command: _Command) -> _Command:
    """The options every notices command shares with ``careledger submit``."""
    for option in reversed(
        (
            click.option("--platform", "platform_id", required=True, help="Your platform id."),
            click.option(
                "--key",
                "key_path",
                type=click.Path(path_type=Path, dir_okay=False),
                required=True,
                help="Your platform key file (careledger platform keygen).",
            ),
            click.option("--url", default="http://127.0.0.1:8000", show_default=True),
            click.option(
                "--into",
                "folder",
                type=click.Path(path_type=Path, file_okay=False),
                required=True,
                help="The folder that keeps the notices, the cursor and the responses.",
            ),
        )
    ):
        command = option(command)
    return command


def _client(url: str, platform_id: str, key_path: Path) -> NoticeClient:
    return NoticeClient(url, platform_id, load_platform_key(read_secret(key_path)))


def _line(notice: Mapping[str, Any]) -> str:
    """One line about a notice: its id, case, rule, state, deadline, latest review."""
    document = notice.get("notice") or {}
    rule = document.get("rule", notice.get("rule", ""))
    awaiting = "awaiting your response" if notice.get("awaiting_response") else ""
    line = (
        f"{notice['notice_id']}  case {notice['case_id']}  {rule}  {notice['case_state']}  "
        f"deadline {notice['deadline']}"
    )
    responses = notice.get("responses") or []
    if responses:
        last = responses[-1]
        line += f"  response {last['response_id']} {last['review']}"
        if last.get("review_reason"):
            line += f": {last['review_reason']}"
    return f"{line}  {awaiting}".rstrip()


@click.group("notices")
def notices_group() -> None:
    """Rectification notices to your institution, and your answers to them."""


@notices_group.command("pull")
@_platform_options
@click.pass_obj
def pull(
    context: CliContext,
    platform_id: str,
    key_path: Path,
    url: str,
    folder: Path,
) -> None:
    """Fetch the notices issued since the last pull, each into FOLDER/<notice_id>.json,
    and refresh the ones still open (a rejected answer, a new deadline). One line each."""
    folder.mkdir(parents=True, exist_ok=True)
    notices = NoticeFolder(folder)
    client = _client(url, platform_id, key_path)
    try:
        pulled: set[str] = set()
        for summary in client.all_notices(after=notices.cursor(), now=context.now()):
            notice = client.notice(summary["notice_id"], now=context.now())
            notices.save_notice(notice)
            notices.remember(int(summary["cursor"]))  # after each: a stop resumes here
            pulled.add(notice["notice_id"])
            click.echo(f"new      {_line(notice)}")
        for held in notices.held_notices():
            if held["notice_id"] in pulled or held.get("case_state") in _FINAL_CASE_STATES:
                continue
            notice = client.notice(held["notice_id"], now=context.now())
            if notice != held:
                notices.save_notice(notice)
                click.echo(f"updated  {_line(notice)}")
    finally:
        client.close()
    click.echo(f"{len(pulled)} new notices in {folder}", err=True)


@notices_group.command("respond")
@_platform_options
@click.option(
    "--log-vkey",
    envvar="CARELEDGER_LOG_VKEY",
    help="The log's verifier key, obtained out of band (default: this data folder's log.vkey).",
)
@click.argument("notice_id")
@click.option(
    "--kind",
    type=click.Choice(["rectified", "objection"]),
    help="Rectified, or an objection to the notice.",
)
@click.option("--statement", help="What was done, or why the institution objects.")
@click.option(
    "--attach",
    "attachments",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A file kept as evidence: named by its SHA-256 and size, not uploaded. Repeatable.",
)
@click.option(
    "--response-id",
    help="Your id for this response (default: a new one). Naming a response saved in the "
    "folder that has no receipt yet sends it again, byte for byte.",
)
@click.pass_obj
def respond(  # noqa: PLR0917 - click passes options positionally
    context: CliContext,
    platform_id: str,
    key_path: Path,
    url: str,
    folder: Path,
    log_vkey: str | None,
    notice_id: str,
    kind: str | None,
    statement: str | None,
    attachments: tuple[Path, ...],
    response_id: str | None,
) -> None:
    """Answer NOTICE_ID with a signed response; verify its receipt offline and save both
    in FOLDER/<notice_id>.response-<response_id>.json."""
    folder.mkdir(parents=True, exist_ok=True)
    notices = NoticeFolder(folder)
    verifier = ReceiptVerifier(url, log_verifier(context, log_vkey))
    held = notices.held_response(notice_id, response_id) if response_id else None
    client = _client(url, platform_id, key_path)
    if held is not None:
        envelope = held["response"]
        saved = notices.response_path(notice_id, str(response_id))
        click.echo(f"sending again the response saved in {saved}", err=True)
    else:
        if kind is None or statement is None:
            raise click.UsageError("a new response needs --kind and --statement")
        envelope = response_envelope(
            platform_id=platform_id,
            key=client.key,
            notice_id=notice_id,
            response_id=response_id or f"r-{uuid.uuid4().hex}",
            created_at=context.now(),
            kind=kind,
            statement=statement,
            attachments=[attachment_of(path) for path in attachments],
        )
        notices.save_response(envelope)  # before sending: a lost answer is asked again
    try:
        status, receipt = client.respond(envelope)
    except SubmitError as e:
        if e.problem:  # refused for good: these bytes will never be taken
            notices.response_path(notice_id, envelope["response_id"]).unlink(missing_ok=True)
        raise CommandError(f"the response to {notice_id} was refused: {e}") from e
    finally:
        client.close()
    try:
        index = verify_response(verifier, receipt, envelope)
    except ReceiptError as e:
        raise CommandError(
            f"the receipt for response {envelope['response_id']} does not verify: {e}. "
            "Keep the response and the receipt as evidence and report it."
        ) from e
    path = notices.save_response(envelope, receipt)
    again = " (sent before: its original receipt)" if status == 200 else ""
    click.echo(
        f"response {envelope['response_id']} to {notice_id} taken{again}: ledger index "
        f"{index}, receipt verified; saved in {path}"
    )
