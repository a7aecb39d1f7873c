"""First-response deadlines, counted in the school's own days and hours.

Critical cases count every hour, day or night. Other risks count school days
(weekends and the term calendar's holidays skipped) in the school's timezone:
a report made at 15:00 on a school day with one school day to answer is due at
15:00 on the next school day; a report made on a weekend or a holiday starts
counting when the next school day begins. Wall-clock arithmetic in the school's
zone keeps deadlines right across daylight-saving changes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from app.cases.vocabulary import Risk
from app.schools.models import School

#: When a school day starts, for reports made outside school days.
SCHOOL_DAY_START = time(8, 0)


def is_school_day(school: School, day: date, holidays: set[date] | None = None) -> bool:
    holidays = school.holiday_dates() if holidays is None else holidays
    return day.weekday() not in set(school.weekend_days or []) and day not in holidays


def add_school_days(school: School, start: datetime, days: int) -> datetime:
    """Return the moment ``days`` school days after ``start`` (aware, UTC)."""
    tz = school.tz
    holidays = school.holiday_dates()
    local = start.astimezone(tz)
    day, wall = local.date(), local.time().replace(tzinfo=None)
    if not is_school_day(school, day, holidays):
        while not is_school_day(school, day, holidays):
            day += timedelta(days=1)
        wall = SCHOOL_DAY_START
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_school_day(school, day, holidays):
            remaining -= 1
    return datetime.combine(day, wall, tzinfo=tz).astimezone(timezone.utc)


def response_window_days(school: School, risk: Risk) -> int:
    return {
        Risk.HIGH: school.high_response_days,
        Risk.MEDIUM: school.medium_response_days,
        Risk.LOW: school.low_response_days,
    }[risk]


def response_due(school: School, risk: Risk, start: datetime) -> datetime:
    """When the first response to a case of ``risk`` opened at ``start`` is due."""
    if risk is Risk.CRITICAL:
        return start.astimezone(timezone.utc) + timedelta(hours=school.critical_response_hours)
    return add_school_days(school, start, response_window_days(school, risk))
