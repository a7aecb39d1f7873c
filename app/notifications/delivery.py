"""Delivering the outbox: claim due rows, send each, record the outcome.

The outbox row, not the broker, is the record of what is owed. A worker
*claims* rows in a short transaction that pushes their ``next_attempt_dt``
forward by a lease and counts the attempt (PostgreSQL: ``FOR UPDATE SKIP
LOCKED``, so two workers never take the same row; SQLite has one writer at a
time). It then sends them one by one and commits after each, so that once a
message is handed to the mail server only that message can be lost from the
record. A worker killed mid-batch leaves its unsent rows claimed; they fall
due again when the lease runs out and the next sweep sends them. The one
message in flight at the kill may arrive twice: SMTP cannot tell us whether it
arrived, and for safeguarding twice beats never. Its Message-ID, derived from
the outbox key, makes the repeat recognisable.

Before each send the worker renews its lease on that row (in the transaction
that records the previous send), so a slow mail server cannot make a batch
outlive its lease and let a second worker send the same rows.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.auth.models import StaffUser
from app.db import utcnow
from app.notifications.content import (
    REPORTER_KINDS,
    aware_moment,
    render_email,
    reporter_content,
    staff_content,
)
from app.notifications.mail import Mailer, MailError, build_message, message_id_for
from app.notifications.models import Notification, NotificationStatus
from app.notifications.recipients import ADMIN_CONTACT
from app.reporting.models import Report
from app.schools.models import School

log = logging.getLogger(__name__)

#: The longest wait between two tries.
MAX_BACKOFF = timedelta(hours=1)
#: Key in ``Notification.data``: when the tries that are failing now began (ISO, UTC).
FAILING_SINCE = "failing_since"


@dataclass(frozen=True)
class DeliverySettings:
    #: How long temporary errors are retried, from the first failed try, before a row fails.
    #: A time, not a count: a count runs out within the first hour of an outage.
    retry_for: timedelta = timedelta(hours=24)
    lease: timedelta = timedelta(minutes=2)
    retry_base: timedelta = timedelta(seconds=30)
    batch_size: int = 20

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DeliverySettings":
        return cls(
            retry_for=timedelta(hours=max(0, int(config.get("NOTIFICATION_RETRY_HOURS", 24)))),
            lease=timedelta(seconds=max(1, int(config.get("NOTIFICATION_LEASE_SECONDS", 120)))),
            retry_base=timedelta(seconds=max(1, int(config.get("NOTIFICATION_RETRY_BASE_SECONDS",
                                                               30)))),
            batch_size=max(1, int(config.get("NOTIFICATION_BATCH_SIZE", 20))),
        )


class Outcome:
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class DeliveryStats:
    counts: Counter = field(default_factory=Counter)

    def add(self, outcome: str) -> None:
        self.counts[outcome] += 1

    @property
    def sent(self) -> int:
        return self.counts[Outcome.SENT]

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)


class Undeliverable(Exception):
    """The notification can never be sent (no recipient any more); no retry helps."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- claiming --------------------------------------------------------------------------
def _for_update(session: Session, query):  # type: ignore[no-untyped-def]
    if session.get_bind().dialect.name == "postgresql":
        # Rows another worker is claiming right now are skipped, not waited for.
        return query.with_for_update(skip_locked=True)
    return query  # SQLite: BEGIN IMMEDIATE makes this transaction the only writer


def claim_due(session: Session, *, now: datetime, lease: timedelta,
              limit: int) -> dict[int, datetime]:
    """Claim up to ``limit`` due rows for this worker; the caller commits at once.

    Returns each claimed id with its lease token (the ``next_attempt_dt`` written).
    """
    ids = list(session.scalars(_for_update(session, (
        select(Notification.id)
        .where(Notification.status == NotificationStatus.PENDING,
               Notification.next_attempt_dt <= now)
        .order_by(Notification.next_attempt_dt, Notification.id)
        .limit(limit)))))
    if not ids:
        return {}
    until = now + lease
    session.execute(
        update(Notification).where(Notification.id.in_(ids))
        .values(next_attempt_dt=until, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False))
    return dict.fromkeys(ids, until)


