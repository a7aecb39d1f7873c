"""The beat schedule, in code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.schedules import crontab

HEARTBEAT_TASK = "workers.tasks.maintenance.heartbeat"
DELIVER_DUE_TASK = "workers.tasks.notifications.deliver_due"
ESCALATE_TASK = "workers.tasks.scans.escalate"
STALE_TASK = "workers.tasks.scans.remind_stale"
DIGEST_TASK = "workers.tasks.scans.send_digests"
PURGE_TASK = "workers.tasks.retention.purge_expired"
AUDIT_CHECK_TASK = "workers.tasks.maintenance.check_audit_chains"


def _every(task: str, seconds: float, queue: str, **extra: Any) -> dict[str, Any]:
    # A periodic message that waited longer than its interval is stale: drop it, the
    # next one is already on its way (so a stopped worker does not come back to a pile).
    return {"task": task, "schedule": timedelta(seconds=seconds),
            "options": {"queue": queue, "expires": seconds * 0.9}, **extra}


def beat_schedule(queue: str, heartbeat_seconds: float = 60, *, scan_seconds: float = 60,
                  daily_scan_seconds: float = 300) -> dict[str, dict[str, Any]]:
    """Return the periodic tasks beat sends to ``queue``.

    The outbox sweep and the escalation scan run every ``scan_seconds``; the
    stale-case and digest scans (whose answers change by the day) every
    ``daily_scan_seconds``; the retention job nightly at 02:30 UTC and the full
    audit-chain check at 03:30 UTC.
    """
    return {
        "heartbeat": _every(HEARTBEAT_TASK, heartbeat_seconds, queue, kwargs={"name": "beat"}),
        "deliver-due": _every(DELIVER_DUE_TASK, scan_seconds, queue),
        "escalate": _every(ESCALATE_TASK, scan_seconds, queue),
        "remind-stale": _every(STALE_TASK, daily_scan_seconds, queue),
        "digests": _every(DIGEST_TASK, daily_scan_seconds, queue),
        "retention": {"task": PURGE_TASK, "schedule": crontab(hour=2, minute=30),
                      # Missed by more than a few hours: tomorrow's run does the work.
                      "options": {"queue": queue, "expires": 6 * 3600}},
        "audit-chains": {"task": AUDIT_CHECK_TASK, "schedule": crontab(hour=3, minute=30),
                         "options": {"queue": queue, "expires": 6 * 3600}},
    }
