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
from sqlalchemy.orm import Session

from app.db import utcnow
from app.notifications.models import Notification

log = logging.getLogger(__name__)
_PENDING_KEY = "outbox_new_ids"
DELIVER_TASK = "workers.tasks.notifications.deliver"
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


@event.listens_for(Session, "after_flush")
def _collect_new(session: Session, flush_context: Any) -> None:
    for obj in session.new:
        if isinstance(obj, Notification) and obj.next_attempt_dt <= utcnow():
            session.info.setdefault(_PENDING_KEY, set()).add(obj.id)


@event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    ids = session.info.pop(_PENDING_KEY, None)
    if not ids:
        return
    try:
        celery = _celery()
        for notification_id in sorted(ids):
            celery.send_task(DELIVER_TASK, args=[notification_id], ignore_result=True,
                             # A broker that is down must not hold up the request for long:
                             # the sweep sends whatever this wake-up call misses.
                             retry_policy=_PUBLISH_RETRY)
    except Exception:  # noqa: BLE001 - the sweep delivers what the broker did not take
        log.warning("could not enqueue notifications; the sweep will send them",
                    extra={"count": len(ids)})


@event.listens_for(Session, "after_rollback")
def _forget_new(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
