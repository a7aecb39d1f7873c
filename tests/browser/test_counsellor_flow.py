"""A counsellor works a brand-new report end to end: risk, take, reply, sessions, outcome chart."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, text, update

pytestmark = pytest.mark.browser

COUNSELLOR = "counsellor@demo.example"
SCHOOL_TZ = ZoneInfo("Europe/London")
SCREENSHOT = "/tmp/case_flow.png"
#: Distinctive, so the case page shows exactly this report.
DETAILS = "A fake account called lanternfish_77 copies my photos and posts cruel captions."
RISK_REASON = "The account has posted a photo of the student's home street."
REPLY = "Thank you. Please come to the pastoral office at morning break on Monday."
#: Two completed sessions: (start-of-session ratings, end-of-session ratings, notes, strategies).
SESSIONS = [
    ([3, 4, 2, 5], [6, 7, 6, 7], "First meeting: upset, not sleeping well.",
     "Screenshot and report every post; tell the form tutor."),
    ([6, 7, 5, 7], [8, 9, 8, 9], "The account was taken down; feeling safer at school.",
     "Keep the check-ins weekly; mute rather than reply."),
]


# -- the database ---------------------------------------------------------------------
def _newest_report_id(server_db) -> int:  # noqa: ANN001
    with server_db.connect() as conn:
        return conn.execute(text("SELECT coalesce(max(id), 0) FROM report")).scalar_one()


def _case_of_new_report(server_db, after_id: int) -> dict:  # noqa: ANN001
    """The one case made by a report newer than ``after_id`` (the details are encrypted)."""
    with server_db.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.id, c.reference, c.risk FROM report r JOIN case_file c ON c.id = r.case_id "
            "WHERE r.id > :after ORDER BY r.created_dt DESC, r.id DESC"),
            {"after": after_id}).mappings().all()
    assert len(rows) == 1, f"expected one new report, found {len(rows)}"
    return dict(rows[0])


def _case_state(server_db, case_id: int) -> dict:  # noqa: ANN001
    with server_db.connect() as conn:
        case = conn.execute(text(
            "SELECT c.risk, c.assignee_id, c.first_response_dt, u.id AS counsellor_id "
            "FROM case_file c JOIN staff_user u ON u.school_id = c.school_id "
            "AND u.email = :email WHERE c.id = :id"),
            {"email": COUNSELLOR, "id": case_id}).mappings().one()
        events = conn.execute(text("SELECT kind FROM case_event WHERE case_id = :id ORDER BY id"),
                              {"id": case_id}).scalars().all()
        actions = conn.execute(text("SELECT action FROM audit_entry WHERE case_id = :id "
                                    "ORDER BY id"), {"id": case_id}).scalars().all()
    return {**case, "events": events, "actions": actions}


def _sessions(server_db, case_id: int) -> list[dict]:  # noqa: ANN001
    """The case's sessions, read through the model's columns so times come back aware UTC."""
    from app.scheduling.models import FollowUpSession

    t = FollowUpSession.__table__
    with server_db.connect() as conn:
        rows = conn.execute(select(
            t.c.id, t.c.start_dt, t.c.end_dt, t.c.duration_minutes, t.c.kind, t.c.mode,
            t.c.location, t.c.status, t.c.counsellor_id, t.c.outcome_scores, t.c.session_scores,
            t.c.outcome_total, t.c.session_total, t.c.completed_dt,
        ).where(t.c.case_id == case_id).order_by(t.c.id)).mappings().all()
    return [dict(r) for r in rows]


def _reminders(server_db, session_id: int) -> list[dict]:  # noqa: ANN001
    """The outbox rows reminding anyone of one session (keys start with kind and session id)."""
    with server_db.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT kind, status, recipient_staff_id FROM notification "
            "WHERE key LIKE :staff OR key LIKE :reporter ORDER BY id"),
            {"staff": f"session_reminder:{session_id}:%",
             "reporter": f"session_reminder_reporter:{session_id}:%"}).mappings()]


def _move_into_the_past(server_db, session_id: int, start: datetime) -> None:
    """Put a session's start behind us: a session can only be completed once it has begun.

    The service refuses to book a past start, and the test cannot wait an hour, so the
    row is changed directly (through the model's columns: SQLite or PostgreSQL alike).
    """
    from app.scheduling.models import FollowUpSession

    t = FollowUpSession.__table__
    with server_db.begin() as conn:
        minutes = conn.execute(select(t.c.duration_minutes).where(t.c.id == session_id)
                               ).scalar_one()
        conn.execute(update(t).where(t.c.id == session_id).values(
            start_dt=start, end_dt=start + timedelta(minutes=minutes)))


def _raw_bytes(value: object) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]


def _next_ten_oclock() -> date:
    """Tomorrow, or the day after when tomorrow's 10:00 is under a day away.

    Both reminders (24 hours and 1 hour before) are queued only for a start more than
    a day ahead; from 10:00 London time on, tomorrow's 10:00 is not.
    """
    now = datetime.now(SCHOOL_TZ)
    day = now.date() + timedelta(days=1)
    if datetime.combine(day, time(10), tzinfo=SCHOOL_TZ) - now < timedelta(hours=25):
        day += timedelta(days=1)
    return day


# -- the pages ------------------------------------------------------------------------
def _student_reports(page: Page) -> None:
    page.goto("/s/demo/report")
    page.get_by_role("group", name="Is anyone in danger right now?").get_by_label(
        "No", exact=True).check()
    page.get_by_role("group", name="Is anyone thinking about hurting themselves?").get_by_label(
        "No", exact=True).check()
    page.get_by_label("What happened?").fill(DETAILS)
    page.get_by_label("Harassment or mean messages").check()
    page.get_by_label("Instagram").check()
    page.get_by_label("It is happening to me").check()
    page.get_by_role("button", name="Send my report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your report has been sent")


def _sign_in(page: Page, password: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("Email address").fill(COUNSELLOR)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Triage queue")


def _flash(page: Page, message: str):  # noqa: ANN202
    return page.get_by_role("status").filter(has_text=message)


def _schedule(page: Page, day: date, *, kind: str, mode: str, location: str) -> None:
    form = page.get_by_role("form", name="Schedule a session")
    form.get_by_label("Starts").fill(f"{day.isoformat()}T10:00")
    form.get_by_label("Length in minutes").fill("45")
    form.get_by_label("Kind of session").select_option(label=kind)
    form.get_by_label("How you will meet").select_option(label=mode)
    form.get_by_label("Where").fill(location)
    form.get_by_role("button", name="Schedule session").click()
    expect(_flash(page, f"Session booked for {day:%a %d %b %Y}, 10:00.")).to_be_visible()


def _complete(page: Page, case_id: int, session_id: int, outcome: list[int],
              rating: list[int], notes: str, strategies: str) -> None:
    """Open the session from the case page and record it with its notes and eight ratings."""
    from app.schools.models import DEFAULT_OUTCOME_LABELS, DEFAULT_SESSION_LABELS

    page.goto(f"/staff/cases/{case_id}#sessions")
    row = page.locator(f"tr[data-session='{session_id}']")
    expect(row).to_have_attribute("data-session-status", "scheduled")
    row.get_by_role("link", name=re.compile("^Record or change")).click()
    expect(page).to_have_url(re.compile(rf"/staff/sessions/{session_id}$"))
    form = page.locator("form").filter(
        has=page.get_by_role("button", name="Record as completed"))
    start = form.get_by_role("group", name=re.compile("^At the start"))
    end = form.get_by_role("group", name=re.compile("^At the end"))
    for label, score in zip(DEFAULT_OUTCOME_LABELS, outcome):
        start.get_by_label(label, exact=True).fill(str(score))
    for label, score in zip(DEFAULT_SESSION_LABELS, rating):
        end.get_by_label(label, exact=True).fill(str(score))
    form.get_by_label("Session notes").fill(notes)
    form.get_by_label("Strategies agreed").fill(strategies)
    form.get_by_role("button", name="Record as completed").click()
    expect(_flash(page, "Session recorded.")).to_be_visible()
    expect(page.locator("dd[data-session-status]")).to_contain_text("Completed")
    expect(page.locator("td[data-outcome-total]")).to_have_text(f"{sum(outcome)} of 40")
    expect(page.locator("td[data-session-total]")).to_have_text(f"{sum(rating)} of 40")
    expect(page.get_by_text(notes)).to_be_visible()


def test_counsellor_works_a_new_report_from_the_queue_to_the_outcome_chart(
        page: Page, new_context, live_server, server_db) -> None:  # noqa: ANN001
    # 1. A student reports through the web form, in a browser of their own.
    newest = _newest_report_id(server_db)
    _student_reports(new_context().new_page())
    case = _case_of_new_report(server_db, newest)
    reference, case_id = case["reference"], case["id"]
    before = _case_state(server_db, case_id)
    assert before["risk"] != "high"
    assert before["assignee_id"] is None and before["first_response_dt"] is None

    # 2. The counsellor finds it in the queue by its reference and opens it.
    _sign_in(page, live_server.demo_password)
    page.get_by_label("Search").fill(reference)
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tr[data-case]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-case", reference)
    expect(rows.first).to_contain_text("Unassigned")
    rows.first.get_by_role("link", name=reference).click()

    expect(page).to_have_url(re.compile(rf"/staff/cases/{case_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {reference}")
    expect(page.get_by_role("heading", name="What happened")).to_be_visible()
    expect(page.locator("[data-report-details]")).to_have_text(DETAILS)
    expect(page.locator("[data-assignee]")).to_have_text("Unassigned")
    assert _case_state(server_db, case_id)["actions"][len(before["actions"]):] == ["case.viewed"]

    # 3. Risk to High, with a reason.
    page.get_by_label("New risk").select_option(label="High")
    page.get_by_label("Why the risk is changing").fill(RISK_REASON)
    page.get_by_role("button", name="Change risk").click()

    expect(_flash(page, "The risk has been changed")).to_be_visible()
    expect(page.locator("[data-risk]")).to_have_text("High")
    expect(page.locator("[data-risk]")).to_have_class(re.compile(r"\brisk-high\b"))
    risk_entry = page.locator("li[data-event=risk_changed]")
    expect(risk_entry).to_have_count(1)
    expect(risk_entry).to_contain_text("Risk changed by Casey Counsellor")
    expect(risk_entry).to_contain_text("→ High")
    expect(risk_entry).to_contain_text(f"Reason: {RISK_REASON}")
    risked = _case_state(server_db, case_id)
    assert risked["risk"] == "high"
    # Any staff action is the first response: the reporter has been heard.
    assert risked["first_response_dt"] is not None and risked["assignee_id"] is None
    assert "case.risk_changed" in risked["actions"][len(before["actions"]):]

    # 4. Take it and reply to the reporter.
    page.get_by_role("button", name="Take this case").click()
    expect(_flash(page, "You have taken this case.")).to_be_visible()
    expect(page.locator("[data-assignee]")).to_have_text("Casey Counsellor")
    expect(page.locator("li[data-event=assigned]")).to_contain_text("Taken by Casey Counsellor")

    page.get_by_label("Reply to the reporter").fill(REPLY)
    page.get_by_role("button", name="Send reply").click()
    expect(_flash(page, "Your reply was sent.")).to_be_visible()
    reply = page.locator("li[data-event=message_to_reporter]")
    expect(reply).to_have_count(1)
    expect(reply).to_contain_text(REPLY)
    expect(reply).to_contain_text("by Casey Counsellor")
    worked = _case_state(server_db, case_id)
    assert worked["assignee_id"] == worked["counsellor_id"]
    assert worked["first_response_dt"] == risked["first_response_dt"]
    assert worked["events"][len(before["events"]):] == [
        "risk_changed", "assigned", "message_to_reporter"]

    # 5. Book a follow-up session; it is listed and both reminders are queued.
    day = _next_ten_oclock()
    _schedule(page, day, kind="Check-in with the target", mode="In person",
              location="Pastoral office")
    booked = _sessions(server_db, case_id)
    assert len(booked) == 1
    first = booked[0]
    assert first["start_dt"] == datetime.combine(day, time(10), tzinfo=SCHOOL_TZ).astimezone(
        timezone.utc)
    assert first["end_dt"] - first["start_dt"] == timedelta(minutes=45)
    assert (first["kind"], first["mode"], first["location"], first["status"]) == (
        "target_check_in", "in_person", "Pastoral office", "scheduled")
    assert first["counsellor_id"] == worked["counsellor_id"]
    reminders = _reminders(server_db, first["id"])
    assert [(r["kind"], r["status"], r["recipient_staff_id"]) for r in reminders] == [
        ("session_reminder", "pending", worked["counsellor_id"])] * 2
    listed = page.locator(f"tr[data-session='{first['id']}']")
    expect(listed).to_contain_text(f"{day:%d %b %Y}")
    expect(listed).to_contain_text("10:00")
    expect(listed).to_contain_text("Check-in with the target")
    expect(listed).to_contain_text("Pastoral office")
    expect(listed).to_contain_text("Scheduled")
    expect(page.get_by_text("The chart appears once a session is recorded")).to_be_visible()

    # 6. Two sessions that have taken place, each recorded with notes and eight ratings.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    _move_into_the_past(server_db, first["id"], now - timedelta(days=7))
    _complete(page, case_id, first["id"], *SESSIONS[0])
    # Completing drops the reminders still waiting: the session is over.
    assert _reminders(server_db, first["id"]) == []

    page.goto(f"/staff/cases/{case_id}")
    _schedule(page, day, kind="Check-in with the target", mode="Video", location="Online")
    second = _sessions(server_db, case_id)[-1]
    assert second["id"] != first["id"] and second["status"] == "scheduled"
    _move_into_the_past(server_db, second["id"], now - timedelta(hours=2))
    _complete(page, case_id, second["id"], *SESSIONS[1])

    stored = _sessions(server_db, case_id)
    assert [(s["status"], s["outcome_scores"], s["session_scores"], s["outcome_total"],
             s["session_total"]) for s in stored] == [
        ("completed", outcome, rating, sum(outcome), sum(rating))
        for outcome, rating, _, _ in SESSIONS]
    assert all(s["completed_dt"] is not None for s in stored)
    with server_db.connect() as conn:
        raw = conn.execute(text("SELECT notes, strategies FROM follow_up_session "
                                "WHERE case_id = :id ORDER BY id"), {"id": case_id}).all()
    for (notes, strategies), (_, _, said, agreed) in zip(raw, SESSIONS):
        assert said.encode() not in _raw_bytes(notes), "session notes stored in plain text"
        assert agreed.encode() not in _raw_bytes(strategies)

    # 7. The case shows both sessions on the chart and in its table.
    page.goto(f"/staff/cases/{case_id}")
    for fs in stored:
        expect(page.locator(f"tr[data-session='{fs['id']}']")).to_have_attribute(
            "data-session-status", "completed")
    chart = page.locator("figure.chart img")
    expect(chart).to_be_visible()
    # The image really loaded (a failed or refused SVG leaves naturalWidth at 0).
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=chart.element_handle(), timeout=5000)
    points = page.locator("table[data-outcome-table] tr[data-point]")
    expect(points).to_have_count(2)
    totals = [(sum(o), sum(r)) for o, r, _, _ in SESSIONS]
    for point, (outcome_total, session_total), fs in zip(points.all(), totals, stored):
        expect(point).to_have_attribute("data-point", str(fs["id"]))
        expect(point.locator("[data-outcome-total]")).to_have_text(
            re.compile(rf"^{outcome_total}\b"))
        expect(point.locator("[data-session-total]")).to_have_text(
            re.compile(rf"^{session_total}\b"))
    svg = page.request.get(chart.get_attribute("src") or "")
    assert svg.ok and svg.headers["content-type"].startswith("image/svg+xml")
    body = svg.text()
    assert "<script" not in body
    values = re.findall(r'<desc class="value">[^<]*: (\d+)</desc>', body)
    assert sorted(map(int, values)) == sorted(t for pair in totals for t in pair)
    assert "lanternfish" not in body and reference not in body

    # 8. The chronology and the audit log hold every step, in order.
    chronology = page.locator("ol.chronology > li").evaluate_all(
        "els => els.map(e => e.dataset.event)")
    assert chronology.count("session") == 4  # two booked, two completed
    final = _case_state(server_db, case_id)
    assert final["events"][len(before["events"]):] == [
        "risk_changed", "assigned", "message_to_reporter",
        "session", "session", "session", "session"]
    actions = final["actions"][len(before["actions"]):]
    # Views are audited too, as many times as pages (and the chart image) were loaded.
    views = ("case.viewed", "session.viewed", "case.chart_viewed")
    assert [a for a in actions if a not in views] == [
        "case.risk_changed", "case.assigned", "case.reply_sent",
        "session.scheduled", "session.completed", "session.scheduled", "session.completed"]
    assert all(actions.count(v) >= 2 for v in views), actions

    page.screenshot(path=SCREENSHOT, full_page=True)

    # The same page on a phone: wide tables scroll inside their own box, never the page.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
