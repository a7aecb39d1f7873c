"""A school whose every dashboard figure was counted by hand, and a school that must never count.

The school is in Europe/London and the period is four weeks of British Summer Time,
Monday 7 April to Sunday 4 May 2025 (UTC+1 throughout), so a case reported at
23:30 UTC on a Sunday belongs to the next (Monday-starting) week, and one reported
at 23:30 UTC on the period's last day falls outside it.

"Now" is Monday 5 May 2025, 11:00 UTC (12:00 in London).

Weeks:  W1 = 7-13 Apr, W2 = 14-20 Apr, W3 = 21-27 Apr, W4 = 28 Apr - 4 May.

| case | reported (London)   | week | risk     | status             | kinds                | platforms          | year | first response      | due            | resolved        | assignee |
|------|---------------------|------|----------|--------------------|----------------------|--------------------|------|---------------------|----------------|-----------------|----------|
| c1   | Mon 7 Apr 09:00     | W1   | high     | resolved           | harassment           | instagram          | 7    | +4 h (met)          | 8 Apr 09:00    | +10 days        | B        |
| c2   | Wed 9 Apr 14:00     | W1   | medium   | in_progress        | harassment, rumours  | instagram,snapchat | 8    | +24 h (met)         | 14 Apr 14:00   |                 | A        |
| c3   | Mon 14 Apr 00:30    | W2   | critical | closed             | threats              | snapchat           | 9    | +0.5 h (met)        | +1 h           | +3 days         | B        |
| c4   | Tue 15 Apr 10:00    | W2   | high     | triaged            | image_sharing        | whatsapp           | -    | +48 h (late)        | 16 Apr 10:00   |                 | nobody   |
| c5   | Thu 17 Apr 16:00    | W2   | low      | new                | exclusion            | in_school          | 7    | none (due passed)   | 24 Apr 16:00   |                 | nobody   |
| c6   | Tue 22 Apr 11:00    | W3   | critical | awaiting_follow_up | hate, threats        | tiktok, discord    | 10   | +4.5 h (late)       | 22 Apr 12:00   |                 | A        |
| c7   | Wed 23 Apr 09:00    | W3   | medium   | resolved           | harassment           | tiktok             | 8    | +12 h (met)         | 28 Apr 09:00   | +6 days         | B        |
| c8   | Fri 25 Apr 15:00    | W3   | high     | new                | impersonation        | instagram          | 9    | none (due passed)   | 28 Apr 15:00   |                 | nobody   |
| c9   | Mon 28 Apr 08:00    | W4   | medium   | in_progress        | harassment           | whatsapp           | -    | +2 h (met)          | 1 May 08:00    |                 | A        |
| c10  | Tue 29 Apr 10:00    | W4   | critical | new                | other                | other              | 11   | none (due passed)   | 29 Apr 11:00   |                 | nobody   |
| c11  | Thu 1 May 12:00     | W4   | low      | in_progress        | rumours              | snapchat           | 7    | +24 h (met)         | 8 May 12:00    |                 | B        |
| c12  | Sat 3 May 10:00     | W4   | medium   | new                | exclusion            | roblox             | 8    | none (not yet due)  | 8 May 08:00    |                 | nobody   |
| c13  | Sun 4 May 22:30     | W4   | high     | new                | threats              | gaming_chat        | 9    | none (not yet due)  | 6 May 08:00    |                 | nobody   |
| o1   | Sun 6 Apr 23:30     | -    | medium   | in_progress        | harassment           | instagram          | 7    | 7 Apr 09:00         | 9 Apr          |                 | A        |
| o2   | Mon 5 May 00:30     | -    | critical | new                | threats              | instagram          | 10   | none (due passed)   | 5 May 01:30    |                 | nobody   |
| o3   | Fri 10 Jan 10:00    | -    | low      | closed             | rumours              | email              | 12   | +2 h                | 17 Jan         | 20 Jan          | B        |
| m1   | Thu 10 Apr 10:00    | W1   | medium   | closed, merged into c2 | harassment       | youtube            | 7    |                     |                |                 |          |

(c3 is 23:30 UTC on Sunday 13 April; o2 is 23:30 UTC on Sunday 4 May; o1, o2, o3 are
reported outside the period; m1 was merged away and never counts.)

Unread reporter messages: c2 2, c4 1, c7 (resolved) 1 -> 4.
Escalations: c5 at exactly now-7d and 24 Apr (both outside the 7 days); c8 x2, c10 x3,
o2 x1 inside -> 6 escalations on 3 cases.

Completed sessions (counsellor: case date outcome_total):
    A (Casey Counsellor): c2 10 Apr 20, 17 Apr 26, 24 Apr 29 (and 5 May 35, after the
        period); c6 23 Apr 30, 30 Apr 27; c9 29 Apr 18; o1 8 Apr 22, 15 Apr 12.
        Not counted: c9 6 May scheduled; c8 28 Apr missed.
    B (Robin Colleague): c7 24 Apr 25, 1 May 25; c1 9 Apr (unscored), 14 Apr 15, 16 Apr 31.
        Not counted: c9 30 Apr cancelled.
    D (also named Robin Colleague): c11 2 May (unscored).
Workload: A 8, B 5, D 1 (14).  Outcome changes: c2 +9, c6 -3, c7 0, c1 +16, o1 -10.

Repeat names: handle @meanie on c1, c2, c8 (and on the other school's b1); a student
"Jordan Pupil" on c4 and c9; @loner twice on c5 only; @ghost on c3 and on m1 (merged).
"""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.cases.identifier_models import CaseIdentifier, IdentifierKind
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, Risk, to_mask
from app.reporting.services import handle_digest, name_digest
from app.scheduling.models import FollowUpSession, SessionKind, SessionMode, SessionStatus
from tests.factories import AdminFactory, LeadFactory, SchoolFactory, StaffFactory, make_case
from tests.helpers import sign_in

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2025, 5, 5, 11, 0, tzinfo=UTC)
PERIOD = {"from": "2025-04-07", "to": "2025-05-04"}
WEEKS = ["2025-04-07", "2025-04-14", "2025-04-21", "2025-04-28"]


