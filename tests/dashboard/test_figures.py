"""Every dashboard figure against the hand-counted school of conftest.py."""

from __future__ import annotations

from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from app.cases.identifier_models import CaseIdentifier, IdentifierKind
from app.cases.models import Case
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, Risk
from app.dashboard import services as dash
from app.dashboard.exports import export_table, suppress
from app.errors import Forbidden
from app.reporting.services import handle_digest, name_digest
from tests.dashboard.conftest import NOW, PERIOD, WEEKS
from tests.factories import make_case


def filters(**args) -> dash.DashboardFilters:  # noqa: ANN003
    values = dict(PERIOD)
    values.update(args)
    return dash.DashboardFilters.parse(MultiDict(values), today=date(2025, 5, 5))


def trends(session, world, **args):  # noqa: ANN001, ANN003, ANN201
    return dash.trends(session, world.lead, filters(**args), now=NOW)


def workload(t) -> list[tuple[str, int]]:  # noqa: ANN001
    """(name, sessions); B and D share a name, so they are told apart as "B" and "D"."""
    return [(WHO.get(c.counsellor_id, c.name), c.sessions) for c in t.sessions_by_counsellor]


WHO: dict[int, str] = {}


@pytest.fixture(autouse=True)
def _who(world):
    WHO.clear()
    WHO.update({world.counsellor_a.id: "A", world.counsellor_b.id: "B",
                world.counsellor_d.id: "D"})


def test_now_figures(session, world):
    figures = dash.now_figures(session, world.lead, now=NOW)

    # open: c2 c4 c5 c6 c8 c9 c10 c11 c12 c13 o1 o2 (c1 c7 resolved; c3 o3 m1 closed)
    assert figures.open_total == 12
    assert figures.open_by_risk == {Risk.CRITICAL: 3,  # c6 c10 o2
                                    Risk.HIGH: 3,      # c4 c8 c13
                                    Risk.MEDIUM: 4,    # c2 c9 c12 o1
                                    Risk.LOW: 2}       # c5 c11
    assert figures.open_by_status == {CaseStatus.NEW: 6,  # c5 c8 c10 c12 c13 o2
                                      CaseStatus.TRIAGED: 1,  # c4
                                      CaseStatus.IN_PROGRESS: 4,  # c2 c9 c11 o1
                                      CaseStatus.AWAITING_FOLLOW_UP: 1}  # c6
    # unanswered and past due: c5 c8 c10 o2 (c12, c13 not yet due; c4 answered late)
    assert figures.overdue == 4
    # critical/high, open, nobody assigned: c4 c8 c10 c13 o2 (c6 is assigned)
    assert figures.unassigned_urgent == 5
    # c2 2 + c4 1 + c7 1 (resolved, still unread); the other school's 5 never count
    assert figures.unread_messages == 4
    # c8 x2, c10 x3, o2 x1; c5's are exactly 7 days old or older
    assert figures.escalations_7d == 6
    assert figures.escalated_cases_7d == 3


def test_trends_for_the_period(session, world):
    t = trends(session, world)

    assert t.total == 13  # c1..c13: not o1 (Sun 6 Apr 23:30), o2 (Mon 5 May 00:30), m1 (merged)
    assert [w.isoformat() for w in t.weeks] == WEEKS
    # weeks start on Monday in London: c3 (Sunday 23:30 UTC) is in W2, c13 in W4
    assert t.by_week_total == [2, 3, 3, 5]
    assert t.by_week_kind == {
        IncidentKind.HARASSMENT: [2, 0, 1, 1],  # c1 c2 | - | c7 | c9
        IncidentKind.THREATS: [0, 1, 1, 1],  # c3 | c6 | c13
        IncidentKind.EXCLUSION: [0, 1, 0, 1],  # c5 | c12
        IncidentKind.IMPERSONATION: [0, 0, 1, 0],  # c8
        IncidentKind.RUMOURS: [1, 0, 0, 1],  # c2 | c11
        IncidentKind.IMAGE_SHARING: [0, 1, 0, 0],  # c4
        IncidentKind.HATE: [0, 0, 1, 0],  # c6
        IncidentKind.OTHER: [0, 0, 0, 1],  # c10
    }
    assert t.by_week_platform == {
        Platform.INSTAGRAM: [2, 0, 1, 0],  # c1 c2 | c8
        Platform.SNAPCHAT: [1, 1, 0, 1],  # c2 | c3 | c11
        Platform.TIKTOK: [0, 0, 2, 0],  # c6 c7
        Platform.WHATSAPP: [0, 1, 0, 1],  # c4 | c9
        Platform.DISCORD: [0, 0, 1, 0],  # c6
        Platform.YOUTUBE: [0, 0, 0, 0],  # only m1, merged away
        Platform.ROBLOX: [0, 0, 0, 1],  # c12
        Platform.GAMING_CHAT: [0, 0, 0, 1],  # c13
        Platform.TEXT: [0, 0, 0, 0],
        Platform.EMAIL: [0, 0, 0, 0],  # only o3, long before
        Platform.IN_SCHOOL: [0, 1, 0, 0],  # c5
        Platform.OTHER: [0, 0, 0, 1],  # c10
    }
    assert t.by_kind == {IncidentKind.HARASSMENT: 4, IncidentKind.THREATS: 3,
                         IncidentKind.EXCLUSION: 2, IncidentKind.IMPERSONATION: 1,
                         IncidentKind.RUMOURS: 2, IncidentKind.IMAGE_SHARING: 1,
                         IncidentKind.HATE: 1, IncidentKind.OTHER: 1}
    assert t.by_platform[Platform.INSTAGRAM] == 3 and t.by_platform[Platform.SNAPCHAT] == 3
    assert t.by_platform[Platform.TIKTOK] == 2 and t.by_platform[Platform.WHATSAPP] == 2
    assert sum(t.by_platform.values()) == 15
    # in year order, "not given" last: Y7 c1 c5 c11; Y8 c2 c7 c12; Y9 c3 c8 c13; Y10 c6;
    # Y11 c10; not given c4 c9
    assert list(t.by_year_group.items()) == [(7, 3), (8, 3), (9, 3), (10, 1), (11, 1), (None, 2)]


