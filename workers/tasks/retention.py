"""The nightly retention job (app/cases/retention.py)."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from app.cases import retention
from app.db import utcnow
from app.extensions import db

log = logging.getLogger(__name__)

PURGE_TASK = "workers.tasks.retention.purge_expired"
#: Cases purged per transaction: evidence can be large, keep transactions short.
PURGE_BATCH = 20
BUDGET_SECONDS = 1500


@shared_task(name=PURGE_TASK, ignore_result=True, soft_time_limit=1700, time_limit=1800)
def purge_expired() -> int:
    """Purge the content of cases closed longer than their school's retention period."""
    total = 0
    stop_at = time.monotonic() + BUDGET_SECONDS
    while True:
        purged = retention.purge_expired(db.session, now=utcnow(), limit=PURGE_BATCH)
        db.session.commit()
        total += purged
        if purged < PURGE_BATCH or time.monotonic() >= stop_at:
            break
    log.info("retention job", extra={"purged": total})
    return total
