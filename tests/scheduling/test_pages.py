"""The session pages over HTTP: scheduling form, session page, case page part, chart, week."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.db import utcnow
from app.scheduling import services
from app.scheduling.models import FollowUpSession, SessionStatus
from tests.factories import AdminFactory, SchoolFactory, StaffFactory, make_case
from tests.helpers import csrf_token, sign_in
from tests.scheduling.conftest import (audit_actions, book, completion, hours, reminders,
                                       session_events)


def _local(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M")


def _future_local(days: int = 3, hour: int = 10) -> datetime:
    """A London wall-clock time safely in the future, away from any clock change."""
    from zoneinfo import ZoneInfo

    day = (utcnow().astimezone(ZoneInfo("Europe/London")) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, 0)


def _completed(session, user, case, *, days_ago: int, outcome, rating):  # noqa: ANN001
    """A session that took place ``days_ago`` days ago, recorded with these scores."""
    now = utcnow()
    fs = book(session, user, case, _local_naive(now - timedelta(days=days_ago)),
              now=now - timedelta(days=days_ago, hours=2))
    services.complete_session(session, user, fs.id, completion(outcome=outcome, rating=rating),
                              now=fs.start_dt + hours(1))
    return fs


def _local_naive(moment: datetime) -> datetime:
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo("Europe/London")).replace(tzinfo=None)
    return local.replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def signed_in(client, session, counsellor):
    session.commit()
    sign_in(client, counsellor)
    return client


def test_schedule_through_the_form(signed_in, session, case, counsellor):
    page = signed_in.get(f"/staff/cases/{case.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="sessions"' in html and "Schedule a session" in html
    start = _future_local()
    token = csrf_token(signed_in, f"/staff/sessions/case/{case.id}/new")
    response = signed_in.post(f"/staff/sessions/case/{case.id}/new", data={
        "csrf_token": token, "start": _local(start), "duration": "45", "kind": "parent",
        "mode": "phone", "location": "Phone", "counsellor_id": str(counsellor.id)})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert response.headers["Location"].endswith(f"/staff/cases/{case.id}#sessions")
    fs = session.execute(select(FollowUpSession)).scalar_one()
    assert fs.duration_minutes == 45 and fs.kind.value == "parent" and fs.location == "Phone"
    assert fs.start_dt.astimezone(counsellor.school.tz).replace(tzinfo=None) == start
    assert len(reminders(session)) == 2
    case_page = signed_in.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert f'data-session="{fs.id}"' in case_page and "Parent/carer meeting" in case_page


def test_schedule_form_errors_are_shown_at_the_field_and_nothing_is_stored(signed_in, session,
                                                                            case):
    token = csrf_token(signed_in, f"/staff/sessions/case/{case.id}/new")
    base = {"csrf_token": token, "duration": "60", "kind": "target_check_in",
            "mode": "in_person", "location": ""}
    past = signed_in.post(f"/staff/sessions/case/{case.id}/new",
                          data={**base, "start": "2020-01-06T10:00"})
    assert past.status_code == 422
    assert "A session cannot start in the past" in past.get_data(as_text=True)
    garbled = signed_in.post(f"/staff/sessions/case/{case.id}/new",
                             data={**base, "start": "next tuesday"})
    assert garbled.status_code == 422
    assert "Enter a date and time" in garbled.get_data(as_text=True)
    long = signed_in.post(f"/staff/sessions/case/{case.id}/new",
                          data={**base, "start": _local(_future_local()), "duration": "600"})
    assert long.status_code == 422 and "between 15 and 240" in long.get_data(as_text=True)
    assert session.execute(select(FollowUpSession)).first() is None
    assert reminders(session) == []


def test_overlap_through_the_form_says_so(signed_in, session, case, counsellor):
    start = _future_local()
    book(session, counsellor, case, start, now=utcnow())
    session.commit()
    token = csrf_token(signed_in, f"/staff/sessions/case/{case.id}/new")
    response = signed_in.post(f"/staff/sessions/case/{case.id}/new", data={
        "csrf_token": token, "start": _local(start + timedelta(minutes=30)), "duration": "60",
        "kind": "group", "mode": "in_person"})
    assert response.status_code == 422
    assert "overlaps another session" in response.get_data(as_text=True)
    assert len(session.execute(select(FollowUpSession)).all()) == 1


def test_complete_through_the_session_page(signed_in, session, case, counsellor):
    now = utcnow()
    fs = book(session, counsellor, case, _local_naive(now - hours(1)), now=now - hours(3))
    session.commit()
    page = signed_in.get(f"/staff/sessions/{fs.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Record the session" in html
    assert counsellor.school.outcome_labels[0] in html
    audit = session.execute(select(AuditEntry).where(AuditEntry.action == "session.viewed")
                            ).scalar_one()
    assert audit.target == f"session:{fs.id}"
    token = csrf_token(signed_in, f"/staff/sessions/{fs.id}")
    form = {"csrf_token": token, "notes": "Went well.", "strategies": "Buddy at break.",
            **{f"outcome_{i}": str(i + 4) for i in range(1, 5)},
            **{f"session_{i}": "9" for i in range(1, 5)}}
    bad = signed_in.post(f"/staff/sessions/{fs.id}/complete", data={**form, "session_3": "11"})
    assert bad.status_code == 422
    bad_html = bad.get_data(as_text=True)
    assert "must be from 0 to 10" in bad_html and 'aria-invalid="true"' in bad_html
    session.expire_all()
    assert session.get(FollowUpSession, fs.id).status is SessionStatus.SCHEDULED
    done = signed_in.post(f"/staff/sessions/{fs.id}/complete", data=form)
    assert done.status_code == 302
    session.expire_all()
    stored = session.get(FollowUpSession, fs.id)
    assert stored.status is SessionStatus.COMPLETED
    assert (stored.outcome_total, stored.session_total) == (5 + 6 + 7 + 8, 36)
    again = signed_in.post(f"/staff/sessions/{fs.id}/cancel",
                           data={"csrf_token": token, "reason": ""})
    assert again.status_code == 409
    assert "already completed" in again.get_data(as_text=True)
    shown = signed_in.get(f"/staff/sessions/{fs.id}").get_data(as_text=True)
    assert "Went well." in shown and "Buddy at break." in shown


@pytest.mark.parametrize("action,form,status", [
    ("reschedule", {"start": "", "duration": "60"}, 422),  # the form is refused
    ("cancel", {"reason": "x" * (services.MAX_TEXT + 1)}, 422),
    ("cancel", {"reason": "Off sick."}, 409),  # the service refuses: already completed
    ("missed", {}, 409),
    ("complete", {"notes": "Again."}, 409),
])
def test_a_refused_action_shows_the_notes_only_as_an_audited_view(signed_in, session, case,
                                                                   counsellor, action, form,
                                                                   status):
    fs = _completed(session, counsellor, case, days_ago=2, outcome=(5, 5, 5, 5),
                    rating=(9, 9, 9, 9))
    session.commit()
    token = csrf_token(signed_in, "/staff/password")  # not the session page: no view yet

    def state() -> tuple:
        session.expire_all()
        stored = session.get(FollowUpSession, fs.id)
        return (stored.status, stored.start_dt, stored.duration_minutes, stored.notes,
                session_events(session, case.id),
                [a for a in audit_actions(session, case.id) if a != "session.viewed"])

    before = state()
    response = signed_in.post(f"/staff/sessions/{fs.id}/{action}",
                              data={"csrf_token": token, **form})

    assert response.status_code == status
    assert "Talked about lunchtimes." in response.get_data(as_text=True)  # the notes
    viewed = session.execute(select(AuditEntry).where(
        AuditEntry.action == "session.viewed")).scalars().all()
    assert [(a.actor_id, a.case_id, a.target) for a in viewed] == [
        (counsellor.id, case.id, f"session:{fs.id}")]
    assert state() == before


def test_reschedule_and_cancel_through_the_session_page(signed_in, session, case, counsellor):
    fs = book(session, counsellor, case, _future_local(days=4), now=utcnow())
    session.commit()
    token = csrf_token(signed_in, f"/staff/sessions/{fs.id}")
    new_start = _future_local(days=5, hour=11)
    moved = signed_in.post(f"/staff/sessions/{fs.id}/reschedule", data={
        "csrf_token": token, "start": _local(new_start), "duration": "30", "location": "Room 2"})
    assert moved.status_code == 302
    session.expire_all()
    stored = session.get(FollowUpSession, fs.id)
    assert stored.start_dt.astimezone(counsellor.school.tz).replace(tzinfo=None) == new_start
    assert stored.duration_minutes == 30
    cancelled = signed_in.post(f"/staff/sessions/{fs.id}/cancel",
                               data={"csrf_token": token, "reason": "Off sick."})
    assert cancelled.status_code == 302
    session.expire_all()
    assert session.get(FollowUpSession, fs.id).status is SessionStatus.CANCELLED
    assert reminders(session) == []


# -- chart -----------------------------------------------------------------------------
def test_chart_svg_and_the_data_table(signed_in, session, case, counsellor):
    _completed(session, counsellor, case, days_ago=9, outcome=(3, 4, 5, 6), rating=(7, 8, 9, 9))
    _completed(session, counsellor, case, days_ago=2, outcome=(8, 9, 8, 9), rating=(10, 9, 10, 9))
    session.commit()
    response = signed_in.get(f"/staff/sessions/case/{case.id}/chart.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "no-store"
    svg = response.get_data(as_text=True)
    assert svg.lstrip().startswith("<svg") and "<script" not in svg
    values = re.findall(r'<desc class="value">[^<]*: (\d+)</desc>', svg)
    assert values == ["18", "34", "33", "38"]  # the outcome series, then the session series
    assert "Outcome cut-off (32)" in svg and "Session cut-off (36)" in svg
    assert session.execute(select(AuditEntry).where(AuditEntry.action == "case.chart_viewed")
                           ).scalar_one().case_id == case.id

    page = signed_in.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert f'src="/staff/sessions/case/{case.id}/chart.svg"' in page
    table = page[page.index("data-outcome-table"):]
    table = table[:table.index("</table>")]
    assert re.findall(r"data-outcome-total>(\d+)", table) == ["18", "34"]
    assert re.findall(r"data-session-total>(\d+)", table) == ["33", "38"]
    assert "cut-off 32" in table and "cut-off 36" in table
    assert table.count("below cut-off") == 2  # 18 < 32 and 33 < 36


def test_chart_follows_the_schools_cutoffs(signed_in, session, school, case, counsellor):
    school.outcome_cutoff, school.session_cutoff = 25, 30
    _completed(session, counsellor, case, days_ago=2, outcome=(5, 5, 5, 5), rating=(9, 9, 9, 9))
    session.commit()
    svg = signed_in.get(f"/staff/sessions/case/{case.id}/chart.svg").get_data(as_text=True)
    assert "Outcome cut-off (25)" in svg and "Session cut-off (30)" in svg


def test_chart_of_another_schools_case_is_not_found(signed_in, session):
    foreign = make_case(session, SchoolFactory())
    session.commit()
    assert signed_in.get(f"/staff/sessions/case/{foreign.id}/chart.svg").status_code == 404
    assert signed_in.get(f"/staff/sessions/case/{foreign.id}/new").status_code == 404


def test_the_case_page_renders_under_the_strict_csp(signed_in, session, case, counsellor):
    _completed(session, counsellor, case, days_ago=2, outcome=(5, 5, 5, 5), rating=(9, 9, 9, 9))
    session.commit()
    page = signed_in.get(f"/staff/cases/{case.id}")
    csp = page.headers["Content-Security-Policy"]
    assert "img-src 'self'" in csp and "style-src 'self'" in csp
    html = page.get_data(as_text=True)
    start = html.index('id="sessions"')
    section = html[start:html.index("</section>", start)]
    # The chart is an image from our own origin; the section has no inline script or style.
    assert "<script" not in section and "style=" not in section and "<svg" not in section


# -- who may ---------------------------------------------------------------------------
def test_admin_only_account_is_forbidden(client, session, school, case):
    admin = AdminFactory(school=school)
    session.commit()
    sign_in(client, admin)
    assert client.get(f"/staff/sessions/case/{case.id}/chart.svg").status_code == 403
    assert client.get(f"/staff/sessions/case/{case.id}/new").status_code == 403
    assert client.get("/staff/sessions/week").status_code == 403
    assert client.get("/staff/sessions/calendar").status_code == 403


def test_counsellor_cannot_schedule_on_someone_elses_case_over_http(client, session, school,
                                                                   case):
    colleague = StaffFactory(school=school)
    session.commit()
    sign_in(client, colleague)
    token = csrf_token(client, "/staff/sessions/calendar")
    response = client.post(f"/staff/sessions/case/{case.id}/new", data={
        "csrf_token": token, "start": _local(_future_local()), "duration": "60",
        "kind": "group", "mode": "in_person"})
    assert response.status_code == 403
    assert session.execute(select(FollowUpSession)).first() is None
    page = client.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "Schedule a session" not in page


def test_another_schools_session_page_is_not_found(client, session, case, counsellor):
    fs = book(session, counsellor, case, _future_local(), now=utcnow())
    outsider = StaffFactory(school=SchoolFactory())
    session.commit()
    sign_in(client, outsider)
    assert client.get(f"/staff/sessions/{fs.id}").status_code == 404
    token = csrf_token(client, "/staff/sessions/calendar")
    assert client.post(f"/staff/sessions/{fs.id}/cancel",
                       data={"csrf_token": token}).status_code == 404
    session.expire_all()
    assert session.get(FollowUpSession, fs.id).status is SessionStatus.SCHEDULED


# -- My week ---------------------------------------------------------------------------
def test_my_week_shows_only_my_sessions_of_that_week(signed_in, session, school, case,
                                                     counsellor, lead):
    monday = _future_local(days=14)
    monday -= timedelta(days=monday.weekday())
    now = utcnow()
    mine_tue = book(session, counsellor, case, monday + timedelta(days=1, hours=-1), now=now)
    mine_sun = book(session, counsellor, case, monday + timedelta(days=6, hours=8), now=now)
    mine_next = book(session, counsellor, case, monday + timedelta(days=7, hours=-1), now=now)
    theirs = book(session, lead, make_case(session, school),
                  monday + timedelta(days=2), now=now)
    session.commit()
    week = services.iso_week(monday.date())
    response = signed_in.get(f"/staff/sessions/week?week={week}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    shown = {int(x) for x in re.findall(r'data-session="(\d+)"', html)}
    assert shown == {mine_tue.id, mine_sun.id}
    assert mine_next.id not in shown and theirs.id not in shown
    assert case.reference in html and f"/staff/cases/{case.id}" in html
    assert mine_tue.start_dt.astimezone(counsellor.school.tz).strftime("%H:%M") in html
    nxt = signed_in.get(f"/staff/sessions/week?week={services.iso_week(monday.date() + timedelta(days=7))}")
    assert re.findall(r'data-session="(\d+)"', nxt.get_data(as_text=True)) == [str(mine_next.id)]


def test_my_week_with_a_bad_week_says_how_to_write_it(signed_in):
    response = signed_in.get("/staff/sessions/week?week=2025-W60")
    assert response.status_code == 422
    assert "for example 2025-W14" in response.get_data(as_text=True)


@pytest.mark.parametrize("week", ["9999-W52", "0001-W01", "1999-W52", "2101-W01"])
def test_my_week_years_away_says_which_years_it_shows(signed_in, week):
    response = signed_in.get(f"/staff/sessions/week?week={week}")
    assert response.status_code == 422
    assert "between 2000 and 2100" in response.get_data(as_text=True)


@pytest.mark.parametrize("week, heading", [("2000-W01", "03 Jan to 09 Jan 2000"),
                                           ("2100-W52", "27 Dec to 02 Jan 2101")])
def test_my_week_at_the_edges_of_the_range_shows(signed_in, week, heading):
    response = signed_in.get(f"/staff/sessions/week?week={week}")
    assert response.status_code == 200
    assert f"My week: {heading}" in response.get_data(as_text=True)


@pytest.mark.parametrize("start, message", [("9999-12-31T23:30", "two years ahead"),
                                            ("0001-01-01T00:30", "in the past")])
def test_a_start_years_away_through_the_form_says_so(signed_in, session, case, start, message):
    token = csrf_token(signed_in, f"/staff/sessions/case/{case.id}/new")
    response = signed_in.post(f"/staff/sessions/case/{case.id}/new", data={
        "csrf_token": token, "start": start, "duration": "60", "kind": "group",
        "mode": "in_person"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert session.execute(select(FollowUpSession)).first() is None


def test_an_expired_form_changes_nothing_and_says_why(signed_in, session, case, counsellor):
    fs = book(session, counsellor, case, _future_local(), now=utcnow())
    session.commit()
    response = signed_in.post(f"/staff/sessions/{fs.id}/cancel", data={"csrf_token": "stale"})
    assert response.status_code == 400  # CSRFProtect answers before the view runs
    assert "This form expired" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(FollowUpSession, fs.id).status is SessionStatus.SCHEDULED
