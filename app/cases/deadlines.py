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

from typing import TYPE_CHECKING

from app.cases.vocabulary import Risk
from app.schools.models import School

if TYPE_CHECKING:
    from app.cases.models import Case

#: When a school day starts, for reports made outside school days.
SCHOOL_DAY_START = time(8, 0)


def is_school_day(school: School, day: date, holidays: frozenset[date] | None = None) -> bool:
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


def add_school_time(school: School, start: datetime, days: float) -> datetime:
    """Return the moment ``days`` (possibly fractional) school days after ``start`` (UTC).

    Whole days count as :func:`add_school_days` does; a fraction adds that part of
    24 wall-clock hours, counting only hours that fall on school days, so half a
    day after Friday 15:00 is Monday 03:00, not Saturday 03:00.
    """
    whole = int(days)
    moment = add_school_days(school, start, whole)
    remaining = timedelta(days=days - whole)
    if remaining <= timedelta(0):
        return moment
    tz = school.tz
    holidays = school.holiday_dates()
    wall = moment.astimezone(tz).replace(tzinfo=None)
    while True:
        day_end = datetime.combine(wall.date() + timedelta(days=1), time())
        if is_school_day(school, wall.date(), holidays):
            step = min(remaining, day_end - wall)
            wall += step
            remaining -= step
            if remaining <= timedelta(0):
                break
        wall = day_end
    return wall.replace(tzinfo=tz).astimezone(timezone.utc)


# -- the escalation ladder (DOMAIN.md) -------------------------------------------------
#: Level 1 at the deadline; level 2 half a window later; level 3 a full window after that.
ESCALATION_OFFSETS = {1: 0.0, 2: 0.5, 3: 1.5}
TOP_LEVEL = 3


def escalation_due(case: "Case", level: int, school: School | None = None) -> datetime:
    """When escalation ``level`` falls due for a case still waiting for a first response.

    Level 1 is the deadline itself. Later levels add half (level 2) and one and a
    half (level 3) response windows to it, in the window's own unit: hours for a
    critical case, school days (weekends and holidays skipped) otherwise. Without
    ``school`` the window is measured in elapsed time, which is exact only for
    critical cases.
    """
    if level == 1:
        return case.response_due_dt
    offset = ESCALATION_OFFSETS[level]
    if school is None or case.risk is Risk.CRITICAL:
        window = case.response_due_dt - case.deadline_start_dt
        return case.response_due_dt + window * offset
    return add_school_time(school, case.response_due_dt,
                           response_window_days(school, case.risk) * offset)


def next_escalation_after(case: "Case", level: int, school: School) -> datetime | None:
    """When the level after ``level`` falls due, or ``None`` once the top level is sent."""
    return escalation_due(case, level + 1, school) if level < TOP_LEVEL else None


# -- stale cases -----------------------------------------------------------------------
def stale_cutoff(school: School, now: datetime, days: int) -> datetime:
    """Return a moment such that every case idle for ``days`` school days was last active before it.

    Counts ``days`` school days back from ``now`` at the same wall time. It may
    include a few cases that are not quite stale yet (when ``now`` falls on a
    weekend or holiday); :func:`is_stale` decides exactly.
    """
    tz = school.tz
    holidays = school.holiday_dates()
    local = now.astimezone(tz)
    day, wall = local.date(), local.time().replace(tzinfo=None)
    remaining = days
    while remaining > 0:
        day -= timedelta(days=1)
        if is_school_day(school, day, holidays):
            remaining -= 1
    return datetime.combine(day, wall, tzinfo=tz).astimezone(timezone.utc)


def is_stale(school: School, last_activity: datetime, now: datetime, days: int) -> bool:
    """Whether ``days`` school days have passed since ``last_activity``."""
    return add_school_days(school, last_activity, days) <= now


def start_deadline(case: "Case", school: School, start: datetime) -> None:
    """(Re)start the first-response clock for the case's current risk."""
    case.deadline_start_dt = start
    case.response_due_dt = response_due(school, case.risk, start)
    case.escalation_level = 0
    case.next_escalation_dt = case.response_due_dt if case.first_response_dt is None else None


def mark_staff_action(case: "Case", now: datetime) -> None:
    """Someone acted on the case: the first response is given and escalation stops."""
    if case.first_response_dt is None:
        case.first_response_dt = now
    case.last_activity_dt = now
    case.next_escalation_dt = None
