"""Alerts: cases of the highest severity pushed to the regulators on duty as they open,
by e-mail through the configured SMTP relay and, if configured, a signed webhook.

The dispatcher is its own scheduler job (``alerts``, every minute), never part of
the inspector's transaction, so a relay that is down cannot hold up inspection.
Each run

1. enqueues, for every case that is ``high``, still ``open``, first seen since
   alerting started and not alerted yet, one ``alerts`` row per channel and
   recipient (unique, so a case is never queued twice for anyone), and
2. sends the rows that are due, recording every attempt: a failure is retried
   after 1, 2, 4 ... minutes (at most 30), and after ``alert_max_attempts`` the row
   is ``failed``; the portal's overview shows retries and failures.

Since when: ``alert_since`` if configured, else the dispatcher's first run,
remembered as one row of channel ``start``: what was open before alerts were
switched on is on the case queue, not in anyone's inbox. A case is queued to the
recipients configured when it is queued; adding a recipient later sends them no
history. ``alerts`` is worker state, not a projection: a rebuild keeps it.

Delivery is at least once: a row being sent is claimed (state ``sending``) so two
dispatchers never send it both, but a crash after the relay took the message and
before the row was recorded sends it again when the claim expires.
"""

from __future__ import annotations

import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from inspectors.rulebook import RULES_BY_ID
from ledger.database import read_transaction, write_transaction
from supervisor.cases.alert_message import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CaseAlert,
    alert_email,
    case_url,
    retry_delay,
    webhook_body,
    webhook_signature,
)
from supervisor.config import Settings
from supervisor.database import tables

__all__ = [
    "ALERT_SEVERITY",
    "AlertDispatcher",
    "AlertSettings",
    "AlertTrouble",
    "Dispatched",
    "alert_counts",
    "alert_trouble",
    "recent_alerts",
]

#: Only cases of this severity are pushed; the rest wait on the case queue.
ALERT_SEVERITY = "high"
EMAIL = "email"
WEBHOOK = "webhook"
_START = "start"  # the row saying since when alerts are sent
_BATCH = 200
_TIMEOUT = 10.0
#: How long a claimed row is left to its sender before another may take it.
_CLAIM = timedelta(minutes=5)
#: Failed alerts stay on the overview this long (retries: until they succeed or fail).
_FAILED_SHOWN = timedelta(days=7)


class _DeliveryError(Exception):
    """One attempt failed; the message is what ``last_error`` records."""


@dataclass(frozen=True)
class AlertSettings:
    """The alert settings, read once (the secrets from their files at each send)."""

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password_file: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    webhook_url: str = ""
    webhook_secret_file: str = ""
    since: datetime | None = None
    max_attempts: int = 10
    portal_base_url: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertSettings:
        return cls(
            smtp_host=settings.alert_smtp_host,
            smtp_port=settings.alert_smtp_port,
            smtp_starttls=settings.alert_smtp_starttls,
            smtp_username=settings.alert_smtp_username,
            smtp_password_file=settings.alert_smtp_password_file,
            sender=settings.alert_from,
            recipients=settings.alert_recipients,
            webhook_url=settings.alert_webhook_url,
            webhook_secret_file=settings.alert_webhook_secret_file,
            since=datetime.fromisoformat(settings.alert_since) if settings.alert_since else None,
            max_attempts=settings.alert_max_attempts,
            portal_base_url=settings.portal_base_url,
        )

    def targets(self) -> list[tuple[str, str]]:
        """(channel, recipient) of every alert a case gets."""
        mail = [(EMAIL, r) for r in self.recipients] if self.smtp_host else []
        return mail + ([(WEBHOOK, self.webhook_url)] if self.webhook_url else [])


@dataclass(frozen=True)
class Dispatched:
    """What one run did."""

    enqueued: int
    sent: int
    retrying: int
    failed: int
    last_error: str | None

    def summary(self) -> str:
        text = f"queued {self.enqueued}, sent {self.sent}"
        if self.retrying or self.failed:
            text += f", {self.retrying} to retry, {self.failed} given up ({self.last_error})"
        return text


