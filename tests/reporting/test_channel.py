"""Coming back with the case key: status, replies, messages, reply email, ending the visit."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from app.cases.models import CaseEvent, EventKind
from app.cases.vocabulary import CaseStatus
from app.notifications.models import Notification
from app.reporting import services as reporting
from app.reporting.models import Report
from app.reporting.services import STATUS_FOR_STUDENTS
from app.reporting.views import REPORTER_IDLE_SECONDS
from tests.factories import SchoolFactory, StaffFactory
from tests.reporting.conftest import (
    audit_actions,
    open_with_key,
    post_on_case_page,
    raw_hits,
    report_for_key,
    row_counts,
    submit,
    text,
)

GENERIC = "We could not find a report with that case key. Check each word and try again."
CASE_PAGE = "<h1>Your report</h1>"
KEY_PAGE = "<h1>Check for replies</h1>"


@pytest.fixture
def key(client, school) -> str:
    return submit(client, school.slug, details="Someone made a fake account of me")


def _opened(client, slug: str, typed: str):  # noqa: ANN001
    """Type the key in; return the page that follows."""
    response = open_with_key(client, slug, typed)
    if response.status_code == 303:
        assert response.headers["Location"].endswith(f"/s/{slug}/check")
        response = client.get(f"/s/{slug}/check")
    return response


# -- typing the key back ----------------------------------------------------------------
@pytest.mark.parametrize("typing", [
    lambda k: k,
    lambda k: k.upper(),
    lambda k: k.title(),
    lambda k: "  " + k.replace(" ", "   ") + "  \n",
    lambda k: k.replace(" ", "-"),
    lambda k: k.replace(" ", " - "),
    lambda k: "\t".join(k.split(" ")),
])
def test_the_key_typed_back_loosely_opens_the_report(client, school, key, typing):
    response = _opened(client, school.slug, typing(key))
    assert response.status_code == 200
    assert CASE_PAGE in text(response)
    assert STATUS_FOR_STUDENTS["new"] in text(response)


@pytest.mark.parametrize("typed", [
    "one",
    "apple banana cherry",
    "word " * 100,
    "x" * 401,
    "a-" * 300,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\u00e9t\u00e9 \u4e2d\u6587 \U0001f600 emoji words seven",
])
def test_wrong_or_malformed_keys_get_one_generic_message(client, school, key, session, typed):
    before = row_counts(session)
    response = open_with_key(client, school.slug, typed)
    assert response.status_code == 422
    page = text(response)
    assert GENERIC in page
    assert CASE_PAGE not in page
    assert "Field cannot be longer" not in page
    assert row_counts(session) == before


def test_a_wrong_key_close_to_the_right_one_gets_the_same_message(client, school, key):
    words = key.split()
    near = " ".join(words[:-1] + ["zebra" if words[-1] != "zebra" else "yodel"])
    response = open_with_key(client, school.slug, near)
    assert response.status_code == 422 and GENERIC in text(response)
    six = " ".join(words[:6])
    response = open_with_key(client, school.slug, six)
    assert response.status_code == 422 and GENERIC in text(response)


def test_an_empty_key_asks_for_the_key(client, school):
    response = open_with_key(client, school.slug, "   ")
    assert response.status_code == 422
    assert "Type your case key." in text(response)


def test_a_key_opens_only_at_its_own_school(client, school, key):
    other = SchoolFactory()
    response = open_with_key(client, other.slug, key)
    assert response.status_code == 422 and GENERIC in text(response)


# -- what the reporter sees --------------------------------------------------------------
def test_case_page_shows_status_in_student_words_and_replies_from_the_school(
        client, school, key, session):
    report = report_for_key(session, key)
    case = report.case
    counsellor = StaffFactory(school=school)
    reporting.reply_to_reporter(session, counsellor, case,
                                "Thank you for telling us. Can you meet Ms Reply-Marker?")
    case.set_status(CaseStatus.IN_PROGRESS)
    session.flush()

    page = text(_opened(client, school.slug, key))
    assert STATUS_FOR_STUDENTS["in_progress"] in page
    assert "Thank you for telling us. Can you meet Ms Reply-Marker?" in page
    assert 'data-message="school"' in page
    # staff names are never shown to the reporter
    assert counsellor.name not in page


@pytest.mark.parametrize("status", list(CaseStatus))
def test_every_status_has_student_words(client, school, key, session, status):
    case = report_for_key(session, key).case
    case.set_status(status)
    session.flush()
    page = text(_opened(client, school.slug, key))
    assert f"data-status>{STATUS_FOR_STUDENTS[status.value]}<" in page
    assert len(set(STATUS_FOR_STUDENTS.values())) == len(CaseStatus)


def test_sending_a_message_stores_it_encrypted_and_tells_the_case(client, school, key, session):
    report = report_for_key(session, key)
    assignee = StaffFactory(school=school)
    report.case.assignee_id = assignee.id
    session.flush()
    _opened(client, school.slug, key)

    response = post_on_case_page(client, school.slug, "message",
                                 {"message": "It happened again today MSG-MARKER-5"})
    assert response.status_code == 303
    assert "sent=1" in response.headers["Location"]

    events = session.execute(select(CaseEvent).where(
        CaseEvent.case_id == report.case_id,
        CaseEvent.kind == EventKind.MESSAGE_FROM_REPORTER)).scalars().all()
    assert [(e.body, e.report_id, e.actor_id) for e in events] == [
        ("It happened again today MSG-MARKER-5", report.id, None)]
    assert raw_hits(session.connection(), "MSG-MARKER-5") == []
    session.refresh(report.case)
    assert report.case.unread_reporter_messages == 1
    assert audit_actions(session, report.case_id)[-1] == "report.message_received"
    note = session.execute(select(Notification).where(
        Notification.case_id == report.case_id)).scalar_one()
    assert (note.kind, note.recipient_staff_id) == ("reporter_message", assignee.id)
    assert "MSG-MARKER" not in str(note.data)

    page = text(client.get(f"/s/{school.slug}/check?sent=1"))
    assert "Your message was sent." in page
    assert "It happened again today MSG-MARKER-5" in page and 'data-message="me"' in page


@pytest.mark.parametrize("writing", [
    lambda k: f"my key is {k}",
    lambda k: k.upper(),
    lambda k: "KEY:" + "  ".join(k.split()) + "!!",
    lambda k: f'"{k}"',
    lambda k: "(" + "-".join(k.split()) + ")",
    lambda k: "\n".join(k.split()),
    lambda k: "words: " + ", ".join(k.split()) + ".",
])
def test_a_message_holding_the_case_key_is_refused_and_nothing_is_stored(
        client, school, key, session, writing):
    _opened(client, school.slug, key)
    before = row_counts(session)
    response = post_on_case_page(client, school.slug, "message", {"message": writing(key)})
    assert response.status_code == 422
    assert "Your message contains your case key" in text(response)
    assert row_counts(session) == before


def test_a_message_with_some_of_the_key_words_is_fine(client, school, key, session):
    _opened(client, school.slug, key)
    words = key.split()
    response = post_on_case_page(client, school.slug, "message",
                                 {"message": "I was thinking " + " ".join(words[:5])})
    assert response.status_code == 303


@pytest.mark.parametrize("message, error", [
    ("", "Write a message first."),
    ("   ", "Write a message first."),
    ("x" * 5_001, "Keep it under 5,000 characters."),
])
def test_bad_messages_are_refused_with_a_message(client, school, key, session, message, error):
    _opened(client, school.slug, key)
    before = row_counts(session)
    response = post_on_case_page(client, school.slug, "message", {"message": message})
    assert response.status_code == 422
    assert error in text(response)
    assert row_counts(session) == before


def test_messages_without_an_open_report_go_back_to_the_key_form(client, school, key, session):
    before = row_counts(session)
    response = post_on_case_page(client, school.slug, "message", {"message": "hello"})
    assert response.status_code == 303
    assert row_counts(session) == before


def test_reply_email_can_be_set_and_deleted(client, school, key, session):
    report = report_for_key(session, key)
    _opened(client, school.slug, key)

    def stored() -> str | None:
        session.expire_all()
        return session.execute(select(Report.reply_email).where(Report.id == report.id)
                               ).scalar_one()

    response = post_on_case_page(client, school.slug, "email",
                                 {"reply_email": "Reply.Me@Example.com"})
    assert response.status_code == 303
    assert stored() == "Reply.Me@example.com"
    assert raw_hits(session.connection(), "reply.me@") == []
    assert "We have an email address" in text(client.get(f"/s/{school.slug}/check"))

    response = post_on_case_page(client, school.slug, "email", {"reply_email": "nope"})
    assert response.status_code == 422
    assert "Enter an email address like name@example.com." in text(response)
    assert stored() == "Reply.Me@example.com"

    response = post_on_case_page(client, school.slug, "email", {"delete": "y"})
    assert response.status_code == 303
    assert stored() is None
    assert "We have an email address" not in text(client.get(f"/s/{school.slug}/check"))
    actions = audit_actions(session, report.case_id)
    assert actions[-2:] == ["report.reply_email_set", "report.reply_email_deleted"]


@pytest.mark.parametrize("typed", ["", "   "])
def test_saving_an_empty_email_field_keeps_the_saved_address(client, school, session, typed):
    """Only the "Delete my email address" box deletes it: Save with the field left empty
    deleted the address and still said the setting was saved."""
    key = submit(client, school.slug, reply_email="keep.me@example.com")
    report = report_for_key(session, key)
    assert _opened(client, school.slug, key).status_code == 200
    raw_address = sa.text("SELECT reply_email FROM report WHERE id = :id").bindparams(
        id=report.id)  # the ciphertext, as stored (no decrypting column type)
    stored_raw = session.execute(raw_address).scalar_one()
    assert stored_raw and b"keep.me" not in bytes(stored_raw)
    actions_before = audit_actions(session, report.case_id)

    response = post_on_case_page(client, school.slug, "email", {"reply_email": typed})

    assert response.status_code == 422
    page = text(response)
    assert "Nothing was changed" in page and 'tick &#34;Delete my email address&#34;' in page
    assert "Your email setting was saved" not in page
    session.expire_all()
    assert session.get(Report, report.id).reply_email == "keep.me@example.com"
    assert session.execute(raw_address).scalar_one() == stored_raw
    assert audit_actions(session, report.case_id) == actions_before


def test_a_reply_queues_you_have_a_reply_only_when_there_is_an_email(client, school, session):
    with_email = report_for_key(session, submit(client, school.slug, reply_email="a@example.com"))
    without = report_for_key(session, submit(client, school.slug))
    counsellor = StaffFactory(school=school)
    for report in (with_email, without):
        reporting.reply_to_reporter(session, counsellor, report.case, "We read it.")
    session.flush()
    notes = session.execute(select(Notification).where(
        Notification.kind == "reply_available")).scalars().all()
    assert [(n.recipient_report_id, n.recipient_staff_id) for n in notes] == [
        (with_email.id, None)]
    assert "a@example.com" not in str(notes[0].data)


# -- ending the visit ---------------------------------------------------------------------
def _session_data(client, slug: str) -> dict:  # noqa: ANN001
    with client.session_transaction(f"/s/{slug}/check") as data:
        return dict(data)


def test_close_my_report_on_this_device_ends_the_reporter_session(client, school, key):
    assert CASE_PAGE in text(_opened(client, school.slug, key))
    assert "reporter" in _session_data(client, school.slug)

    response = post_on_case_page(client, school.slug, "end", {})
    assert response.status_code == 303
    assert "reporter" not in _session_data(client, school.slug)
    page = text(client.get(f"/s/{school.slug}/check"))
    assert KEY_PAGE in page and CASE_PAGE not in page


def test_the_reporter_session_of_one_school_opens_nothing_at_another(client, school, key,
                                                                     session):
    other = SchoolFactory()
    report_for_key(session, submit(client, other.slug))
    _opened(client, school.slug, key)
    page = text(client.get(f"/s/{other.slug}/check"))
    assert KEY_PAGE in page and CASE_PAGE not in page
    assert "Someone made a fake account of me" not in page
    before = row_counts(session)
    response = post_on_case_page(client, other.slug, "message", {"message": "hello"})
    assert response.status_code == 303
    assert row_counts(session) == before
    # and the visit at the first school is still open
    assert CASE_PAGE in text(client.get(f"/s/{school.slug}/check"))


def test_an_idle_reporter_session_ends(client, school, key):
    _opened(client, school.slug, key)
    with client.session_transaction(f"/s/{school.slug}/check") as data:
        data["reporter"] = {**data["reporter"], "seen": time.time() - REPORTER_IDLE_SECONDS - 5}
    page = text(client.get(f"/s/{school.slug}/check"))
    assert KEY_PAGE in page and CASE_PAGE not in page
    assert "reporter" not in _session_data(client, school.slug)


def test_a_reporter_session_used_within_the_idle_time_stays_open(client, school, key):
    _opened(client, school.slug, key)
    with client.session_transaction(f"/s/{school.slug}/check") as data:
        data["reporter"] = {**data["reporter"], "seen": time.time() - REPORTER_IDLE_SECONDS + 60}
    assert CASE_PAGE in text(client.get(f"/s/{school.slug}/check"))
    # using it moved the idle clock on
    assert _session_data(client, school.slug)["reporter"]["seen"] > time.time() - 5


def test_the_student_cookie_never_reaches_staff_pages(client, school, key):
    _opened(client, school.slug, key)
    cookie = client.get_cookie("sr_student", path="/s/")
    assert cookie is not None and cookie.path == "/s/"
    assert client.get_cookie("sr_student", path="/staff/") is None
