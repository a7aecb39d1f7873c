"""The nightly retention job (app/cases/retention.py)."""

from __future__ import annotations

import logging

from celery import shared_task

from app.cases import retention
from app.db import utcnow
from app.extensions import db
from workers.tasks import run_in_batches

log = logging.getLogger(__name__)

PURGE_TASK = "workers.tasks.retention.purge_expired"
#: Cases purged per transaction: evidence can be large, keep transactions short.
PURGE_BATCH = 20
BUDGET_SECONDS = 1500


@shared_task(name=PURGE_TASK, ignore_result=True, soft_time_limit=1700, time_limit=1800)
def purge_expired() -> int:
    """Purge the content of cases closed longer than their school's retention period."""
    total = run_in_batches(lambda n: retention.purge_expired(db.session, now=utcnow(), limit=n),
                           batch=PURGE_BATCH, budget_seconds=BUDGET_SECONDS)
    log.info("retention job", extra={"purged": total})
    return total