def claim_one(session: Session, notification_id: int, *, now: datetime,
              lease: timedelta) -> datetime | None:
    """Claim one row if it is pending and due; return its lease token, else ``None``.

    A row that is not due (a reminder for later, or one another worker holds)
    is left alone: whoever holds it, or the sweep, will send it.
    """
    until = now + lease
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id,
               Notification.status == NotificationStatus.PENDING,
               Notification.next_attempt_dt <= now)
        .values(next_attempt_dt=until, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False))
    return until if result.rowcount == 1 else None


def renew_lease(session: Session, notification_id: int, *, token: datetime,
                now: datetime, lease: timedelta) -> datetime | None:
    """Extend this worker's claim on a row; ``None`` when the row is no longer ours."""
    until = now + lease
    if until <= token:
        until = token + timedelta(microseconds=1)
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id,
               Notification.status == NotificationStatus.PENDING,
               Notification.next_attempt_dt == token)
        .values(next_attempt_dt=until)
        .execution_options(synchronize_session=False))
    return until if result.rowcount == 1 else None


def release(session: Session, claimed: Mapping[int, datetime], *, now: datetime) -> None:
    """Give back claimed rows that were not tried, so they are due again at once."""
    for notification_id, token in claimed.items():
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id,
                   Notification.status == NotificationStatus.PENDING,
                   Notification.next_attempt_dt == token)
            .values(next_attempt_dt=now, attempts=Notification.attempts - 1)
            .execution_options(synchronize_session=False))


# -- sending ---------------------------------------------------------------------------
def backoff(attempts: int, base: timedelta, *, rng: random.Random | None = None) -> timedelta:
    """Return the wait before the next try: exponential in ``attempts``, with jitter.

    Half the delay is fixed and half random ("equal jitter"), so retries from
    many rows after an outage spread out but never come back sooner than half
    the schedule.
    """
    delay = min(MAX_BACKOFF, base * (2 ** max(0, attempts - 1)))
    return delay / 2 + delay / 2 * (rng or random).random()


@dataclass(frozen=True)
class _Row:
    """A claimed notification with what addressing it needs, read in one query."""

    note: Notification
    school_slug: str | None
    school_timezone: str | None
    school_admin_contact: str | None
    staff_email: str | None
    staff_is_enabled: bool | None


def _load(session: Session, notification_id: int) -> _Row | None:
    found = session.execute(
        select(Notification, School.slug, School.timezone, School.admin_contact_email,
               StaffUser.email, StaffUser.is_enabled)
        .outerjoin(School, School.id == Notification.school_id)
        .outerjoin(StaffUser, StaffUser.id == Notification.recipient_staff_id)
        .where(Notification.id == notification_id)
        .execution_options(populate_existing=True)
    ).first()
    return None if found is None else _Row(*found)


def _recipient(session: Session, row: _Row) -> str:
    note = row.note
    if note.recipient_staff_id is not None:
        if row.staff_email is None:
            raise Undeliverable("staff account deleted")
        if not row.staff_is_enabled:
            raise Undeliverable("staff account disabled")
        return row.staff_email
    if note.recipient_report_id is not None:
        # Decrypted here, in the worker, and nowhere else.
        email = session.execute(
            select(Report.reply_email).where(Report.id == note.recipient_report_id)
        ).scalar_one_or_none()
        if not email:
            raise Undeliverable("reply address deleted")
        return email
    if (note.data or {}).get("to") == ADMIN_CONTACT:
        # Read now, like a reply address: a contact changed since the row was written
        # gets the mail, one removed gets none.
        if not row.school_admin_contact:
            raise Undeliverable("admin contact address removed")
        return row.school_admin_contact
    raise Undeliverable("no recipient")


