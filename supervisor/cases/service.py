"""The case service: list and read cases, take steps on them, issue notices, take the
platforms' responses, and escalate what is overdue. The portal, the API, the CLI and
the scheduler all go through it, so every path records the same ledger entries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import nacl.exceptions
import nacl.signing
import orjson
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from inspectors.grouping import CHINA
from ledger import schema as ledger_schema
from ledger.canonical import canonical_json
from ledger.database import read_transaction
from ledger.store import AppendResult, EntryDraft, LedgerStore
from supervisor.cases.events import CASE_EVENT_ENTRY, apply_case_event, event_statement
from supervisor.cases.lifecycle import CASE_ROLES, CaseError, next_case_state
from supervisor.cases.notice_document import notice_document, notice_id_of
from supervisor.cases.responses import (
    RESPONSE_ENTRY,
    ResponseEnvelope,
    envelope_sha256,
    parse_response,
    require_printable,
    response_receipt,
    response_statement,
)
from supervisor.custody.payload_keys import SALT_SIZE, PayloadKeys
from supervisor.database import tables
from supervisor.ground.records import leaf_commitment, open_committed, record_commitment
from supervisor.ground.sealed_entries import open_sealed, sealed_entry
from supervisor.inspection.case_grouping import TERMINAL_CASE_STATES
from supervisor.intake.envelope import RejectionError
from supervisor.intake.platforms import authorised_institutions
from supervisor.intake.record_schema import RecordProblem
from supervisor.intake.submission import SubmissionService, require_unrevoked

__all__ = [
    "SCHEDULER_ACTOR",
    "CaseFilter",
    "CaseService",
    "Responded",
    "apply_response",
    "open_response",
]

#: Who escalates a case whose deadline passed (the scheduler acts as nobody's proxy).
SCHEDULER_ACTOR = "careledger-scheduler"
_CASE_SEAL = "case"
_RESPONSE_SEAL = "response"
_SCHEDULER_ROLES = frozenset({"supervisor"})


@dataclass(frozen=True)
class CaseFilter:
    state: str | None = None
    rule: str | None = None
    institution: str | None = None
    severity: str | None = None


@dataclass(frozen=True)
class _Step:
    """One step someone takes on a case."""

    case_id: str
    action: str
    username: str
    roles: frozenset[str]
    reason: str = ""
    deadline: date | None = None
    response_id: str | None = None
    #: The scheduler escalates only a case whose deadline is still the overdue one.
    overdue_deadline: str | None = None


@dataclass(frozen=True)
class Responded:
    """A response taken (``created``) or a resend answered with its original receipt."""

    created: bool
    receipt: dict[str, Any]


def _today(moment: datetime) -> date:
    return moment.astimezone(CHINA).date()


def apply_response(
    connection: Connection,
    index: int,
    statement: dict[str, Any],
    envelope: dict[str, Any],
    *,
    tree_size: int,
    at: datetime,
) -> None:
    """Project one response entry: its row, and its case now awaiting review."""
    stored_at = tables.stored_time(at)
    connection.execute(
        insert(tables.notice_responses).values(
            response_id=envelope["response_id"],
            notice_id=envelope["notice_id"],
            case_id=statement["case_id"],
            platform_id=envelope["platform_id"],
            key_id=envelope["key_id"],
            entry_index=index,
            tree_size=tree_size,
            kind=envelope["kind"],
            statement=envelope["statement"],
            attachments=orjson.dumps(envelope["attachments"]).decode(),
            created_at=envelope["created_at"],
            received_at=stored_at,
            envelope_sha256=envelope_sha256(envelope),
            review="pending",
            review_reason=None,
        )
    )
    connection.execute(
        update(tables.cases)
        .where(tables.cases.c.case_id == statement["case_id"])
        .values(state="responded", updated_at=stored_at)
    )


@dataclass(frozen=True)
class _Awaiting:
    state: str
    notice_id: str | None
    pending: bool  # an answer awaits review


def _awaiting(connection: Connection, case_id: str) -> _Awaiting:
    """What decides whether a case's notice may be answered now."""
    case = connection.execute(
        select(tables.cases.c.state, tables.cases.c.notice_id).where(
            tables.cases.c.case_id == case_id
        )
    ).one()
    r = tables.notice_responses.c
    pending = connection.execute(
        select(r.response_id).where(r.case_id == case_id, r.review == "pending").limit(1)
    ).first()
    return _Awaiting(case.state, case.notice_id, pending is not None)