@dataclass(frozen=True)
class AlertTrouble:
    """Alerts not getting through: rows retrying, rows given up (last 7 days), the latest
    error, and since when (the oldest such row's creation)."""

    retrying: int
    failed: int
    last_error: str
    since: datetime


def _read_secret(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes().strip()
    except OSError as e:
        raise _DeliveryError(f"cannot read the {what} file {path}: {e.strerror}") from e


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]


class _Relay:
    """One SMTP session for a run, opened at the first e-mail. If the relay cannot be
    reached, every e-mail of the run fails with that error (one try stands for all)."""

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self._session: smtplib.SMTP | None = None
        self._unreachable: str | None = None

    def _open(self) -> smtplib.SMTP:
        if self._unreachable is not None:
            raise _DeliveryError(self._unreachable)
        if self._session is None:
            s = self.settings
            try:
                session = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=_TIMEOUT)
                if s.smtp_starttls:
                    session.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    password = _read_secret(s.smtp_password_file, "SMTP password").decode()
                    session.login(s.smtp_username, password)
            except (OSError, smtplib.SMTPException, _DeliveryError) as e:
                self._unreachable = (
                    str(e)
                    if isinstance(e, _DeliveryError)
                    else f"relay {s.smtp_host}:{s.smtp_port}: {_error_text(e)}"
                )[:500]
                raise _DeliveryError(self._unreachable) from e
            self._session = session
        return self._session

    def send(self, alert: CaseAlert, recipient: str, now: datetime) -> None:
        session = self._open()
        message = alert_email(alert, sender=self.settings.sender, recipient=recipient, now=now)
        try:
            session.send_message(message, self.settings.sender, [recipient])
        except (OSError, smtplib.SMTPException) as e:
            self.close()  # the next e-mail starts a fresh session
            raise _DeliveryError(_error_text(e)) from e

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.quit()
            except (OSError, smtplib.SMTPException):
                session.close()


def _post_webhook(settings: AlertSettings, alert: CaseAlert, now: datetime) -> None:
    body = webhook_body(alert)
    timestamp = int(now.timestamp())
    secret = _read_secret(settings.webhook_secret_file, "webhook secret")
    request = urllib.request.Request(
        settings.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: webhook_signature(secret, timestamp, body),
            "User-Agent": "careledger-alerts",
        },
    )
    try:
        # alert_webhook_url is refused when settings load unless it is http(s).
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as answer:  # nosec B310
            answer.read(1024)
    except urllib.error.HTTPError as e:
        raise _DeliveryError(f"webhook answered HTTP {e.code}") from e
    except (OSError, ValueError) as e:
        raise _DeliveryError(f"webhook {settings.webhook_url}: {_error_text(e)}") from e


def _case_alerts(connection: Any, case_ids: Sequence[str], base_url: str) -> dict[str, CaseAlert]:
    c, p = tables.cases.c, tables.platforms.c
    rows = connection.execute(
        select(tables.cases, p.name.label("platform_name"))
        .outerjoin(tables.platforms, p.institution_code == c.institution_code)
        .where(c.case_id.in_(list(case_ids)))
    )
    alerts = {}
    for row in rows:
        rule = RULES_BY_ID.get(row.rule_id)
        alerts[row.case_id] = CaseAlert(
            case_id=row.case_id,
            rule_id=row.rule_id,
            title="" if rule is None else rule.title,
            severity=row.severity,
            # The name its platform registered under: an unfiled institution has no other.
            institution_name=row.platform_name or row.institution_code,
            institution_code=row.institution_code,
            finding_count=int(row.finding_count),
            first_seen=tables.read_time(row.first_seen),
            repeat=bool(row.repeat),
            url=case_url(base_url, row.case_id),
        )
    return alerts