def _check_session_still_on(session: Session, note: Notification,
                            now: datetime) -> tuple[dict, int | None]:
    """Return ``data`` and the case to link to, or refuse a stale reminder.

    A reminder is for the start it was planned for: once the session has moved,
    its time (24 hours or 1 hour before the old start) is wrong, and the
    reminders planned for the new start are the ones to send. A staff reminder
    links to the case the session is on now (a merge moves sessions).
    """
    data = dict(note.data or {})
    session_id = data.get("session_id")
    if not note.kind.startswith("session_reminder") or session_id is None:
        return data, note.case_id
    from app.cases.models import Case
    from app.scheduling.models import FollowUpSession, SessionStatus

    # Read as it is now, not as this session's identity map last saw it.
    follow_up = session.execute(
        select(FollowUpSession.status, FollowUpSession.start_dt, FollowUpSession.case_id,
               Case.reference)
        .join(Case, Case.id == FollowUpSession.case_id)
        .where(FollowUpSession.id == int(session_id))).first()
    if follow_up is None or follow_up.status is not SessionStatus.SCHEDULED:
        raise Undeliverable("session no longer scheduled")
    if aware_moment(data.get("start")) != follow_up.start_dt:
        raise Undeliverable("session moved since the reminder was planned")
    if follow_up.start_dt <= now:
        raise Undeliverable("session already started")
    if _superseded(data.get("lead"), follow_up.start_dt, now):
        # Still failing when the next reminder is due (a mail outage): send that one only.
        raise Undeliverable("a later reminder replaces it")
    if note.kind not in REPORTER_KINDS:  # a reporter's reminder names no case
        data["reference"] = follow_up.reference
    return data, follow_up.case_id


def _superseded(lead: object, start: datetime, now: datetime) -> bool:
    """Whether a shorter reminder lead than ``lead`` has already come round."""
    from app.scheduling.services import REMINDER_LEADS

    before = next((b for name, b in REMINDER_LEADS if name == lead), None)
    return before is not None and any(
        other < before and now >= start - other for _, other in REMINDER_LEADS)


def compose(session: Session, row: _Row, config: Mapping[str, Any], *, now: datetime):
    """Return the email for a loaded row, addressed; raise :class:`Undeliverable`."""
    note = row.note
    if row.school_slug is None:
        raise Undeliverable("school deleted")
    to = _recipient(session, row)
    data, case_id = _check_session_still_on(session, note, now)
    base_url = config.get("SERVER_BASE_URL", "").rstrip("/")
    tz = ZoneInfo(row.school_timezone or "UTC")
    if note.kind in REPORTER_KINDS or note.recipient_report_id is not None:
        content = reporter_content(note.kind, data, base_url=base_url,
                                   school_slug=row.school_slug, tz=tz)
    else:
        content = staff_content(note.kind, data, case_id=case_id, base_url=base_url, tz=tz)
    return build_message(sender=config.get("MAIL_DEFAULT_SENDER") or "Safe Report",
                         to=to, rendered=render_email(content),
                         message_id=message_id_for(note.key))


def send_claimed(session: Session, notification_id: int, mailer: Mailer,
                 config: Mapping[str, Any], settings: DeliverySettings) -> str:
    """Send one row this worker has claimed and record what happened; the caller commits."""
    row = _load(session, notification_id)
    if row is None or row.note.status is not NotificationStatus.PENDING:
        return Outcome.SKIPPED
    note = row.note
    now = utcnow()
    try:
        msg = compose(session, row, config, now=now)
    except Undeliverable as exc:
        _fail(note, exc.reason)
        return Outcome.FAILED
    try:
        mailer.send(msg)
    except MailError as exc:
        if exc.is_permanent:
            _fail(note, exc.reason)
            return Outcome.FAILED
        return _retry_or_fail(note, exc.reason, settings)
    note.status = NotificationStatus.SENT
    note.sent_dt = utcnow()
    note.last_error = None
    log.info("notification sent", extra={"notification_id": note.id, "kind": note.kind})
    return Outcome.SENT


def record_crash(session: Session, notification_id: int, exc: Exception,
                 settings: DeliverySettings) -> str:
    """Note an unexpected error while sending one row: retry later, or fail after the last try.

    Without this, a row that always breaks (a bug in a template, say) would stop
    every sweep at the same place and hold back the rows claimed after it.
    """
    # The class name only: a message or traceback could carry an address.
    log.error("notification crashed",
              extra={"notification_id": notification_id, "error": type(exc).__name__})
    note = session.get(Notification, notification_id, populate_existing=True)
    if note is None or note.status is not NotificationStatus.PENDING:
        return Outcome.SKIPPED
    return _retry_or_fail(note, f"{type(exc).__name__}: unexpected error while sending",
                          settings)


