from __future__ import annotations

import logging

from celery import shared_task

from app.extensions import db
from app.health.services import record_heartbeat

log = logging.getLogger(__name__)


@shared_task(name="workers.tasks.maintenance.heartbeat", ignore_result=True)
def heartbeat(name: str = "beat") -> None:
    """Record that beat scheduled and a worker ran a task just now."""
    record_heartbeat(db.session, name)
    db.session.commit()
    log.info("heartbeat", extra={"heartbeat": name})


AUDIT_CHECK_TASK = "workers.tasks.maintenance.check_audit_chains"


@shared_task(name=AUDIT_CHECK_TASK, ignore_result=True, soft_time_limit=3300, time_limit=3600)
def check_audit_chains() -> dict[str, int]:
    """Check every school's whole audit chain and move the viewer's checkpoints on."""
    from app.audit import services as audit
    from app.db import utcnow

    counts = audit.checkpoint_chains(db.session, now=utcnow())
    db.session.commit()
    if counts["broken"]:
        log.error("audit chain broken", extra=counts)
    else:
        log.info("audit chains checked", extra=counts)
    return counts
