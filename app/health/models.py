"""Proof of life from the background processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class Heartbeat(Base):
    """The last time a periodic process (``beat``) made a worker run a task."""

    __tablename__ = "heartbeat"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seen_dt: Mapped[datetime] = mapped_column(default=utcnow)
    #: The host and process that ran it, for the workers page.
    seen_by: Mapped[str | None] = mapped_column(String(120))