def test_response_and_resolution_times_per_risk(session, world):
    t = trends(session, world)
    timing = {r.risk: r for r in t.timing}

    critical = timing[Risk.CRITICAL]  # c3 (0.5 h, met), c6 (4.5 h, late), c10 (none, past due)
    assert (critical.cases, critical.responded, critical.judged, critical.met) == (3, 2, 3, 1)
    assert critical.median_first_response_hours == 2.5
    assert critical.median_resolution_days == 3.0  # c3
    assert critical.deadline == "1 hour"

    high = timing[Risk.HIGH]  # c1 (4 h, met), c4 (48 h, late), c8 (none, past due), c13 (not due)
    assert (high.cases, high.responded, high.judged, high.met) == (4, 2, 3, 1)
    assert high.median_first_response_hours == 26.0
    assert high.median_resolution_days == 10.0  # c1
    assert high.deadline == "1 school day"

    medium = timing[Risk.MEDIUM]  # c2 24 h, c7 12 h, c9 2 h (all met), c12 not due
    assert (medium.cases, medium.responded, medium.judged, medium.met) == (4, 3, 3, 3)
    assert medium.median_first_response_hours == 12.0
    assert medium.median_resolution_days == 6.0  # c7
    assert medium.deadline == "3 school days"

    low = timing[Risk.LOW]  # c5 (none, past due), c11 (24 h, met)
    assert (low.cases, low.responded, low.judged, low.met) == (2, 1, 2, 1)
    assert low.median_first_response_hours == 24.0
    assert low.median_resolution_days is None
    assert low.deadline == "5 school days"

    assert (t.deadlines_met, t.deadlines_judged) == (6, 11)
    assert round(t.share_met * 100) == 55


def test_workload_and_outcomes(session, world):
    t = trends(session, world)

    # completed sessions held in the period, by counsellor (two people named alike stay apart)
    assert workload(t) == [("A", 8), ("B", 5), ("D", 1)]
    assert [c.name for c in t.sessions_by_counsellor] == [
        "Casey Counsellor", f"Robin Colleague ({world.counsellor_b.email})",
        f"Robin Colleague ({world.counsellor_d.email})"]
    assert t.sessions_total == 14
    # o1 -10 (reported before the period, sessions in it), c6 -3, c7 0, c2 +9, c1 +16
    assert t.outcome_changes == [-10, -3, 0, 9, 16]
    assert dash.outcome_distribution(t.outcome_changes) == [
        ("Worse by 5 or more", 1), ("Worse by 1 to 4", 1), ("No change", 1),
        ("Better by 1 to 4", 0), ("Better by 5 to 9", 1), ("Better by 10 or more", 1)]


def test_small_numbers_are_suppressed_below_five():
    assert [suppress(n) for n in (0, 1, 4, 5, 6, 120)] == [
        "fewer than 5", "fewer than 5", "fewer than 5", "5", "6", "120"]


