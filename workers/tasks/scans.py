"""The periodic scans: escalations, stale cases, morning digests (app/notifications/scans.py)."""

from __future__ import annotations

import logging

from celery import shared_task

from app.db import utcnow
from app.extensions import db
from app.notifications import scans
from workers.tasks import run_in_batches

log = logging.getLogger(__name__)

ESCALATE_TASK = "workers.tasks.scans.escalate"
STALE_TASK = "workers.tasks.scans.remind_stale"
DIGEST_TASK = "workers.tasks.scans.send_digests"
#: Cases escalated per transaction: a batch is a handful of statements whatever its size,
#: and holds the audit chains of its schools until it commits (well under a second).
ESCALATION_BATCH = 500
BUDGET_SECONDS = 45


@shared_task(name=ESCALATE_TASK, ignore_result=True, soft_time_limit=100, time_limit=120)
def escalate() -> int:
    """Send every escalation level that has fallen due, a batch per transaction."""
    total = run_in_batches(lambda n: scans.escalate_due(db.session, now=utcnow(), limit=n),
                           batch=ESCALATION_BATCH, budget_seconds=BUDGET_SECONDS)
    if total:
        log.info("escalation scan", extra={"cases": total})
    return total


@shared_task(name=STALE_TASK, ignore_result=True, soft_time_limit=100, time_limit=120)
def remind_stale() -> int:
    """Remind assignees of cases that have had no activity for too long."""
    written = scans.remind_stale(db.session, now=utcnow())
    db.session.commit()
    if written:
        log.info("stale-case scan", extra={"reminders": written})
    return written


@shared_task(name=DIGEST_TASK, ignore_result=True, soft_time_limit=100, time_limit=120)
def send_digests() -> int:
    """Write the leads' morning digests of every school where it is past 07:00."""
    written = scans.write_digests(db.session, now=utcnow())
    db.session.commit()
    if written:
        log.info("digest scan", extra={"digests": written})
    return written