class AlertDispatcher:
    """Queues and sends alerts; see the module docstring. ``clock`` is injected."""

    def __init__(
        self, engine: Engine, settings: AlertSettings, clock: Callable[[], datetime]
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock

    def run(self, *, everything: bool = False) -> Dispatched:
        """Queue new alerts, then send the due ones (``everything``: every pending one)."""
        enqueued = self.enqueue()
        return self.send(everything=everything, enqueued=enqueued)

    # -- queueing -----------------------------------------------------------------

    def _since(self, connection: Any, now: datetime) -> datetime:
        if self.settings.since is not None:
            return self.settings.since
        a = tables.alerts.c
        started = connection.execute(
            select(a.created_at).where(a.channel == _START)
        ).scalar_one_or_none()
        if started is not None:
            return tables.read_time(started)
        connection.execute(
            insert(tables.alerts).values(
                case_id="-",
                channel=_START,
                recipient="dispatcher",
                state=_START,
                attempts=0,
                last_error=None,
                created_at=tables.stored_time(now),
                next_attempt_at=tables.stored_time(now),
                sent_at=None,
            )
        )
        return now

    def enqueue(self) -> int:
        """Queue the alerts of new high cases; returns how many rows were queued."""
        targets = self.settings.targets()
        if not targets:
            return 0
        now = self.clock()
        c, a = tables.cases.c, tables.alerts.c
        try:
            with write_transaction(self.engine) as connection:
                since = self._since(connection, now)
                # Open cases only (indexed by state): one a regulator already took up
                # needs no alarm, and the scan stays the size of the open queue.
                case_ids = list(
                    connection.execute(
                        select(c.case_id)
                        .where(
                            c.state == "open",
                            c.severity == ALERT_SEVERITY,
                            c.first_seen >= tables.stored_time(since),
                            ~exists().where(a.case_id == c.case_id),
                        )
                        .order_by(c.first_seen, c.case_id)
                        .limit(_BATCH)
                    ).scalars()
                )
                stored_now = tables.stored_time(now)
                rows = [
                    {
                        "case_id": case_id,
                        "channel": channel,
                        "recipient": recipient,
                        "state": "pending",
                        "attempts": 0,
                        "last_error": None,
                        "created_at": stored_now,
                        "next_attempt_at": stored_now,
                        "sent_at": None,
                    }
                    for case_id in case_ids
                    for channel, recipient in targets
                ]
                if rows:
                    connection.execute(insert(tables.alerts), rows)
        except IntegrityError:
            return 0  # another dispatcher queued them first
        return len(rows)

    # -- sending ------------------------------------------------------------------

    def _claimable(self, now: datetime, everything: bool) -> Any:
        a = tables.alerts.c
        stored_now = tables.stored_time(now)
        pending = a.state == "pending"
        if not everything:
            pending = and_(pending, a.next_attempt_at <= stored_now)
        expired = and_(a.state == "sending", a.next_attempt_at <= stored_now)
        return or_(pending, expired)

    def _claim(self, alert_id: int, now: datetime, everything: bool) -> bool:
        a = tables.alerts.c
        with write_transaction(self.engine) as connection:
            moved = connection.execute(
                update(tables.alerts)
                .where(a.alert_id == alert_id, self._claimable(now, everything))
                .values(state="sending", next_attempt_at=tables.stored_time(now + _CLAIM))
            )
        return moved.rowcount == 1

    def _record(self, row: Any, error: str | None, now: datetime) -> str:
        attempts = int(row.attempts) + 1
        stored_now = tables.stored_time(now)
        values: dict[str, Any] = {"attempts": attempts}
        if error is None:
            values |= {"state": "sent", "sent_at": stored_now, "next_attempt_at": stored_now}
        elif attempts >= self.settings.max_attempts:
            values |= {"state": "failed", "last_error": error, "next_attempt_at": stored_now}
        else:
            later = tables.stored_time(now + retry_delay(attempts))
            values |= {"state": "pending", "last_error": error, "next_attempt_at": later}
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(tables.alerts).where(tables.alerts.c.alert_id == row.alert_id).values(values)
            )
        return str(values["state"])

    def send(self, *, everything: bool = False, enqueued: int = 0) -> Dispatched:
        """Send the due alerts (``everything``: every pending one, due or not)."""
        now = self.clock()
        a = tables.alerts.c
        with read_transaction(self.engine) as connection:
            due = list(
                connection.execute(
                    select(tables.alerts)
                    .where(a.channel != _START, self._claimable(now, everything))
                    .order_by(a.next_attempt_at, a.alert_id)
                    .limit(_BATCH)
                )
            )
            cases = _case_alerts(
                connection, sorted({r.case_id for r in due}), self.settings.portal_base_url
            )
        outcome = {"sent": 0, "pending": 0, "failed": 0}
        last_error = None
        relay = _Relay(self.settings)
        try:
            for row in due:
                if not self._claim(row.alert_id, now, everything):
                    continue  # another dispatcher has it
                error = self._deliver(relay, row, cases.get(row.case_id))
                outcome[self._record(row, error, self.clock())] += 1
                last_error = error or last_error
        finally:
            relay.close()
        return Dispatched(
            enqueued, outcome["sent"], outcome["pending"], outcome["failed"], last_error
        )

    def _deliver(self, relay: _Relay, row: Any, alert: CaseAlert | None) -> str | None:
        """Send one row; None when it went through, else why not."""
        if alert is None:
            return f"case {row.case_id} is not in the cases table"
        try:
            if row.channel == EMAIL:
                if not self.settings.smtp_host:
                    raise _DeliveryError("no SMTP relay configured (alert_smtp_host)")
                relay.send(alert, row.recipient, self.clock())
            elif row.channel == WEBHOOK:
                if row.recipient != self.settings.webhook_url:
                    raise _DeliveryError("the webhook URL is no longer configured")
                _post_webhook(self.settings, alert, self.clock())
            else:
                raise _DeliveryError(f"unknown channel {row.channel!r}")
        except _DeliveryError as e:
            return str(e)[:500]
        except Exception as e:  # one bad alert is recorded as failing, never stops the job
            return f"{type(e).__name__}: {e}"[:500]
        return None

    def retry_failed(self) -> int:
        """Put the alerts given up as failed back in the queue; returns how many."""
        a = tables.alerts.c
        now = tables.stored_time(self.clock())
        with write_transaction(self.engine) as connection:
            moved = connection.execute(
                update(tables.alerts)
                .where(a.state == "failed")
                .values(state="pending", attempts=0, next_attempt_at=now)
            )
        return int(moved.rowcount)