def test_outcome_buckets_at_their_edges():
    assert [dash.outcome_bucket(c) for c in (-5, -4, -1, 0, 1, 4, 5, 9, 10)] == [
        "Worse by 5 or more", "Worse by 1 to 4", "Worse by 1 to 4", "No change",
        "Better by 1 to 4", "Better by 1 to 4", "Better by 5 to 9", "Better by 5 to 9",
        "Better by 10 or more"]


def test_repeat_names(session, world):
    repeats = dash.repeat_names(session, world.lead)

    # @meanie on c1 c2 c8 (the other school's b1 is not counted); Jordan Pupil on c4 c9.
    # Not repeats: @loner twice on c5 alone; @ghost on c3 and on m1, which was merged away.
    assert [(r.kind, sorted(r.references)) for r in repeats] == [
        (IdentifierKind.HANDLE, world.ref("c1", "c2", "c8")),
        (IdentifierKind.STUDENT_NAME, world.ref("c4", "c9")),
    ]
    assert [r.total for r in repeats] == [3, 2]
    assert repeats[0].case_ids == sorted(repeats[0].case_ids, reverse=True)  # newest first
    assert dash.repeat_names(session, world.other_lead) == []


def test_a_confidential_reporters_own_name_is_never_a_repeat_name(session, world):
    """As on the case page and in the search: who reported a case is the audited reveal's."""
    before = dash.repeat_names(session, world.lead)
    jordan = next(r for r in before if r.kind is IdentifierKind.STUDENT_NAME)
    # Jordan Pupil (named on c4 and c9) reports twice; Sam Smith reports and is named once.
    for name in ("Jordan Pupil", "jordan pupil", "Sam Smith"):
        make_case(session, world.school, is_anonymous=False, reporter_name=name, year_group=8,
                  contact="form 8C")
    session.add(CaseIdentifier(school_id=world.school.id, case_id=world.cases["c12"].id,
                               kind=IdentifierKind.STUDENT_NAME, source="person:3",
                               digest=name_digest("Sam Smith")))
    session.flush()

    after = dash.repeat_names(session, world.lead)

    assert [(r.kind, r.digest, r.total, r.references) for r in after] == [
        (r.kind, r.digest, r.total, r.references) for r in before]
    listed = dash.cases_behind(session, world.lead, filters(), dash.Drill(repeat=jordan.digest),
                               now=NOW)
    assert sorted(row.reference for row in listed.rows) == world.ref("c4", "c9")


def test_a_name_on_many_cases_shows_its_newest_and_counts_them_all(session, world):
    extra = [make_case(session, world.school) for _ in range(12)]
    for case in extra:
        session.add(CaseIdentifier(school_id=world.school.id, case_id=case.id,
                                   kind=IdentifierKind.HANDLE, source="report:0",
                                   digest=handle_digest("instagram", "@meanie")))
    session.flush()

    [meanie, _] = dash.repeat_names(session, world.lead, shown=10)

    assert meanie.total == 3 + 12
    assert meanie.case_ids == sorted(c.id for c in extra)[::-1][:10]
    assert meanie.references == [session.get(Case, i).reference for i in meanie.case_ids]


#: filter -> (reports, per week, workload, outcome changes), counted by hand
FILTERED = [
    # c1 c2 | c7 | c9; sessions in the period on harassment cases: A c2x3 c9x1 and o1x2
    # (reported before the period), B c1x3 c7x2; changes o1 -10, c7 0, c2 +9, c1 +16
    ({"kind": "harassment"}, 4, [2, 0, 1, 1],
     [("A", 6), ("B", 5)], [-10, 0, 9, 16]),
    # c6 c7; A c6x2, B c7x2 (a tie: by name); c6 -3, c7 0
    ({"platform": "tiktok"}, 2, [0, 0, 2, 0],
     [("A", 2), ("B", 2)], [-3, 0]),
    # c1 c5 c11; B c1x3, A o1x2 (year 7 too), D c11x1; o1 -10, c1 +16
    ({"year_group": "7"}, 3, [1, 1, 0, 1],
     [("B", 3), ("A", 2), ("D", 1)], [-10, 16]),
    # c4 c9; A c9x1 (one scored session only)
    ({"year_group": "none"}, 2, [0, 1, 0, 1], [("A", 1)], []),
    # c1 c4 c8 c13; B c1x3 (c8's session was missed)
    ({"risk": "high"}, 4, [1, 1, 1, 1], [("B", 3)], [16]),
    # W2 only: c3 (Sunday 23:30 UTC = Monday in London) c4 c5; A c2 17 Apr, o1 15 Apr,
    # B c1 14 and 16 Apr; only c1 has two scored sessions in it
    ({"from": "2025-04-14", "to": "2025-04-20"}, 3, [3],
     [("A", 2), ("B", 2)], [16]),
    # the period's last day: c13 (22:30 London) but not o2 (23:30 UTC = 00:30 next day)
    ({"from": "2025-05-04", "to": "2025-05-04"}, 1, [1], [], []),
]


