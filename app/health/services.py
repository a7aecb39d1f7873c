"""Readiness checks and heartbeats, shared by ``/readyz`` and ``flask workers-status``."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from kombu import Connection
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.db import utcnow
from app.health.models import Heartbeat

#: Seconds a readiness probe may wait for the broker; load balancers give up soon after.
BROKER_TIMEOUT = 2


def check_database(session: Session) -> str | None:
    """Return ``None`` when the database answers, else a short reason."""
    try:
        session.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        session.rollback()
        # The class name only: a driver's message can carry the URL or a statement.
        return type(exc).__name__


def check_broker(url: str, transport_options: Mapping[str, Any]) -> str | None:
    """Return ``None`` when the Celery broker accepts a connection, else a short reason."""
    if url.startswith("memory://"):
        return None
    if url.startswith("filesystem:"):
        folder = transport_options.get("data_folder_in", "")
        return None if folder and os.access(folder, os.W_OK) else "broker folder missing"
    options = dict(transport_options)
    if url.startswith(("redis:", "rediss:")):
        # A Redis that accepts the connection but never answers would hang PING forever.
        options["socket_timeout"] = BROKER_TIMEOUT
    try:
        with Connection(url, transport_options=options, connect_timeout=BROKER_TIMEOUT) as conn:
            # One attempt: kombu would otherwise wait 2 s before its retry.
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                   timeout=BROKER_TIMEOUT)
        return None
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__


def readiness(session: Session, config: Mapping[str, Any]) -> dict[str, str]:
    """Return what is down (``database``, ``broker``) with a short reason for each."""
    down = {}
    if reason := check_database(session):
        down["database"] = reason
    if reason := check_broker(config["CELERY_BROKER_URL"],
                              config["CELERY_BROKER_TRANSPORT_OPTIONS"]):
        down["broker"] = reason
    return down


def broker_label(url: str) -> str:
    """Return the broker URL with any password masked, for display."""
    return Connection(url).as_uri()


def record_heartbeat(session: Session, name: str, *, at: datetime | None = None) -> Heartbeat:
    """Note that this process ran the ``name`` heartbeat now (or ``at``)."""
    beat = session.get(Heartbeat, name)
    if beat is None:
        beat = Heartbeat(name=name)
        session.add(beat)
    beat.last_seen_dt = at or utcnow()
    beat.seen_by = f"{socket.gethostname()}:{os.getpid()}"[:120]
    return beat


def heartbeats(session: Session) -> list[Heartbeat]:
    """Return every heartbeat, by name."""
    return list(session.execute(select(Heartbeat).order_by(Heartbeat.name)).scalars())


def heartbeat_age(beat: Heartbeat, *, now: datetime | None = None) -> timedelta:
    """Return how long ago ``beat`` was last seen."""
    return (now or utcnow()) - beat.last_seen_dt
