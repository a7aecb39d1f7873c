"""In-app notifications, and what admins see of the outbox (backlog, failures, queue)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.auth.models import StaffUser
from app.cases.models import Case
from app.db import utcnow
from app.errors import DomainError, NotFound
from app.health.models import Heartbeat
from app.notifications.delivery import FAILING_SINCE
from app.notifications.models import Notification, NotificationStatus
from app.notifications.recipients import ADMIN_CONTACT
from app.policy import require_admin, require_same_school


# -- the staff member's own notifications ----------------------------------------------
def unread_count(session: Session, user: StaffUser) -> int:
    """How many of ``user``'s notifications are unread (indexed on recipient, is_read)."""
    return session.execute(
        select(func.count()).select_from(Notification)
        .where(Notification.recipient_staff_id == user.id, Notification.is_read.is_(False))
    ).scalar_one()


def inbox(session: Session, user: StaffUser, *, limit: int = 100) -> list[Notification]:
    """Return ``user``'s latest notifications and mark them read; the caller commits.

    The rows keep the unread state they were shown with (for highlighting).
    """
    notes = list(session.scalars(
        select(Notification).where(Notification.recipient_staff_id == user.id)
        .order_by(Notification.created_dt.desc(), Notification.id.desc()).limit(limit)))
    unread = [n.id for n in notes if not n.is_read]
    if unread:
        session.execute(update(Notification).where(Notification.id.in_(unread))
                        .values(is_read=True).execution_options(synchronize_session=False))
    return notes


# -- the outbox, for admins -------------------------------------------------------------
@dataclass(frozen=True)
class OutboxStatus:
    #: Pending and due now: should be empty within a minute while workers run.
    due: int
    #: Pending for later (reminders).
    scheduled: int
    failed: int
    sent_last_day: int
    oldest_due_dt: datetime | None

    @property
    def oldest_due_age(self) -> timedelta | None:
        return None if self.oldest_due_dt is None else utcnow() - self.oldest_due_dt


def outbox_status(session: Session, *, school_id: int | None = None,
                  now: datetime | None = None) -> OutboxStatus:
    """Count the outbox by state (one school, or all with ``school_id=None``)."""
    now = now or utcnow()
    where = [] if school_id is None else [Notification.school_id == school_id]
    pending = [Notification.status == NotificationStatus.PENDING, *where]

    def scalar(query):  # type: ignore[no-untyped-def]
        return session.execute(query).scalar_one()

    return OutboxStatus(
        due=scalar(select(func.count()).select_from(Notification)
                   .where(*pending, Notification.next_attempt_dt <= now)),
        scheduled=scalar(select(func.count()).select_from(Notification)
                         .where(*pending, Notification.next_attempt_dt > now)),
        failed=scalar(select(func.count()).select_from(Notification)
                      .where(Notification.status == NotificationStatus.FAILED, *where)),
        sent_last_day=scalar(select(func.count()).select_from(Notification)
                             .where(Notification.status == NotificationStatus.SENT,
                                    Notification.sent_dt >= now - timedelta(days=1), *where)),
        # The claim pushes next_attempt_dt forward, so "oldest due" is the oldest created.
        oldest_due_dt=scalar(select(func.min(Notification.created_dt))
                             .where(*pending, Notification.next_attempt_dt <= now)),
    )


@dataclass(frozen=True)
class FailedNotification:
    id: int
    kind: str
    attempts: int
    last_error: str | None
    created_dt: datetime
    case_reference: str | None
    #: "staff", "admin contact" or "reporter": never the address itself.
    recipient: str


def failed_notifications(session: Session, *, school_id: int | None = None,
                         limit: int = 100) -> list[FailedNotification]:
    """Return the newest failed notifications, with the case reference when there is one."""
    query = (select(Notification, Case.reference)
             .outerjoin(Case, Case.id == Notification.case_id)
             .where(Notification.status == NotificationStatus.FAILED)
             .order_by(Notification.id.desc()).limit(limit))
    if school_id is not None:
        query = query.where(Notification.school_id == school_id)
    return [FailedNotification(
        id=note.id, kind=note.kind, attempts=note.attempts, last_error=note.last_error,
        created_dt=note.created_dt, case_reference=reference,
        recipient=("staff" if note.recipient_staff_id
                   else "admin contact" if (note.data or {}).get("to") == ADMIN_CONTACT
                   else "reporter"),
    ) for note, reference in session.execute(query)]


class NotFailed(DomainError):
    status_code = 409
    default_message = "That notification has not failed, so there is nothing to retry."


def retry_notification(session: Session, user: StaffUser, notification_id: int) -> Notification:
    """Put a failed notification back in the outbox, due now; the caller commits."""
    require_admin(user)
    note = session.get(Notification, notification_id)
    if note is None:
        raise NotFound()
    require_same_school(user, note.school_id)
    if note.status is not NotificationStatus.FAILED:
        raise NotFailed()
    previous = note.last_error
    note.status = NotificationStatus.PENDING
    note.attempts = 0
    # A fresh retry period (see delivery._retry_or_fail), counted from this retry's first failure.
    note.data = {k: v for k, v in (note.data or {}).items() if k != FAILING_SINCE}
    note.next_attempt_dt = utcnow()
    audit.record(session, "notification.retried", school_id=note.school_id, actor_id=user.id,
                 case_id=note.case_id, target=f"notification:{note.id}",
                 detail={"kind": note.kind, "last_error": previous})
    return note


def last_beat(session: Session) -> Heartbeat | None:
    """The last time beat made a worker run a task (the ``beat`` heartbeat)."""
    return session.get(Heartbeat, "beat")


def is_beat_late(beat: Heartbeat, interval_seconds: float, *, now: datetime | None = None) -> bool:
    """Whether three beat intervals have passed without a tick."""
    return ((now or utcnow()) - beat.last_seen_dt).total_seconds() > 3 * interval_seconds


# -- the broker queue -------------------------------------------------------------------
@dataclass(frozen=True)
class QueueDepth:
    messages: int | None
    #: Why ``messages`` is unknown, when it is.
    note: str | None = None


#: kombu's Redis transport keeps one list per priority step; these are its suffixes.
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def broker_queue_depth(config: Mapping[str, Any]) -> QueueDepth:
    """Return how many task messages wait in the workers' queue.

    Redis: the length of the queue's lists. Filesystem broker: the number of
    message files for the queue in its folder.
    """
    url: str = config.get("CELERY_BROKER_URL") or ""
    queue: str = config["CELERY_TASK_QUEUE"]
    options = config.get("CELERY_BROKER_TRANSPORT_OPTIONS") or {}
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        prefix = options.get("global_keyprefix", "")
        try:
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            try:
                pipe = client.pipeline(transaction=False)
                for suffix in _REDIS_PRIORITY_SUFFIXES:
                    pipe.llen(f"{prefix}{queue}{suffix}")
                return QueueDepth(sum(pipe.execute()))
            finally:
                client.close()
        except redis.RedisError as exc:
            return QueueDepth(None, f"Redis unreachable ({type(exc).__name__})")
    if url.startswith("filesystem:"):
        folder = options.get("data_folder_in")
        if not folder or not os.path.isdir(folder):
            return QueueDepth(None, "broker folder missing")
        wanted = f"{queue}.msg"  # kombu names them <time>_<uuid>.<queue>.msg
        return QueueDepth(sum(1 for name in os.listdir(folder)
                              if name.partition(".")[2] == wanted))
    return QueueDepth(None, "not measured for this broker")
