"""The iCalendar feed: a secret, revocable address that never carries a name."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.auth.models import StaffUser
from app.db import utcnow
from app.reporting.services import submit_report
from app.scheduling import feed, services
from tests.factories import report_input
from tests.helpers import csrf_token, sign_in
from tests.scheduling.conftest import book, completion, hours

REPORTER = "Zephyrine Quillfeather"
BULLY = "Thaddeus Grimsworth"
DETAILS = "Marmaduke posted the spreadsheet of shame in the group chat."
HANDLE = "@gloomweasel_77"


@pytest.fixture
def named_case(session, school, counsellor):
    """A confidential report with a distinctive reporter, person involved and story."""
    submitted = submit_report(session, school, report_input(
        is_anonymous=False, reporter_name=REPORTER, year_group=8, contact="form 8B",
        details=DETAILS, involved=f"{BULLY} from year 9",
        handles=[{"platform": "instagram", "handle": HANDLE}]))
    submitted.case.assignee_id = counsellor.id
    session.flush()
    return submitted.case


def _create_feed(client) -> str:  # noqa: ANN001
    token = csrf_token(client, "/staff/sessions/calendar")
    page = client.post("/staff/sessions/calendar/create", data={"csrf_token": token})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    match = re.search(r"data-feed-url>([^<]+)<", page.get_data(as_text=True))
    assert match, "the new address is shown"
    return match.group(1)


def _path(url: str) -> str:
    return url[url.index("/ical/"):]


def test_feed_lists_sessions_and_never_a_name(client, session, school, counsellor, named_case,
                                              caplog):
    now = utcnow()
    soon = book(session, counsellor, named_case,
                _naive_local(now + timedelta(days=2)), now=now, kind="target_check_in",
                location="Room 12", mode="video")
    recent = book(session, counsellor, named_case, _naive_local(now - timedelta(days=5)),
                  now=now - timedelta(days=6), kind="restorative")
    services.complete_session(session, counsellor, recent.id,
                              completion(notes=f"{BULLY} apologised to {REPORTER}."),
                              now=recent.start_dt + hours(1))
    old = book(session, counsellor, named_case, _naive_local(now - timedelta(days=40)),
               now=now - timedelta(days=41))
    services.complete_session(session, counsellor, old.id, completion(),
                              now=old.start_dt + hours(1))
    dropped = book(session, counsellor, named_case, _naive_local(now + timedelta(days=3)),
                   now=now)
    services.cancel_session(session, counsellor, dropped.id, reason=f"{REPORTER} ill", now=now)
    session.commit()
    sign_in(client, counsellor)
    url = _create_feed(client)
    assert url.startswith(client.application.config["SERVER_BASE_URL"] + "/ical/")

    caplog.set_level(logging.INFO)
    anonymous = client.application.test_client()  # a calendar app: no staff session
    response = anonymous.get(_path(url))
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)

    host = urlsplit(client.application.config["SERVER_BASE_URL"]).hostname
    cal = Calendar.from_ical(response.get_data())
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {f"follow-up-session-{soon.id}@{host}",
                           f"follow-up-session-{recent.id}@{host}"}
    event = events[f"follow-up-session-{soon.id}@{host}"]
    assert event.decoded("dtstart") == soon.start_dt
    assert event.decoded("dtend") == soon.end_dt
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert str(event["summary"]) == f"{named_case.reference}: Check-in with the target"
    assert str(event["location"]) == "Room 12"
    assert "Video" in str(event["description"])
    assert named_case.reference in str(events[f"follow-up-session-{recent.id}@{host}"]["summary"])

    for secret in (REPORTER, "Zephyrine", "Quillfeather", BULLY, "Grimsworth", DETAILS,
                   "Marmaduke", "gloomweasel", "form 8B", "apologised"):
        assert secret.lower() not in body.lower()

    # The token is in no log line (the access log keeps the URL rule, not the path).
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert all(token not in r.getMessage() and token not in str(r.__dict__)
               for r in caplog.records)
    assert any(getattr(r, "rule", None) == "/ical/<token>.ics" for r in caplog.records)


def _naive_local(moment):  # noqa: ANN001, ANN202
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo("Europe/London")).replace(tzinfo=None)
    return local.replace(minute=0, second=0, microsecond=0)


def test_the_uid_is_stable_across_fetches_and_reschedules(client, session, counsellor, case):
    now = utcnow()
    fs = book(session, counsellor, case, _naive_local(now + timedelta(days=2)), now=now)
    session.commit()
    sign_in(client, counsellor)
    path = _path(_create_feed(client))
    first = Calendar.from_ical(client.get(path).get_data()).walk("VEVENT")[0]
    services.reschedule_session(session, counsellor, fs.id, services.RescheduleInput(
        _naive_local(now + timedelta(days=4)), 30), now=now)
    session.commit()
    second = Calendar.from_ical(client.get(path).get_data()).walk("VEVENT")[0]
    assert str(first["uid"]) == str(second["uid"])
    assert second.decoded("dtend") - second.decoded("dtstart") == timedelta(minutes=30)


def test_only_the_digest_is_stored_and_rotation_kills_the_old_address(client, session,
                                                                      counsellor):
    session.commit()
    sign_in(client, counsellor)
    first = _create_feed(client)
    token = first.rsplit("/", 1)[1].removesuffix(".ics")
    session.expire_all()
    stored = session.get(StaffUser, counsellor.id).ical_token_digest
    assert stored == feed.token_digest(token) and token not in stored
    assert client.get(_path(first)).status_code == 200
    second = _create_feed(client)
    assert second != first
    assert client.get(_path(first)).status_code == 404
    assert client.get(_path(second)).status_code == 200
    actions = session.execute(select(AuditEntry).where(
        AuditEntry.action == "calendar.feed_created").order_by(AuditEntry.id)).scalars().all()
    assert [a.detail["rotated"] for a in actions] == [False, True]
    # The page after a reload shows that a feed exists, but never the address again.
    again = client.get("/staff/sessions/calendar").get_data(as_text=True)
    assert 'data-feed-state="on"' in again and token not in again


def test_revoke_makes_the_address_404(client, session, counsellor):
    session.commit()
    sign_in(client, counsellor)
    url = _create_feed(client)
    token = csrf_token(client, "/staff/sessions/calendar")
    response = client.post("/staff/sessions/calendar/revoke", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get(_path(url)).status_code == 404
    session.expire_all()
    assert session.get(StaffUser, counsellor.id).ical_token_digest is None
    assert session.execute(select(AuditEntry.action).where(
        AuditEntry.action == "calendar.feed_revoked")).scalar_one()


def test_unknown_or_disabled_feeds_are_not_found(client, session, counsellor):
    assert client.get("/ical/not-a-real-token.ics").status_code == 404
    assert client.get(f"/ical/{'x' * 300}.ics").status_code == 404
    token = feed.create_feed(session, counsellor, now=utcnow())
    counsellor.is_enabled = False
    session.commit()
    assert client.get(f"/ical/{token}.ics").status_code == 404


def test_the_feed_is_rate_limited_per_address(client, session, counsellor, lead):
    if not client.application.config.get("RATELIMIT_ENABLED", True):
        pytest.skip("rate limits are off in this configuration")
    mine = feed.create_feed(session, counsellor, now=utcnow())
    theirs = feed.create_feed(session, lead, now=utcnow())
    session.commit()
    statuses = [client.get(f"/ical/{mine}.ics").status_code for _ in range(61)]
    assert statuses[:60] == [200] * 60 and statuses[60] == 429
    # Another counsellor's feed has its own allowance.
    assert client.get(f"/ical/{theirs}.ics").status_code == 200