def london(month: int, day: int, hour: int, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


H = timedelta(hours=1)
D = timedelta(days=1)

#: label: reported, risk, status, kinds, platforms, year, first response, due, resolved,
#: assignee, unread messages
CASES = {
    "c1": (london(4, 7, 9), "high", "resolved", ["harassment"], ["instagram"], 7,
           4 * H, london(4, 8, 9), 10 * D, "B", 0),
    "c2": (london(4, 9, 14), "medium", "in_progress", ["harassment", "rumours"],
           ["instagram", "snapchat"], 8, 24 * H, london(4, 14, 14), None, "A", 2),
    "c3": (utc(4, 13, 23, 30), "critical", "closed", ["threats"], ["snapchat"], 9,
           0.5 * H, utc(4, 14, 0, 30), 3 * D, "B", 0),
    "c4": (london(4, 15, 10), "high", "triaged", ["image_sharing"], ["whatsapp"], None,
           48 * H, london(4, 16, 10), None, None, 1),
    "c5": (london(4, 17, 16), "low", "new", ["exclusion"], ["in_school"], 7,
           None, london(4, 24, 16), None, None, 0),
    "c6": (london(4, 22, 11), "critical", "awaiting_follow_up", ["hate", "threats"],
           ["tiktok", "discord"], 10, 4.5 * H, london(4, 22, 12), None, "A", 0),
    "c7": (london(4, 23, 9), "medium", "resolved", ["harassment"], ["tiktok"], 8,
           12 * H, london(4, 28, 9), 6 * D, "B", 1),
    "c8": (london(4, 25, 15), "high", "new", ["impersonation"], ["instagram"], 9,
           None, london(4, 28, 15), None, None, 0),
    "c9": (london(4, 28, 8), "medium", "in_progress", ["harassment"], ["whatsapp"], None,
           2 * H, london(5, 1, 8), None, "A", 0),
    "c10": (london(4, 29, 10), "critical", "new", ["other"], ["other"], 11,
            None, london(4, 29, 11), None, None, 0),
    "c11": (london(5, 1, 12), "low", "in_progress", ["rumours"], ["snapchat"], 7,
            24 * H, london(5, 8, 12), None, "B", 0),
    "c12": (london(5, 3, 10), "medium", "new", ["exclusion"], ["roblox"], 8,
            None, london(5, 8, 8), None, None, 0),
    "c13": (london(5, 4, 22, 30), "high", "new", ["threats"], ["gaming_chat"], 9,
            None, london(5, 6, 8), None, None, 0),
    "o1": (london(4, 6, 23, 30), "medium", "in_progress", ["harassment"], ["instagram"], 7,
           london(4, 7, 9) - london(4, 6, 23, 30), london(4, 9, 23, 30), None, "A", 0),
    "o2": (utc(5, 4, 23, 30), "critical", "new", ["threats"], ["instagram"], 10,
           None, utc(5, 5, 0, 30), None, None, 0),
    "o3": (london(1, 10, 10), "low", "closed", ["rumours"], ["email"], 12,
           2 * H, london(1, 17, 10), 10 * D, "B", 0),
    "m1": (london(4, 10, 10), "medium", "closed", ["harassment"], ["youtube"], 7,
           None, london(4, 15, 10), None, None, 0),
}
IN_PERIOD = [f"c{i}" for i in range(1, 14)]
HANDLES = {"c1": "@meanie", "c2": "@meanie", "c8": "@meanie", "c5": "@loner", "c3": "@ghost",
           "m1": "@ghost"}

#: (case, counsellor, start in London, status, outcome_total)
SESSIONS = [
    ("c2", "A", london(4, 10, 10), "completed", 20),
    ("c2", "A", london(4, 17, 10), "completed", 26),
    ("c2", "A", london(4, 24, 10), "completed", 29),
    ("c2", "A", london(5, 5, 9), "completed", 35),
    ("c6", "A", london(4, 23, 14), "completed", 30),
    ("c6", "A", london(4, 30, 14), "completed", 27),
    ("c9", "A", london(4, 29, 13), "completed", 18),
    ("c9", "A", london(5, 6, 13), "scheduled", None),
    ("c9", "B", london(4, 30, 9), "cancelled", None),
    ("o1", "A", london(4, 8, 10), "completed", 22),
    ("o1", "A", london(4, 15, 10), "completed", 12),
    ("c8", "A", london(4, 28, 16), "missed", None),
    ("c7", "B", london(4, 24, 11), "completed", 25),
    ("c7", "B", london(5, 1, 11), "completed", 25),
    ("c1", "B", london(4, 9, 15), "completed", None),
    ("c1", "B", london(4, 14, 15), "completed", 15),
    ("c1", "B", london(4, 16, 15), "completed", 31),
    ("c11", "D", london(5, 2, 14), "completed", None),
]

#: (case, when) of every escalation sent
ESCALATIONS = [
    ("c5", NOW - timedelta(days=7)), ("c5", london(4, 24, 17)),
    ("c8", utc(4, 28, 14)), ("c8", utc(4, 29, 2)),
    ("c10", utc(4, 29, 10)), ("c10", utc(4, 29, 10, 30)), ("c10", utc(4, 29, 11, 30)),
    ("o2", utc(5, 5, 0, 30)),
]


@dataclass
class World:
    school: object
    lead: object
    counsellor_a: object
    counsellor_b: object
    counsellor_d: object
    admin: object
    other_school: object
    other_lead: object
    cases: dict[str, Case] = field(default_factory=dict)
    other_cases: dict[str, Case] = field(default_factory=dict)

    def ref(self, *labels: str) -> list[str]:
        return sorted(self.cases[label].reference for label in labels)


def add_case(session, school, *, reported, risk, status, kinds, platforms, year,  # noqa: ANN001
             first_response, due, resolved, assignee, unread, handle=None) -> Case:
    """A case through the reporting service, then set to the state the table says."""
    case = make_case(session, school, kinds=kinds, platforms=platforms,
                     handles=[{"platform": "instagram", "handle": handle}] if handle else [])
    case.created_dt = case.deadline_start_dt = case.last_activity_dt = reported
    case.set_risk(Risk(risk))
    case.set_status(CaseStatus(status))
    case.kinds_mask = to_mask(IncidentKind(k) for k in kinds)
    case.platforms_mask = to_mask(Platform(p) for p in platforms)
    case.year_group = year
    case.first_response_dt = reported + first_response if first_response is not None else None
    case.response_due_dt = due
    case.next_escalation_dt = None
    case.resolved_dt = reported + resolved if resolved is not None else None
    if status in ("resolved", "closed") and case.resolved_dt is None:
        case.resolved_dt = reported + 5 * D
    case.closed_dt = case.resolved_dt if status == "closed" else None
    case.assignee_id = assignee.id if assignee is not None else None
    case.unread_reporter_messages = unread
    session.flush()
    return case


def add_session(session, case, counsellor, start, status, outcome_total):  # noqa: ANN001, ANN201
    row = FollowUpSession(school_id=case.school_id, case_id=case.id, counsellor_id=counsellor.id,
                          kind=SessionKind.TARGET_CHECK_IN, mode=SessionMode.IN_PERSON,
                          status=SessionStatus(status), location="Room 4",
                          outcome_total=outcome_total)
    row.set_time(start, 60)
    if status == "completed":
        row.completed_dt = start + H
    session.add(row)
    return row


def escalate(session, case, when) -> None:  # noqa: ANN001
    session.add(CaseEvent(school_id=case.school_id, case_id=case.id, kind=EventKind.ESCALATION,
                          created_dt=when, data={"level": 1}))


@pytest.fixture
def world(session) -> World:
    school = SchoolFactory(timezone="Europe/London", name="Hand Counted High")
    other = SchoolFactory(timezone="Europe/London", name="Elsewhere Academy")
    w = World(
        school=school, lead=LeadFactory(school=school, name="Lee Lead"),
        counsellor_a=StaffFactory(school=school, name="Casey Counsellor"),
        counsellor_b=StaffFactory(school=school, name="Robin Colleague"),
        counsellor_d=StaffFactory(school=school, name="Robin Colleague"),
        admin=AdminFactory(school=school, name="Ada Admin"),
        other_school=other, other_lead=LeadFactory(school=other, name="Otto Otherlead"),
    )
    staff = {"A": w.counsellor_a, "B": w.counsellor_b, "D": w.counsellor_d, None: None}
    for label, (reported, risk, status, kinds, platforms, year, first, due, resolved, who,
                unread) in CASES.items():
        w.cases[label] = add_case(
            session, school, reported=reported, risk=risk, status=status, kinds=kinds,
            platforms=platforms, year=year, first_response=first, due=due, resolved=resolved,
            assignee=staff[who], unread=unread, handle=HANDLES.get(label))
    w.cases["m1"].merged_into_id = w.cases["c2"].id
    # @loner is named twice on c5 (in the report and as a recorded person): still one case.
    session.add(CaseIdentifier(school_id=school.id, case_id=w.cases["c5"].id,
                               kind=IdentifierKind.HANDLE, source="person:1",
                               digest=handle_digest("instagram", "@loner")))
    for label in ("c4", "c9"):
        session.add(CaseIdentifier(school_id=school.id, case_id=w.cases[label].id,
                                   kind=IdentifierKind.STUDENT_NAME, source="person:2",
                                   digest=name_digest("Jordan Pupil")))
    for label, who, start, status, total in SESSIONS:
        add_session(session, w.cases[label], staff[who], start, status, total)
    for label, when in ESCALATIONS:
        escalate(session, w.cases[label], when)

    # The other school: reported in the period, urgent, unread, escalated, with sessions
    # by a counsellor of the same name, and naming @meanie too. None of it may count.
    their_counsellor = StaffFactory(school=other, name="Casey Counsellor")
    b1 = add_case(session, other, reported=london(4, 8, 10), risk="high", status="new",
                  kinds=["harassment"], platforms=["instagram"], year=7, first_response=None,
                  due=london(4, 9, 10), resolved=None, assignee=None, unread=5, handle="@meanie")
    b2 = add_case(session, other, reported=london(4, 20, 10), risk="critical", status="new",
                  kinds=["threats"], platforms=["tiktok"], year=None, first_response=H,
                  due=london(4, 20, 11), resolved=None, assignee=None, unread=0)
    b3 = add_case(session, other, reported=london(4, 30, 10), risk="medium",
                  status="in_progress", kinds=["exclusion"], platforms=["roblox"], year=9,
                  first_response=H, due=london(5, 5, 10), resolved=None,
                  assignee=their_counsellor, unread=0)
    w.other_cases = {"b1": b1, "b2": b2, "b3": b3}
    add_session(session, b3, their_counsellor, london(4, 30, 14), "completed", 10)
    add_session(session, b3, their_counsellor, london(5, 2, 14), "completed", 20)
    escalate(session, b1, utc(5, 1, 0))
    session.commit()
    return w


# -- HTTP ---------------------------------------------------------------------------------
@pytest.fixture
def frozen_now(monkeypatch):
    """Requests see "now" as NOW (the dashboard reads the clock once per request)."""
    monkeypatch.setattr("app.dashboard.views.utcnow", lambda: NOW)
    return NOW


_ADDRESSES = itertools.count(1)


def new_client(app):  # noqa: ANN001, ANN201
    """A test client with an address of its own, so sign-in rate limits never collide."""
    client = app.test_client()
    n = next(_ADDRESSES)
    client.environ_base["REMOTE_ADDR"] = f"10.250.{(n >> 8) & 255}.{n & 255}"
    return client


def signed_in(app, user):  # noqa: ANN001, ANN201
    client = new_client(app)
    response = sign_in(client, user)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


@pytest.fixture
def lead_client(app, world, frozen_now):
    return signed_in(app, world.lead)


@pytest.fixture
def empty_lead(app, session, frozen_now):
    """A lead of a school with no cases, sessions or escalations yet."""
    school = SchoolFactory(name="Brand New School")
    lead = LeadFactory(school=school)
    session.commit()
    return signed_in(app, lead)


def text(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True)


def figure(page: str, name: str) -> str:
    """The text of the element marked ``data-figure="name"`` (inside a link, if any)."""
    match = re.search(rf'data-figure="{re.escape(name)}"[^>]*>(?:\s*<a [^>]*>)?([^<]*)<', page)
    assert match, f"no data-figure={name!r} on the page"
    return match.group(1).strip()


def table_cells(page: str, chart: str) -> dict[tuple[str, str], tuple[int, str]]:
    """(series, label) -> (value, link) from the data table of one chart."""
    match = re.search(rf'<table data-table-for="{re.escape(chart)}">(.*?)</table>', page, re.S)
    assert match, f"no data table for the {chart} chart"
    cells = re.findall(r'<td data-cell="([^"]*)"><a href="([^"]*)">(\d+)</a></td>', match.group(1))
    out = {}
    for key, href, value in cells:
        series, label = html.unescape(key).split("|", 1)
        out[(series, label)] = (int(value), html.unescape(href))
    return out


def listed(response) -> list[str]:
    """The case references a "cases behind a figure" page lists, sorted."""
    page = text(response)
    assert response.status_code == 200, page[:300]
    refs = sorted(re.findall(r'<tr data-case="([^"]+)"', page))
    assert figure_count(page) == len(refs) and "data-cut" not in page
    return refs


def figure_count(page: str) -> int:
    return int(re.search(r"<span data-count>(\d+)</span>", page).group(1))