def test_each_filter_changes_the_figures(session, world):
    for args, total, weeks, workload_, changes in FILTERED:
        t = trends(session, world, **args)

        assert t.total == total, args
        assert t.by_week_total == weeks, args
        assert workload(t) == workload_, args
        assert t.outcome_changes == changes, args


def test_filters_narrow_kinds_timing_and_years(session, world):
    t = trends(session, world, kind="harassment")
    timing = {r.risk: r for r in t.timing}
    assert t.by_kind[IncidentKind.HARASSMENT] == 4
    assert t.by_kind[IncidentKind.RUMOURS] == 1  # c2 is harassment and rumours
    assert (timing[Risk.HIGH].cases, timing[Risk.HIGH].met) == (1, 1)  # c1
    assert (timing[Risk.MEDIUM].cases, timing[Risk.MEDIUM].met) == (3, 3)  # c2 c7 c9
    assert timing[Risk.MEDIUM].median_first_response_hours == 12.0
    assert (t.deadlines_met, t.deadlines_judged) == (4, 4)
    assert t.by_year_group == {7: 1, 8: 2, None: 1}  # c1 | c2 c7 | c9

    t = trends(session, world, risk="critical")
    assert t.total == 3 and [r.cases for r in t.timing] == [3, 0, 0, 0]
    assert t.by_platform[Platform.SNAPCHAT] == 1  # c3 (c2, c11 are not critical)


def test_default_period_is_the_last_twelve_months_in_the_school_timezone(session, world):
    f = dash.DashboardFilters.parse(MultiDict(), today=date(2025, 5, 5))
    assert (f.start, f.end) == (date(2024, 5, 5), date(2025, 5, 5))
    t = dash.trends(session, world.lead, f, now=NOW)
    assert t.total == 16  # c1..c13, o1, o2, o3 (m1 merged away)
    assert len(t.weeks) == 54 and t.weeks[0] == date(2024, 4, 29)
    # the last week holds only today, Monday 5 May: o2 (00:30 in London)
    assert t.by_week_total[-2:] == [5, 1]


def test_the_other_school_sees_only_its_own(session, world):
    f = filters()
    t = dash.trends(session, world.other_lead, f, now=NOW)
    assert t.total == 3
    assert [(c.name, c.sessions) for c in t.sessions_by_counsellor] == [("Casey Counsellor", 2)]
    assert t.outcome_changes == [10]
    figures = dash.now_figures(session, world.other_lead, now=NOW)
    assert (figures.open_total, figures.unread_messages, figures.escalations_7d) == (3, 5, 1)


def test_cases_behind_each_now_figure(session, world):
    def behind(show, **extra):  # noqa: ANN001, ANN003, ANN202
        drill = dash.Drill.parse(MultiDict({"show": show, **extra}))
        found = dash.cases_behind(session, world.lead, filters(**extra), drill, now=NOW)
        assert found.total == len(found.rows)
        return sorted(r.reference for r in found.rows)

    assert behind("open") == world.ref("c2", "c4", "c5", "c6", "c8", "c9", "c10", "c11",
                                       "c12", "c13", "o1", "o2")
    assert behind("open", risk="critical") == world.ref("c6", "c10", "o2")
    assert behind("open", status="new") == world.ref("c5", "c8", "c10", "c12", "c13", "o2")
    assert behind("overdue") == world.ref("c5", "c8", "c10", "o2")
    assert behind("unassigned-urgent") == world.ref("c4", "c8", "c10", "c13", "o2")
    assert behind("unread") == world.ref("c2", "c4", "c7")
    assert behind("escalated") == world.ref("c8", "c10", "o2")


def test_a_long_list_shows_its_first_cases_and_counts_them_all(session, world):
    found = dash.cases_behind(session, world.lead, filters(), dash.Drill(), now=NOW, limit=5)
    assert found.total == 13 and found.is_cut
    assert [r.reference for r in found.rows] == [world.cases[f"c{i}"].reference
                                                 for i in range(1, 6)]


def test_services_refuse_anyone_but_a_lead(session, world):
    f = filters()
    for user in (world.counsellor_a, world.admin):
        for call in (lambda u: dash.now_figures(session, u, now=NOW),
                     lambda u: dash.trends(session, u, f, now=NOW),
                     lambda u: dash.repeat_names(session, u),
                     lambda u: export_table(session, u, f, "cases", now=NOW),
                     lambda u: dash.cases_behind(session, u, f, dash.Drill(), now=NOW)):
            with pytest.raises(Forbidden):
                call(user)
