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
