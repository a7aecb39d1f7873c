"""Delivering the notification outbox (see app/notifications/delivery.py)."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from app.extensions import db
from app.notifications import delivery
from app.notifications.outbox import DELIVER_DUE_TASK, DELIVER_TASK

log = logging.getLogger(__name__)
#: A sweep stops claiming new batches after this long, well inside its time limit,
#: so it never holds claimed rows when the hard limit kills it.
SWEEP_BUDGET_SECONDS = 45


@shared_task(name=DELIVER_TASK, ignore_result=True, soft_time_limit=60, time_limit=90)
def deliver(notification_id: int) -> str:
    """Send one notification now, if it is still pending and due (the on-commit wake-up)."""
    return delivery.deliver_one(db.session, notification_id, current_app.config)


@shared_task(name=DELIVER_DUE_TASK, ignore_result=True, soft_time_limit=100, time_limit=120)
def deliver_due() -> dict[str, int]:
    """Send whatever the outbox holds as due: the broker is only a wake-up call."""
    stats = delivery.deliver_due(db.session, current_app.config,
                                 budget_seconds=SWEEP_BUDGET_SECONDS)
    if stats.counts:
        log.info("outbox sweep", extra={"outcomes": stats.as_dict()})
    return stats.as_dict()
