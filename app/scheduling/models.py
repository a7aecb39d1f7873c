"""Follow-up sessions and the two outcome measures recorded when one is completed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.cases.vocabulary import LabelledEnum
from app.db import Base, Encrypted, TenantScoped, enum_column, utcnow

if TYPE_CHECKING:
    from app.auth.models import StaffUser
    from app.cases.models import Case



class SessionKind(LabelledEnum):
    TARGET_CHECK_IN = "target_check_in", "Check-in with the target"
    PERPETRATOR_SUPPORT = "perpetrator_support", "Support for the student who bullied"
    RESTORATIVE = "restorative", "Joint restorative meeting"
    PARENT = "parent", "Parent/carer meeting"
    GROUP = "group", "Group session"


class SessionMode(LabelledEnum):
    IN_PERSON = "in_person", "In person"
    PHONE = "phone", "Phone"
    VIDEO = "video", "Video"


class SessionStatus(LabelledEnum):
    SCHEDULED = "scheduled", "Scheduled"
    COMPLETED = "completed", "Completed"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


class FollowUpSession(TenantScoped, Base):
    __tablename__ = "follow_up_session"
    __table_args__ = (
        # Overlap checks and "My week": a counsellor's sessions by time.
        Index("ix_follow_up_session_counsellor_time", "counsellor_id", "start_dt", "end_dt"),
        # The dashboard's workload and outcomes: a school's sessions held in a period.
        Index("ix_follow_up_session_school_held", "school_id", "status", "start_dt",
              postgresql_include=["case_id", "counsellor_id", "outcome_total"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    start_dt: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(default=60)
    #: start + duration, stored so overlap checks are one indexed comparison.
    end_dt: Mapped[datetime]
    kind: Mapped[SessionKind] = mapped_column(enum_column(SessionKind))
    mode: Mapped[SessionMode] = mapped_column(enum_column(SessionMode))
    #: Where (a room, or "phone"): shown in the calendar feed, so never a student's name.
    location: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[SessionStatus] = mapped_column(enum_column(SessionStatus),
                                                  default=SessionStatus.SCHEDULED)
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    completed_dt: Mapped[datetime | None]
    #: Confidential notes from the session.
    notes: Mapped[str | None] = deferred(mapped_column(Encrypted("follow_up_session.notes")))
    strategies: Mapped[str | None] = deferred(
        mapped_column(Encrypted("follow_up_session.strategies")))
    #: Start-of-session ratings (me, family, school, everything), each 0-10.
    outcome_scores: Mapped[list[Any] | None] = mapped_column(JSON)
    #: End-of-session ratings (listened to, what I wanted, the way we worked, overall), 0-10.
    session_scores: Mapped[list[Any] | None] = mapped_column(JSON)
    outcome_total: Mapped[int | None] = mapped_column(SmallInteger)
    session_total: Mapped[int | None] = mapped_column(SmallInteger)

    case: Mapped["Case"] = relationship()
    counsellor: Mapped["StaffUser"] = relationship()

    def set_time(self, start: datetime, minutes: int) -> None:
        self.start_dt = start
        self.duration_minutes = minutes
        self.end_dt = start + timedelta(minutes=minutes)
