"""The outbox: one row per message to send, written with the event that causes it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantScoped, utcnow


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Notification(TenantScoped, Base):
    """A message to one recipient. Holds no report content: only kind, ids and a link."""

    __tablename__ = "notification"
    __table_args__ = (
        # Sweeps touch only what is still to be sent and due.
        Index("ix_notification_due", "next_attempt_dt",
              postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
        Index("ix_notification_staff_unread", "recipient_staff_id", "is_read"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Unique per (event, recipient, level): writing it twice is a no-op.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    #: critical_alert, reply_available, session_reminder, escalation, digest, ...
    kind: Mapped[str] = mapped_column(String(40))
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    recipient_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"))
    #: For "you have a reply" mail: the report whose encrypted reply address to use.
    recipient_report_id: Mapped[int | None] = mapped_column(
        ForeignKey("report.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"),
                                                index=True)
    #: Non-identifying facts for the template (case reference, level, times), and
    #: ``failing_since`` while temporary errors are being retried.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[NotificationStatus] = mapped_column(
        Enum(NotificationStatus, native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]),
        default=NotificationStatus.PENDING)
    #: When to try next (the first try: now, or the reminder's time).
    next_attempt_dt: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    sent_dt: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    #: Shown in the staff app too (for staff recipients).
    is_read: Mapped[bool] = mapped_column(default=False)