# -- reading the state -------------------------------------------------------------


def alert_counts(engine: Engine) -> dict[str, int]:
    """Alerts by state (``pending``, ``sending``, ``sent``, ``failed``)."""
    a = tables.alerts.c
    with read_transaction(engine) as connection:
        return {
            str(state): int(count)
            for state, count in connection.execute(
                select(a.state, func.count()).where(a.channel != _START).group_by(a.state)
            )
        }


def recent_alerts(engine: Engine, limit: int = 20) -> list[Any]:
    """The latest alert rows, newest first."""
    a = tables.alerts.c
    with read_transaction(engine) as connection:
        return list(
            connection.execute(
                select(tables.alerts)
                .where(a.channel != _START)
                .order_by(a.alert_id.desc())
                .limit(limit)
            )
        )


def alert_trouble(connection: Any, now: datetime) -> AlertTrouble | None:
    """Alerts not getting through, or None when all went out (what the overview shows)."""
    a = tables.alerts.c
    troubled = or_(
        and_(a.state.in_(("pending", "sending")), a.attempts > 0),
        and_(a.state == "failed", a.created_at >= tables.stored_time(now - _FAILED_SHOWN)),
    )
    counts = dict(
        connection.execute(
            select(a.state, func.count()).where(a.channel != _START, troubled).group_by(a.state)
        ).all()
    )
    if not counts:
        return None
    latest = connection.execute(
        select(a.last_error, a.created_at)
        .where(a.channel != _START, troubled)
        .order_by(a.next_attempt_at.desc(), a.alert_id.desc())
        .limit(1)
    ).one()
    since = connection.execute(
        select(func.min(a.created_at)).where(a.channel != _START, troubled)
    ).scalar_one()
    return AlertTrouble(
        retrying=int(counts.get("pending", 0)) + int(counts.get("sending", 0)),
        failed=int(counts.get("failed", 0)),
        last_error=str(latest.last_error or ""),
        since=tables.read_time(since),
    )
