"""The school's handling of reports: the case and its chronology."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.cases.vocabulary import CaseStatus, Risk
from app.db import Base, Encrypted, TenantScoped, enum_column, utcnow

if TYPE_CHECKING:
    from app.auth.models import StaffUser
    from app.reporting.models import Report



#: Open cases not reminded since their last activity: the stale-case scan's rows.
_UNREMINDED = ("is_open AND (stale_reminded_dt IS NULL"
               " OR stale_reminded_dt < last_activity_dt)")


class Case(TenantScoped, Base):
    __tablename__ = "case_file"
    __table_args__ = (
        UniqueConstraint("school_id", "reference"),
        # The triage queue: open cases of a school, most urgent first.
        Index("ix_case_queue", "school_id", "is_open", "risk_rank", "response_due_dt", "id"),
        # Deadline scans touch only cases still waiting for a first response.
        # Escalation scans touch only cases with a level still to send.
        Index(
            "ix_case_escalation_due",
            "next_escalation_dt",
            postgresql_where=text("next_escalation_dt IS NOT NULL"),
            sqlite_where=text("next_escalation_dt IS NOT NULL"),
        ),
        # The dashboard's unread-message total touches only cases with unread messages.
        Index("ix_case_unread", "school_id",
              postgresql_where=text("unread_reporter_messages > 0"),
              sqlite_where=text("unread_reporter_messages > 0")),
        # Dashboards and exports: a school's cases by when they were reported. On
        # PostgreSQL it carries every column the dashboard's trends read, so they
        # come from the index alone (bench/README.md).
        Index("ix_case_school_created", "school_id", "created_dt",
              postgresql_include=["merged_into_id", "risk", "kinds_mask", "platforms_mask",
                                  "year_group", "first_response_dt", "response_due_dt",
                                  "resolved_dt"]),
        # The few cases merged into another, which the dashboard leaves out.
        Index("ix_case_merged_away", "school_id", "id",
              postgresql_where=text("merged_into_id IS NOT NULL"),
              sqlite_where=text("merged_into_id IS NOT NULL")),
        # Stale-case scans: open cases not yet reminded since their last activity.
        Index(
            "ix_case_stale_unreminded",
            "school_id",
            "last_activity_dt",
            postgresql_where=text(_UNREMINDED),
            sqlite_where=text(_UNREMINDED),
        ),
        Index(
            "ix_case_awaiting_response",
            "response_due_dt",
            postgresql_where=text("first_response_dt IS NULL AND is_open"),
            sqlite_where=text("first_response_dt IS NULL AND is_open"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What staff call the case, e.g. ``DEM-7K3QMX``; random, unique per school.
    reference: Mapped[str] = mapped_column(String(20))
    status: Mapped[CaseStatus] = mapped_column(enum_column(CaseStatus), default=CaseStatus.NEW)
    #: Denormalised from status so the queue index can lead with it.
    is_open: Mapped[bool] = mapped_column(default=True)
    risk: Mapped[Risk] = mapped_column(enum_column(Risk), default=Risk.MEDIUM)
    #: 0 = critical ... 3 = low; the queue sorts on it.
    risk_rank: Mapped[int] = mapped_column(SmallInteger, default=2)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"), index=True
    )
    #: Optimistic lock: a write from a stale page is refused, not merged.
    version: Mapped[int] = mapped_column(default=1)
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the current first-response clock started (report, or a risk change).
    deadline_start_dt: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the first response is due under the current risk.
    response_due_dt: Mapped[datetime]
    first_response_dt: Mapped[datetime | None]
    last_activity_dt: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_dt: Mapped[datetime | None]
    closed_dt: Mapped[datetime | None]
    #: Bit masks of :class:`IncidentKind` and :class:`Platform` across its reports.
    kinds_mask: Mapped[int] = mapped_column(default=0)
    platforms_mask: Mapped[int] = mapped_column(default=0)
    year_group: Mapped[int | None] = mapped_column(SmallInteger)
    #: Highest escalation level sent for the current deadline (0 = none).
    escalation_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    #: Messages from the reporter that no staff member has opened yet.
    unread_reporter_messages: Mapped[int] = mapped_column(default=0)
    #: Content removed by the retention job; only counts remain.
    is_purged: Mapped[bool] = mapped_column(default=False)
    #: When the next escalation level is due; ``None`` once someone has acted.
    next_escalation_dt: Mapped[datetime | None]
    #: When the assignee was last reminded that the case is idle (the stale-case scan).
    stale_reminded_dt: Mapped[datetime | None]
    #: Set when this case was merged into another; it then stays closed.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_file.id", ondelete="SET NULL"))

    assignee: Mapped["StaffUser | None"] = relationship(foreign_keys=[assignee_id])
    reports: Mapped[list["Report"]] = relationship(
        back_populates="case", order_by="Report.id", passive_deletes=True
    )

    __mapper_args__ = {"version_id_col": version}

    def set_status(self, status: CaseStatus) -> None:
        self.status = status
        self.is_open = status.is_open

    def set_risk(self, risk: Risk) -> None:
        self.risk = risk
        self.risk_rank = risk.rank

    def __repr__(self) -> str:
        return f"<Case {self.reference}>"


class EventKind(enum.StrEnum):
    REPORT_SUBMITTED = "report_submitted"
    MESSAGE_FROM_REPORTER = "message_from_reporter"
    MESSAGE_TO_REPORTER = "message_to_reporter"
    NOTE = "note"
    STATUS_CHANGED = "status_changed"
    RISK_CHANGED = "risk_changed"
    ASSIGNED = "assigned"
    SESSION = "session"
    ESCALATION = "escalation"
    EVIDENCE_ADDED = "evidence_added"
    EVIDENCE_VIEWED = "evidence_viewed"
    REPORT_LINKED = "report_linked"
    PERSON_RECORDED = "person_recorded"


class CaseEvent(TenantScoped, Base):
    """One entry of a case's chronology."""

    __tablename__ = "case_event"
    __table_args__ = (
        Index("ix_case_event_case_time", "case_id", "created_dt", "id"),
        # "Escalations in the last 7 days" on the dashboard.
        Index("ix_case_event_escalations", "school_id", "created_dt",
              postgresql_where=text("kind = 'escalation'"),
              sqlite_where=text("kind = 'escalation'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"))
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind))
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    #: Staff member who acted; ``None`` for the reporter or the system.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    #: Free text (a message, a note, a reason): encrypted.
    body: Mapped[str | None] = deferred(mapped_column(Encrypted("case_event.body")))
    #: Structured facts that are not content, e.g. ``{"from": "new", "to": "triaged"}``.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Restricted notes are readable only by their author and the leads.
    is_restricted: Mapped[bool] = mapped_column(default=False)
    #: For messages: the report whose case-key channel carries it.
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"),
                                                  index=True)

    actor: Mapped["StaffUser | None"] = relationship()
