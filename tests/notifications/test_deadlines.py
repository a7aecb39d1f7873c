"""Deadlines and the escalation ladder land where a person would expect (DOMAIN.md).

Europe/London: clocks go forward on Sunday 30 March 2025 (01:00 GMT -> 02:00 BST)
and back on Sunday 26 October 2025.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.cases.deadlines import (
    add_school_days,
    add_school_time,
    escalation_due,
    is_school_day,
    is_stale,
    next_escalation_after,
    response_due,
    stale_cutoff,
)
from app.cases.models import Case
from app.cases.vocabulary import Risk
from app.schools.models import School

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def school(**overrides) -> School:
    values = dict(timezone="Europe/London", weekend_days=[5, 6], term_calendar=[],
                  critical_response_hours=1, high_response_days=1, medium_response_days=3,
                  low_response_days=5, stale_after_days=10)
    values.update(overrides)
    return School(**values)


HALF_TERM = [{"name": "February half term", "start": "2025-02-17", "end": "2025-02-21"}]


def case(risk: Risk, start: datetime, sch: School) -> Case:
    c = Case(risk=risk, deadline_start_dt=start.astimezone(UTC))
    c.response_due_dt = response_due(sch, risk, start)
    return c


@pytest.mark.parametrize(("risk", "made", "due"), [
    # One school day from Friday afternoon is Monday afternoon: the weekend does not count,
    # and Monday 15:00 is 15:00 on the clock although the clocks went forward on Sunday.
    (Risk.HIGH, london(2025, 3, 28, 15, 0), london(2025, 3, 31, 15, 0)),
    # Three school days from Thursday across the autumn clock change: Fri, Mon, Tue.
    (Risk.MEDIUM, london(2025, 10, 23, 10, 0), london(2025, 10, 28, 10, 0)),
    # The Friday before half term: the whole holiday week is skipped.
    (Risk.HIGH, london(2025, 2, 14, 12, 0), london(2025, 2, 24, 12, 0)),
    # Made on a Saturday: counting starts when Monday's school day begins (08:00).
    (Risk.HIGH, london(2025, 3, 8, 11, 0), london(2025, 3, 11, 8, 0)),
    # Made during half term: likewise from the first school day after it.
    (Risk.HIGH, london(2025, 2, 19, 14, 0), london(2025, 2, 25, 8, 0)),
    # Five school days from a Monday: the next Monday.
    (Risk.LOW, london(2025, 3, 3, 9, 30), london(2025, 3, 10, 9, 30)),
])
def test_school_day_deadlines_skip_weekends_and_holidays_and_keep_the_wall_clock(risk, made, due):
    sch = school(term_calendar=HALF_TERM)

    assert response_due(sch, risk, made.astimezone(UTC)) == due.astimezone(UTC)


def test_a_critical_deadline_counts_real_hours_through_the_night_and_the_clock_change():
    sch = school()
    made = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)  # 00:30 GMT, half an hour before the change

    due = response_due(sch, Risk.CRITICAL, made)

    assert due - made == timedelta(hours=1)
    # One real hour later is 02:30 on the (moved-forward) clock.
    assert due.astimezone(LONDON).strftime("%H:%M %Z") == "02:30 BST"


def test_a_critical_deadline_on_a_saturday_night_is_not_moved_to_a_school_day():
    made = london(2025, 3, 8, 23, 15)

    due = response_due(school(), Risk.CRITICAL, made)

    assert due == (made + timedelta(hours=1)).astimezone(UTC)


def test_a_school_with_a_friday_saturday_weekend_counts_sunday_as_a_school_day():
    sch = school(timezone="Asia/Dubai", weekend_days=[4, 5])
    made = datetime(2025, 3, 6, 10, 0, tzinfo=ZoneInfo("Asia/Dubai"))  # a Thursday

    assert response_due(sch, Risk.HIGH, made) == datetime(2025, 3, 9, 10, 0,
                                                          tzinfo=ZoneInfo("Asia/Dubai"))


# -- the escalation ladder ----------------------------------------------------------------
def test_a_critical_ladder_climbs_at_the_deadline_then_half_an_hour_then_an_hour_more():
    sch = school()
    c = case(Risk.CRITICAL, london(2025, 3, 30, 0, 30), sch)  # across the clock change

    due = [escalation_due(c, level, sch) for level in (1, 2, 3)]

    start = c.deadline_start_dt
    assert [d - start for d in due] == [timedelta(hours=1), timedelta(hours=1.5),
                                        timedelta(hours=2.5)]
    assert next_escalation_after(c, 3, sch) is None


def test_a_school_day_ladder_adds_half_and_one_and_a_half_windows_in_school_time():
    sch = school()
    c = case(Risk.MEDIUM, london(2025, 3, 3, 10, 0), sch)  # Monday, due Thursday 10:00

    assert escalation_due(c, 1, sch) == london(2025, 3, 6, 10, 0).astimezone(UTC)
    # Half of three school days: a day and a half later.
    assert escalation_due(c, 2, sch) == london(2025, 3, 7, 22, 0).astimezone(UTC)
    # Four and a half school days: Fri, Mon, Tue, Wed, then half a day.
    assert escalation_due(c, 3, sch) == london(2025, 3, 12, 22, 0).astimezone(UTC)


def test_half_a_school_day_after_a_friday_deadline_does_not_land_on_the_weekend():
    sch = school()
    c = case(Risk.HIGH, london(2025, 3, 13, 15, 0), sch)  # Thursday, due Friday 15:00

    level2 = escalation_due(c, 2, sch).astimezone(LONDON)

    # Friday 15:00 to midnight is 9 hours; the other 3 come after the weekend.
    assert (level2.strftime("%a %H:%M")) == "Mon 03:00"
    # Level 3 is a whole window after level 2: one school day and a half after the deadline.
    assert escalation_due(c, 3, sch).astimezone(LONDON).strftime("%a %d %H:%M") == "Tue 18 03:00"


def test_a_ladder_across_the_spring_clock_change_keeps_wall_clock_times():
    sch = school()
    c = case(Risk.HIGH, london(2025, 3, 27, 15, 0), sch)  # Thursday, due Friday 15:00 GMT

    # Friday 15:00 GMT + 12 school hours: 9 on Friday, 3 on Monday, by then in BST.
    assert escalation_due(c, 2, sch) == london(2025, 3, 31, 3, 0).astimezone(UTC)
    assert escalation_due(c, 2, sch).astimezone(LONDON).tzname() == "BST"
    assert escalation_due(c, 3, sch) == london(2025, 4, 1, 3, 0).astimezone(UTC)


def test_add_school_time_counts_only_hours_of_school_days_including_holidays():
    sch = school(term_calendar=HALF_TERM)

    # Friday 14 Feb 20:00 + half a day: 4 h on Friday, the other 8 after half term.
    moment = add_school_time(sch, london(2025, 2, 14, 20, 0).astimezone(UTC), 0.5)

    assert moment == london(2025, 2, 24, 8, 0).astimezone(UTC)


# -- stale cases ----------------------------------------------------------------------------
def test_a_case_is_stale_after_the_schools_number_of_school_days():
    sch = school(stale_after_days=2)
    last = london(2025, 3, 6, 10, 0)  # Thursday

    assert not is_stale(sch, last.astimezone(UTC), london(2025, 3, 10, 9, 59).astimezone(UTC), 2)
    assert is_stale(sch, last.astimezone(UTC), london(2025, 3, 10, 10, 0).astimezone(UTC), 2)


def test_the_stale_cutoff_never_leaves_out_a_stale_case():
    """Every moment that is stale at ``now`` lies at or before the cutoff the scan queries."""
    sch = school(term_calendar=HALF_TERM)
    start = london(2025, 2, 1, 0, 0).astimezone(UTC)
    nows = [start + timedelta(days=12, hours=7 * i) for i in range(30)]
    for days in (1, 3):
        for now in nows:
            cutoff = stale_cutoff(sch, now, days)
            for h in range(0, 24 * 20, 5):
                last = start + timedelta(hours=h)
                if last <= now and is_stale(sch, last, now, days):
                    assert last <= cutoff, (days, now, last, cutoff)
            # On a school day the cutoff is exact: a moment after it is not yet stale.
            if is_school_day(sch, now.astimezone(LONDON).date()):
                assert is_stale(sch, cutoff, now, days)
                assert not is_stale(sch, cutoff + timedelta(minutes=1), now, days)


def test_add_school_days_from_a_school_day_keeps_the_time_of_day():
    sch = school()

    assert add_school_days(sch, london(2025, 3, 7, 16, 45).astimezone(UTC), 1) == \
        london(2025, 3, 10, 16, 45).astimezone(UTC)
