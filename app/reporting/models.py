"""What a reporter submitted. Every free-text field is encrypted at rest."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.cases.vocabulary import ReporterRole
from app.db import Base, Encrypted, TenantScoped, enum_column, utcnow

if TYPE_CHECKING:
    from app.cases.models import Case



class Report(TenantScoped, Base):
    __tablename__ = "report"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    #: HMAC of the normalised case key; the key itself is never stored.
    case_key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    is_anonymous: Mapped[bool] = mapped_column(default=True)
    reporter_role: Mapped[ReporterRole] = mapped_column(enum_column(ReporterRole))
    is_danger: Mapped[bool] = mapped_column(default=False)
    is_self_harm: Mapped[bool] = mapped_column(default=False)
    is_ongoing: Mapped[bool] = mapped_column(default=False)
    #: Kinds and platforms as enum values (categories, not content).
    kinds: Mapped[list[Any]] = mapped_column(default=list)
    platforms: Mapped[list[Any]] = mapped_column(default=list)
    #: today / this_week / this_month / earlier.
    occurred_period: Mapped[str | None] = mapped_column(String(20))
    #: Year group of a confidential reporter, kept in clear for statistics only.
    year_group: Mapped[int | None] = mapped_column(SmallInteger)
    details: Mapped[str] = deferred(mapped_column(Encrypted("report.details"), nullable=False))
    involved: Mapped[str | None] = deferred(mapped_column(Encrypted("report.involved")))
    #: ``[{"platform": ..., "handle": ...}]``
    handles: Mapped[list[Any] | None] = deferred(
        mapped_column(Encrypted("report.handles", json=True))
    )
    #: ``{"name", "year_group", "contact"}`` for confidential reports.
    reporter_identity: Mapped[dict[str, Any] | None] = deferred(
        mapped_column(Encrypted("report.reporter_identity", json=True))
    )
    #: Where to say "you have a reply"; read only by the workers, never shown to staff.
    reply_email: Mapped[str | None] = deferred(mapped_column(Encrypted("report.reply_email")))

    case: Mapped["Case"] = relationship(back_populates="reports")

    def __repr__(self) -> str:
        return f"<Report {self.id}>"
