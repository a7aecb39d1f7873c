"""Readiness checks shared by ``/readyz`` and ``flask workers-status``."""

from __future__ import annotations

import os
import socket
from datetime import datetime

from kombu import Connection
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.db import utcnow
from app.health.models import Heartbeat


def check_database(session: Session) -> str | None:
    """Return ``None`` when the database answers, else a short reason."""
    try:
        session.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        session.rollback()
        return type(exc).__name__


def check_broker(url: str, transport_options: dict) -> str | None:
    """Return ``None`` when the Celery broker accepts a connection."""
    if url.startswith("memory://"):
        return None
    if url.startswith("filesystem://"):
        folder = transport_options.get("data_folder_in", "")
        return None if folder and os.access(folder, os.W_OK) else "broker folder missing"
    try:
        with Connection(url, transport_options=transport_options, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return None
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__


def record_heartbeat(session: Session, name: str, *, at: datetime | None = None) -> Heartbeat:
    beat = session.get(Heartbeat, name)
    if beat is None:
        beat = Heartbeat(name=name)
        session.add(beat)
    beat.last_seen_dt = at or utcnow()
    beat.seen_by = f"{socket.gethostname()}:{os.getpid()}"[:120]
    return beat


def heartbeats(session: Session) -> list[Heartbeat]:
    return list(session.execute(select(Heartbeat).order_by(Heartbeat.name)).scalars())
