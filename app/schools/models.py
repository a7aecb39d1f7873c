"""The school: tenant, calendar and deadline settings."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


@lru_cache(maxsize=256)
def _holiday_dates(periods: tuple[tuple[str, str], ...]) -> frozenset[date]:
    days: set[date] = set()
    for first, last in periods:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
        while start <= end:
            days.add(start)
            start = date.fromordinal(start.toordinal() + 1)
    return frozenset(days)


def _default_weekend() -> list[int]:
    return [5, 6]


DEFAULT_OUTCOME_LABELS = ["How I am doing myself", "How things are at home",
                          "How things are at school", "How things are overall"]
DEFAULT_SESSION_LABELS = ["I felt listened to", "We talked about what I wanted to",
                          "The way we worked suited me", "Overall, today was right for me"]


def _default_outcome_labels() -> list[str]:
    return list(DEFAULT_OUTCOME_LABELS)


def _default_session_labels() -> list[str]:
    return list(DEFAULT_SESSION_LABELS)


class School(Base):
    __tablename__ = "school"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Appears in the student address ``/s/<slug>/report``.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: IANA zone; deadlines count school days in it.
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    #: Holidays: a list of ``{"name", "start", "end"}`` with ISO dates, both ends inclusive.
    term_calendar: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: ISO weekday numbers (Monday is 0) that are not school days.
    weekend_days: Mapped[list[Any]] = mapped_column(JSON, default=_default_weekend)
    #: Shown to a student in danger: a list of ``{"name", "phone", "text", "url", "hours"}``.
    helplines: Mapped[list[Any]] = mapped_column(JSON, default=list)
    emergency_number: Mapped[str] = mapped_column(String(20), default="999")
    #: Where level-3 escalations go besides the leads.
    admin_contact_email: Mapped[str | None] = mapped_column(String(254))
    critical_response_hours: Mapped[int] = mapped_column(default=1)
    high_response_days: Mapped[int] = mapped_column(default=1)
    medium_response_days: Mapped[int] = mapped_column(default=3)
    low_response_days: Mapped[int] = mapped_column(default=5)
    #: A case with no activity for this many school days reminds its assignee.
    stale_after_days: Mapped[int] = mapped_column(default=10)
    #: Case content is purged this many years after closing.
    retention_years: Mapped[int] = mapped_column(default=6)
    #: Labels of the start-of-session outcome items (our own words by default;
    #: a school holding a licence may set the official wording).
    outcome_labels: Mapped[list[Any]] = mapped_column(JSON, default=_default_outcome_labels)
    session_labels: Mapped[list[Any]] = mapped_column(JSON, default=_default_session_labels)
    #: An outcome total under this (of 40) marks a student still struggling.
    outcome_cutoff: Mapped[int] = mapped_column(default=32)
    #: A session total under this (of 40) marks a working relationship worth discussing.
    session_cutoff: Mapped[int] = mapped_column(default=36)
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def holiday_dates(self) -> frozenset[date]:
        """Every day of the term calendar's holidays (computed once per distinct calendar)."""
        return _holiday_dates(tuple((period["start"], period.get("end") or period["start"])
                                    for period in self.term_calendar or []))

    def __repr__(self) -> str:
        return f"<School {self.slug}>"