def _retry_or_fail(note: Notification, reason: str, settings: DeliverySettings) -> str:
    """After a temporary error: try again later, or fail once the retry period is over.

    The period runs from the first failed try (kept in ``data``), so an outage
    of up to ``settings.retry_for`` delays mail but loses none.
    """
    now = utcnow()
    since = aware_moment((note.data or {}).get(FAILING_SINCE))
    if since is None:
        since = now
        note.data = {**(note.data or {}), FAILING_SINCE: now.isoformat()}
    if now - since >= settings.retry_for:
        _fail(note, reason)
        return Outcome.FAILED
    note.last_error = reason  # fixed words, or MailError's, already short
    note.next_attempt_dt = now + backoff(note.attempts, settings.retry_base)
    log.info("notification retry scheduled",
             extra={"notification_id": note.id, "attempts": note.attempts})
    return Outcome.RETRY


def _fail(note: Notification, reason: str) -> None:
    note.status = NotificationStatus.FAILED
    note.last_error = reason[:200]
    log.warning("notification failed",
                extra={"notification_id": note.id, "kind": note.kind, "reason": note.last_error})


def _send_one(session: Session, notification_id: int, mailer: Mailer,
              config: Mapping[str, Any], settings: DeliverySettings) -> str:
    """Send one claimed row and write its outcome to the database; the caller commits.

    Nothing the row does may escape: one bad row must not stop the others.
    """
    try:
        outcome = send_claimed(session, notification_id, mailer, config, settings)
        # Written here, not at the caller's next statement or commit: a row deleted
        # meanwhile (its session cancelled or moved) must fail inside this guard.
        session.flush()
    except StaleDataError:
        session.rollback()
        log.info("notification deleted while it was sent",
                 extra={"notification_id": notification_id})
        return Outcome.SKIPPED
    except Exception as exc:  # noqa: BLE001 - recorded on the row, retried with backoff
        session.rollback()
        return record_crash(session, notification_id, exc, settings)
    return outcome


# -- the two entry points the tasks call ------------------------------------------------
def deliver_one(session: Session, notification_id: int, config: Mapping[str, Any]) -> str:
    """Send one notification now if it is pending and due (the on-commit wake-up call).

    Commits: the claim must be visible to other workers before the send, and
    the outcome must be recorded straight after it.
    """
    settings = DeliverySettings.from_config(config)
    token = claim_one(session, notification_id, now=utcnow(), lease=settings.lease)
    session.commit()
    if token is None:
        return Outcome.SKIPPED
    with Mailer(config) as mailer:
        outcome = _send_one(session, notification_id, mailer, config, settings)
        session.commit()
    return outcome


def deliver_due(session: Session, config: Mapping[str, Any], *,
                budget_seconds: float = 45) -> DeliveryStats:
    """Send every due notification, batch by batch, for at most ``budget_seconds``.

    Commits after the claim of each batch and after every message (see the
    module docstring for why).
    """
    settings = DeliverySettings.from_config(config)
    stats = DeliveryStats()
    stop_at = time.monotonic() + budget_seconds
    with Mailer(config) as mailer:
        while time.monotonic() < stop_at:
            claimed = claim_due(session, now=utcnow(), lease=settings.lease,
                                limit=settings.batch_size)
            session.commit()
            if not claimed:
                break
            _send_batch(session, claimed, mailer, config, settings, stats, stop_at)
            if len(claimed) < settings.batch_size:
                break
    return stats


def _send_batch(session: Session, claimed: dict[int, datetime], mailer: Mailer,
                config: Mapping[str, Any], settings: DeliverySettings, stats: DeliveryStats,
                stop_at: float) -> None:
    queue = list(claimed.items())
    while queue:
        if time.monotonic() >= stop_at:
            release(session, dict(queue), now=utcnow())
            session.commit()
            return
        notification_id, _token = queue.pop(0)
        stats.add(_send_one(session, notification_id, mailer, config, settings))
        # In the same transaction as this outcome: renew the lease of the next row,
        # dropping any another worker has taken since (its lease had run out).
        while queue:
            next_id, next_token = queue[0]
            renewed = renew_lease(session, next_id, token=next_token, now=utcnow(),
                                  lease=settings.lease)
            if renewed is not None:
                queue[0] = (next_id, renewed)
                break
            queue.pop(0)
            stats.add(Outcome.SKIPPED)
        session.commit()