def _require_review_state(
    connection: Connection, case_id: str, action: str, response_id: str | None
) -> None:
    """Under the head lock: an answer is reviewed once, and a new notice is not issued over
    an answer that still awaits review (its platform could answer neither)."""
    r = tables.notice_responses.c
    if action in {"accept", "reject"}:
        pending = connection.execute(
            select(r.response_id).where(
                r.response_id == response_id, r.case_id == case_id, r.review == "pending"
            )
        ).first()
        if pending is None:
            raise CaseError(f"response {response_id} was reviewed meanwhile; reload it", 409)
    elif action == "order_rectification":
        waiting = connection.execute(
            select(r.response_id).where(r.case_id == case_id, r.review == "pending").limit(1)
        ).first()
        if waiting is not None:
            raise CaseError(
                f"response {waiting.response_id} awaits review: accept or reject it first", 409
            )


def open_response(keys: PayloadKeys, leaf: bytes, payload: bytes | None) -> dict[str, Any]:
    """The sealed envelope of a response entry, checked against its leaf."""
    return open_sealed(keys, leaf, payload)


class CaseService:
    """See the module docstring. ``submissions`` authenticates platforms' keys."""

    def __init__(
        self,
        store: LedgerStore,
        keys: PayloadKeys,
        submissions: SubmissionService,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.keys = keys
        self.submissions = submissions
        self.clock = clock

    # -- reading -------------------------------------------------------------------

    def list_cases(self, where: CaseFilter = CaseFilter(), limit: int | None = None) -> list[Any]:
        """Cases, gravest and oldest first."""
        c = tables.cases.c
        query = select(tables.cases)
        if where.state:
            query = query.where(c.state == where.state)
        if where.rule:
            query = query.where(c.rule_id == where.rule)
        if where.institution:
            query = query.where(c.institution_code == where.institution)
        if where.severity:
            query = query.where(c.severity == where.severity)
        query = query.order_by(c.first_seen, c.case_id)
        if limit is not None:
            query = query.limit(limit)
        with read_transaction(self.store.engine) as connection:
            return list(connection.execute(query))

    def case(self, case_id: str) -> Any | None:
        with read_transaction(self.store.engine) as connection:
            return connection.execute(
                select(tables.cases).where(tables.cases.c.case_id == case_id)
            ).first()

    def events(self, case_id: str) -> list[Any]:
        e = tables.case_events.c
        with read_transaction(self.store.engine) as connection:
            return list(
                connection.execute(
                    select(tables.case_events).where(e.case_id == case_id).order_by(e.entry_index)
                )
            )

    def responses(self, case_id: str) -> list[Any]:
        r = tables.notice_responses.c
        with read_transaction(self.store.engine) as connection:
            return list(
                connection.execute(
                    select(tables.notice_responses)
                    .where(r.case_id == case_id)
                    .order_by(r.entry_index)
                )
            )

    def notices_of_case(self, case_id: str) -> list[dict[str, Any]]:
        n = tables.notices.c
        with read_transaction(self.store.engine) as connection:
            return [
                orjson.loads(text)
                for text in connection.execute(
                    select(n.document).where(n.case_id == case_id).order_by(n.entry_index)
                ).scalars()
            ]

    def finding_rows(self, case_id: str, limit: int | None = None) -> list[Any]:
        f = tables.findings.c
        query = select(tables.findings).where(f.case_id == case_id).order_by(f.entry_index)
        if limit is not None:
            query = query.limit(limit)
        with read_transaction(self.store.engine) as connection:
            return list(connection.execute(query))

    # -- steps ---------------------------------------------------------------------

    def _require_role(self, roles: frozenset[str]) -> None:
        if not roles & CASE_ROLES:
            raise CaseError("auditors read cases; they do not act on them", 403)

    def act(
        self,
        case_id: str,
        action: str,
        *,
        username: str,
        roles: frozenset[str],
        reason: str = "",
        deadline: date | None = None,
    ) -> str:
        """Acknowledge, escalate or dismiss a case (notices and reviews have their own
        methods); returns the new state. Raises ``CaseError``."""
        if action in {"order_rectification", "accept", "reject", "respond"}:
            raise CaseError(f"'{action}' is not taken this way")
        self._require_role(roles)
        return self._state_after(_Step(case_id, action, username, roles, reason, deadline))

    def take_step(
        self,
        case_id: str,
        action: str,
        *,
        username: str,
        roles: frozenset[str],
        reason: str = "",
        deadline: date | None = None,
    ) -> str:
        """Any step a regulator takes from a case's page or the queue: ordering
        rectification (``reason`` is what must be done) or ``act``'s; the new state."""
        if action != "order_rectification":
            return self.act(case_id, action, username=username, roles=roles, reason=reason)
        if deadline is None:
            raise CaseError("'order_rectification' needs a deadline")
        self.order_rectification(
            case_id, deadline=deadline, text=reason, username=username, roles=roles
        )
        return "rectification_ordered"

    def act_on_many(
        self,
        case_ids: Sequence[str],
        action: str,
        *,
        username: str,
        roles: frozenset[str],
        reason: str = "",
        deadline: date | None = None,
    ) -> dict[str, str]:
        """One step on several cases (bulk): each case's new state, or why not."""
        outcome: dict[str, str] = {}
        for case_id in dict.fromkeys(case_ids):
            try:
                outcome[case_id] = self.take_step(
                    case_id,
                    action,
                    username=username,
                    roles=roles,
                    reason=reason,
                    deadline=deadline,
                )
            except CaseError as e:
                outcome[case_id] = f"error: {e}"
        return outcome

    def order_rectification(
        self,
        case_id: str,
        *,
        deadline: date,
        text: str,
        username: str,
        roles: frozenset[str],
    ) -> str:
        """Order rectification and issue the notice; returns the notice id."""
        self._require_role(roles)
        details = self._take(_Step(case_id, "order_rectification", username, roles, text, deadline))
        return str(details["notice"]["notice_id"])

    def review(
        self,
        response_id: str,
        *,
        accept: bool,
        username: str,
        roles: frozenset[str],
        reason: str = "",
        deadline: date | None = None,
    ) -> str:
        """Accept a response (the case closes) or reject it with a reason and a new
        deadline; returns the case's new state."""
        self._require_role(roles)
        with read_transaction(self.store.engine) as connection:
            response = connection.execute(
                select(tables.notice_responses).where(
                    tables.notice_responses.c.response_id == response_id
                )
            ).first()
        if response is None:
            raise CaseError(f"no response {response_id}", 404)
        if response.review != "pending":
            raise CaseError(f"response {response_id} was {response.review} already", 409)
        action = "accept" if accept else "reject"
        deadline = None if accept else deadline
        return self._state_after(
            _Step(response.case_id, action, username, roles, reason, deadline, response_id)
        )

    def escalate_overdue(self, *, today: date | None = None) -> list[str]:
        """Escalate every case whose rectification deadline passed without an accepted
        response (as the scheduler does daily); returns the escalated case ids."""
        now = self.clock()
        day = today or _today(now)
        c = tables.cases.c
        with read_transaction(self.store.engine) as connection:
            overdue = list(
                connection.execute(
                    select(c.case_id, c.deadline).where(
                        c.state.in_(("rectification_ordered", "responded")),
                        c.deadline.is_not(None),
                        c.deadline < day.isoformat(),
                    )
                )
            )
        escalated = []
        for row in overdue:
            reason = f"整改期限 {row.deadline} 已过，未有被采纳的整改答复 (deadline passed)"
            try:
                self._take(
                    _Step(
                        row.case_id,
                        "escalate",
                        SCHEDULER_ACTOR,
                        _SCHEDULER_ROLES,
                        reason,
                        overdue_deadline=row.deadline,
                    )
                )
            except CaseError:
                continue  # moved meanwhile by a person: theirs is the later word
            escalated.append(row.case_id)
        return escalated

    def _state_after(self, step: _Step) -> str:
        return str(self._take(step)["state_after"])

    def _notice(
        self, connection: Connection, case: Any, step: _Step, now: datetime
    ) -> dict[str, Any]:
        assert step.deadline is not None
        count = connection.execute(
            select(func.count())
            .select_from(tables.notices)
            .where(tables.notices.c.case_id == case.case_id)
        ).scalar_one()
        platform = connection.execute(
            select(tables.platforms.c.platform_id, tables.platforms.c.name).where(
                tables.platforms.c.institution_code == case.institution_code
            )
        ).first()
        findings = list(
            connection.execute(
                select(
                    tables.findings, ledger_schema.entries.c.leaf, ledger_schema.entries.c.payload
                )
                .join(
                    ledger_schema.entries,
                    ledger_schema.entries.c.idx == tables.findings.c.entry_index,
                )
                .where(tables.findings.c.case_id == case.case_id)
                .order_by(tables.findings.c.entry_index)
            )
        )
        listed = []
        for row in findings:
            try:
                evidence = dict(open_sealed(self.keys, row.leaf, row.payload).get("evidence", {}))
            except Exception:  # shredded or unreadable: the finding is still listed
                evidence = {}
            listed.append(
                {
                    "finding_id": row.finding_id,
                    "rule": row.rule_id,
                    "record_index": row.record_index,
                    "record_id": row.record_id,
                    "found_at": tables.read_time(row.found_at).isoformat(),
                    "evidence": evidence,
                }
            )
        # The name its platform registered under: an unfiled institution has no other.
        name = platform.name if platform is not None else case.institution_code
        return notice_document(
            case._mapping,
            listed,
            notice_id=notice_id_of(case.case_id, count + 1),
            issued_at=now,
            deadline=step.deadline.isoformat(),
            required_action=step.reason.strip(),
            issued_by=step.username,
            institution_name=name,
            platform_id=None if platform is None else platform.platform_id,
        )

    def _take(self, step: _Step) -> dict[str, Any]:
        """Record one step (a ``case.event`` entry, projected in the same transaction);
        returns its sealed details. Raises ``CaseError``."""
        case_id, action, deadline = step.case_id, step.action, step.deadline
        now = self.clock()
        with read_transaction(self.store.engine) as connection:
            case = connection.execute(
                select(tables.cases).where(tables.cases.c.case_id == case_id)
            ).first()
            if case is None:
                raise CaseError(f"no case {case_id}", 404)
            after = next_case_state(
                case.state, action, reason=step.reason, deadline=deadline, today=_today(now)
            )
            _require_review_state(connection, case_id, action, step.response_id)
            notice = (
                self._notice(connection, case, step, now)
                if action == "order_rectification"
                else None
            )
        details: dict[str, Any] = {
            "case_id": case_id,
            "case_key": case.case_key,
            "action": action,
            "state_after": after,
            "username": step.username,
            "roles": sorted(step.roles),
            "reason": step.reason.strip(),
            "deadline": None if deadline is None else deadline.isoformat(),
            "notice": notice,
            "response_id": step.response_id,
        }
        draft = sealed_entry(
            self.keys,
            CASE_EVENT_ENTRY,
            _CASE_SEAL,
            now,
            public=event_statement(details),
            details=details,
        )
        state = case.state

        def project(connection: Connection, result: AppendResult) -> None:
            # Compare-and-swap on the state (and, for the scheduler, the deadline it found
            # passed): two people acting at once cannot both win.
            c = tables.cases.c
            same = [c.case_id == case_id, c.state == state]
            if step.overdue_deadline is not None:
                same.append(c.deadline == step.overdue_deadline)
            moved = connection.execute(update(tables.cases).where(*same).values(state=after))
            if moved.rowcount != 1:
                raise CaseError("the case changed meanwhile; reload it", 409)
            _require_review_state(connection, case_id, action, step.response_id)
            apply_case_event(connection, result.first_index, details, now)

        self.store.append([draft], now=now, within=project)
        return details

    # -- platforms: notices and responses ---------------------------------------------

    @staticmethod
    def _institutions_of(connection: Connection, platform_id: str) -> frozenset[str]:
        """The institutions a platform speaks for: its own, and those it is authorised for
        (a chain for its stores), so notices reach whoever submits the records."""
        return authorised_institutions(connection, platform_id)

    def notices_for(
        self, platform_id: str, *, after: int = -1, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The notices to the platform's institutions issued after the cursor (a notice's
        ledger index), oldest first; and the cursor to ask from next (None: no more)."""
        n = tables.notices.c
        with read_transaction(self.store.engine) as connection:
            institutions = self._institutions_of(connection, platform_id)
            if not institutions:
                return [], None
            rows = list(
                connection.execute(
                    select(n.notice_id, n.entry_index)
                    .where(n.institution_code.in_(sorted(institutions)), n.entry_index > after)
                    .order_by(n.entry_index)
                    .limit(limit + 1)
                )
            )
            more = len(rows) > limit
            rows = rows[:limit]
            listed = [self._notice_view(connection, row.notice_id, summary=True) for row in rows]
        cursor = rows[-1].entry_index if rows else None
        return [v for v in listed if v is not None], cursor if more else None

    def notice_for(self, platform_id: str, notice_id: str) -> dict[str, Any] | None:
        """One notice with its findings and evidence, if it is to this platform's
        institution (anyone else's reads as no such notice)."""
        with read_transaction(self.store.engine) as connection:
            institutions = self._institutions_of(connection, platform_id)
            row = connection.execute(
                select(tables.notices.c.institution_code).where(
                    tables.notices.c.notice_id == notice_id
                )
            ).first()
            if row is None or row.institution_code not in institutions:
                return None
            return self._notice_view(connection, notice_id, summary=False)

    def _notice_view(
        self, connection: Connection, notice_id: str, *, summary: bool
    ) -> dict[str, Any] | None:
        n, c, r = tables.notices.c, tables.cases.c, tables.notice_responses.c
        row = connection.execute(
            select(n.document, n.entry_index, c.state, c.deadline, c.notice_id.label("current"))
            .join(tables.cases, c.case_id == n.case_id)
            .where(n.notice_id == notice_id)
        ).first()
        if row is None:
            return None
        document = orjson.loads(row.document)
        responses = [
            {
                "response_id": x.response_id,
                "kind": x.kind,
                "created_at": x.created_at,
                "received_at": tables.read_time(x.received_at).isoformat(),
                "review": x.review,
                "review_reason": x.review_reason,
            }
            for x in connection.execute(
                select(tables.notice_responses)
                .where(r.notice_id == notice_id)
                .order_by(r.entry_index)
            )
        ]
        awaiting = (
            row.current == notice_id
            and row.state in {"rectification_ordered", "escalated"}
            and all(x["review"] != "pending" for x in responses)
        )
        view = {
            "notice_id": notice_id,
            "cursor": row.entry_index,
            "case_id": document["case_id"],
            "case_state": row.state,
            "deadline": row.deadline if row.current == notice_id else document["deadline"],
            "awaiting_response": awaiting,
            "responses": responses,
        }
        if summary:
            keep = ("institution_code", "rule", "title", "severity", "issued_at", "finding_count")
            view |= {k: document[k] for k in keep}
        else:
            view["notice"] = document
        return view

    def respond(self, document: Any, *, notice_id: str | None = None) -> Responded:
        """Take a platform's signed response; idempotent by ``response_id``. Raises
        ``RejectionError`` (the problem to answer with). ``notice_id``: the notice it was
        sent to (the API's path), which must be the one it answers."""
        envelope = parse_response(document)
        key = self.submissions.platform_key(envelope["platform_id"], envelope["key_id"])
        signed = canonical_json(envelope.unsigned)
        try:
            nacl.signing.VerifyKey(key.public_key).verify(signed, envelope.signature)
        except nacl.exceptions.BadSignatureError as e:
            raise RejectionError(
                403,
                "bad-signature",
                "The response signature does not verify",
                f"signature is not an Ed25519 signature by key {key.key_id} over the RFC 8785 "
                "canonical JSON of the response without its signature field",
            ) from e
        require_printable(envelope)
        if notice_id is not None and envelope["notice_id"] != notice_id:
            # After the signature: who is not a platform learns nothing from the order.
            raise RejectionError(
                422,
                "invalid-response",
                "The response is invalid",
                f"notice_id: the response answers {envelope['notice_id']}, "
                f"but was sent to notice {notice_id}",
                [RecordProblem("/notice_id", "must be the notice the response is sent to")],
            )
        now = self.clock()
        with read_transaction(self.store.engine) as connection:
            previous = connection.execute(
                select(tables.notice_responses).where(
                    tables.notice_responses.c.response_id == envelope["response_id"]
                )
            ).first()
            if previous is not None:
                return self._resend(previous, envelope)
            self.submissions.check_created_at(envelope["created_at"], now)
            institutions = self._institutions_of(connection, envelope["platform_id"])
            notice = connection.execute(
                select(tables.notices.c.case_id, tables.notices.c.institution_code).where(
                    tables.notices.c.notice_id == envelope["notice_id"]
                )
            ).first()
            if notice is None or notice.institution_code not in institutions:
                raise RejectionError(
                    404,
                    "unknown-notice",
                    "No such notice",
                    f"no notice {envelope['notice_id']} to {envelope['platform_id']}",
                )
            case = _awaiting(connection, notice.case_id)
        self._require_awaiting(case, envelope)
        salt = os.urandom(SALT_SIZE)
        body = canonical_json(envelope.document)
        statement = response_statement(envelope, notice.case_id, record_commitment(salt, body))
        draft = EntryDraft(
            RESPONSE_ENTRY, statement, self.keys.seal(_RESPONSE_SEAL, now, salt + body)
        )

        def project(connection: Connection, result: AppendResult) -> None:
            require_unrevoked(connection, envelope["platform_id"], envelope["key_id"], "response")
            self._require_awaiting(_awaiting(connection, notice.case_id), envelope)
            apply_response(
                connection,
                result.first_index,
                statement,
                envelope.document,
                tree_size=result.size,
                at=now,
            )

        try:
            result = self.store.append([draft], now=now, within=project)
        except IntegrityError:
            with read_transaction(self.store.engine) as connection:
                previous = connection.execute(
                    select(tables.notice_responses).where(
                        tables.notice_responses.c.response_id == envelope["response_id"]
                    )
                ).first()
            if previous is None:
                raise
            return self._resend(previous, envelope)
        return Responded(True, self._receipt(result.first_index, result.size, envelope.document))

    @staticmethod
    def _require_awaiting(case: _Awaiting, envelope: ResponseEnvelope) -> None:
        if (
            case.notice_id != envelope["notice_id"]
            or case.state not in {"rectification_ordered", "escalated"}
            or case.pending
        ):
            why = (
                "it is closed"
                if case.state in TERMINAL_CASE_STATES
                else "an answer awaits the regulator's review"
                if case.state == "responded" or case.pending
                else "a later notice replaced it"
                if case.notice_id != envelope["notice_id"]
                else f"its case is {case.state}"
            )
            raise RejectionError(
                409,
                "notice-not-awaiting",
                "The notice awaits no response",
                f"notice {envelope['notice_id']} awaits no response: {why}",
            )

    def _resend(self, previous: Any, envelope: ResponseEnvelope) -> Responded:
        if (
            previous.envelope_sha256 != envelope.sha256
            or previous.platform_id != envelope["platform_id"]
        ):
            raise RejectionError(
                409,
                "response-conflict",
                "response_id reused with different content",
                f"response {envelope['response_id']} was received already with other content; "
                "a new response needs a new response_id",
            )
        return Responded(
            False, self._receipt(previous.entry_index, previous.tree_size, envelope.document)
        )

    def response_receipt(self, platform_id: str, response_id: str) -> dict[str, Any] | None:
        """The receipt of a response the platform sent, as first issued."""
        with read_transaction(self.store.engine) as connection:
            row = connection.execute(
                select(
                    tables.notice_responses.c.entry_index, tables.notice_responses.c.tree_size
                ).where(
                    tables.notice_responses.c.response_id == response_id,
                    tables.notice_responses.c.platform_id == platform_id,
                )
            ).first()
            if row is None:
                return None
            stored = connection.execute(
                select(ledger_schema.entries.c.leaf, ledger_schema.entries.c.payload).where(
                    ledger_schema.entries.c.idx == row.entry_index
                )
            ).one()
        envelope = open_sealed(self.keys, stored.leaf, stored.payload)
        return self._receipt(row.entry_index, row.tree_size, envelope)

    def _receipt(self, index: int, tree_size: int, envelope: dict[str, Any]) -> dict[str, Any]:
        with read_transaction(self.store.engine) as connection:
            stored = connection.execute(
                select(ledger_schema.entries.c.leaf, ledger_schema.entries.c.payload).where(
                    ledger_schema.entries.c.idx == index
                )
            ).one()
        checkpoint = self.store.checkpoint_at(tree_size)
        if checkpoint is None:
            raise RuntimeError(f"no checkpoint of size {tree_size} for entry {index}")
        stated_index, commitment = leaf_commitment(stored.leaf)
        salt, _ = open_committed(self.keys, commitment, stored.payload, stated_index)
        proof = self.store.inclusion_proofs([index], tree_size)[0]
        return response_receipt(
            envelope=envelope,
            index=index,
            leaf=stored.leaf,
            salt=salt,
            inclusion_proof=list(proof.hashes),
            tree_size=tree_size,
            checkpoint_note=checkpoint.note,
        )
