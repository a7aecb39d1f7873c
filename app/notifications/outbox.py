"""Writing to the outbox, and waking a worker once the transaction has committed.

The row is the record that a message is owed; the Celery task is only a
wake-up call. If the broker loses the task, the periodic sweep
(:func:`app.notifications.delivery.claim_due`) still finds the row.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import utcnow
from app.notifications.models import Notification

log = logging.getLogger(__name__)
_PENDING_KEY = "outbox_new_ids"
_SWEEP_KEY = "outbox_sweep"
DELIVER_TASK = "workers.tasks.notifications.deliver"
DELIVER_DUE_TASK = "workers.tasks.notifications.deliver_due"
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                  "interval_max": 0.5}


def _celery():  # type: ignore[no-untyped-def]
    """The Celery app of the Flask app in use (each app has its own broker settings)."""
    from flask import current_app, has_app_context

    if has_app_context() and "celery" in current_app.extensions:
        return current_app.extensions["celery"]
    from celery import current_app as default_celery

    return default_celery


def queue_notification(
    session: Session,
    *,
    key: str,
    kind: str,
    school_id: int,
    recipient_staff_id: int | None = None,
    recipient_report_id: int | None = None,
    case_id: int | None = None,
    data: dict[str, Any] | None = None,
    send_at: datetime | None = None,
) -> Notification | None:
    """Add a notification unless one with ``key`` exists; the caller commits.

    Returns the new row, or ``None`` when the key was already there (the
    event was handled before: sending it again would be a duplicate).
    """
    exists = session.execute(select(Notification.id).where(Notification.key == key)).first()
    if exists is not None:
        return None
    for pending in session.new:
        if isinstance(pending, Notification) and pending.key == key:
            return None
    note = Notification(
        key=key, kind=kind, school_id=school_id, recipient_staff_id=recipient_staff_id,
        recipient_report_id=recipient_report_id, case_id=case_id, data=data or {},
        next_attempt_dt=send_at or utcnow(),
    )
    session.add(note)
    return note


def queue_notifications(session: Session, rows: list[dict[str, Any]]) -> int:
    """Add many notifications at once (the scans), skipping keys already there.

    Each row holds :class:`Notification` columns and must include ``key``. One
    read finds the keys already written, one multi-row INSERT adds the rest, and
    the unique key guards against a writer in between (that row is skipped).
    A single outbox sweep is asked for after commit instead of a wake-up call
    per row. Returns how many rows were new.
    """
    if not rows:
        return 0
    keys = [row["key"] for row in rows]
    done: set[str] = set()
    for start in range(0, len(keys), 1000):
        done.update(session.scalars(select(Notification.key)
                                    .where(Notification.key.in_(keys[start:start + 1000]))))
    new = [row for row in dict((row["key"], row) for row in rows).values()
           if row["key"] not in done]
    if not new:
        return 0
    dialect = session.get_bind().dialect.name
    insert_ = {"postgresql": pg_insert, "sqlite": sqlite_insert}.get(dialect)
    stmt = (insert_(Notification.__table__).on_conflict_do_nothing(index_elements=["key"])
            if insert_ else Notification.__table__.insert())
    session.execute(stmt, new)
    session.info[_SWEEP_KEY] = True
    return len(new)


@event.listens_for(Session, "after_flush")
def _collect_new(session: Session, flush_context: Any) -> None:
    for obj in session.new:
        if isinstance(obj, Notification) and obj.next_attempt_dt <= utcnow():
            session.info.setdefault(_PENDING_KEY, set()).add(obj.id)


@event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    ids = session.info.pop(_PENDING_KEY, None)
    sweep = session.info.pop(_SWEEP_KEY, False)
    if not ids and not sweep:
        return
    try:
        celery = _celery()
        # A broker that is down must not hold up the request for long: the
        # periodic sweep sends whatever these wake-up calls miss.
        if sweep:
            celery.send_task(DELIVER_DUE_TASK, ignore_result=True, retry_policy=_PUBLISH_RETRY)
        for notification_id in sorted(ids or ()):
            celery.send_task(DELIVER_TASK, args=[notification_id], ignore_result=True,
                             retry_policy=_PUBLISH_RETRY)
    except Exception:  # noqa: BLE001 - the sweep delivers what the broker did not take
        log.warning("could not enqueue notifications; the sweep will send them",
                    extra={"count": len(ids or ())})


@event.listens_for(Session, "after_rollback")
def _forget_new(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_SWEEP_KEY, None)
