"""Submitting a report through the student form: what is stored, what is shown, what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from xkcdpass import xkcd_password

from app.audit.models import AuditEntry
from app.cases.identifier_models import CaseIdentifier, IdentifierKind
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.vocabulary import Risk
from app.notifications.models import Notification
from app.reporting.models import Report
from app.reporting.services import name_digest
from app.security import keyring
from tests.factories import AdminFactory, LeadFactory, SchoolFactory, StaffFactory
from tests.helpers import csrf_token, sign_in
from tests.reporting.conftest import (
    case_key_of,
    post_report,
    raw_hits,
    report_for_key,
    report_form,
    row_counts,
    submit,
    text,
)


def _eff_long_words() -> set[str]:
    with open(xkcd_password.locate_wordfile("eff-long")) as f:
        return {line.strip() for line in f if line.strip()}


# -- a good report ----------------------------------------------------------------------
def test_anonymous_report_is_stored_with_its_case_and_audit_entry(client, school, session):
    before = row_counts(session)
    response = post_report(client, school.slug, details="Mean comments under every post MARK-A1")
    assert response.status_code == 200
    key = case_key_of(response)

    report = report_for_key(session, key)
    case = session.get(Case, report.case_id)
    assert report.school_id == case.school_id == school.id
    assert report.is_anonymous and report.reporter_identity is None
    assert report.details == "Mean comments under every post MARK-A1"
    assert report.kinds == ["harassment"] and report.platforms == ["instagram"]
    assert report.occurred_period == "this_week"
    assert case.risk is Risk.MEDIUM and case.status.value == "new"
    events = session.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)).scalars().all()
    assert [e.kind for e in events] == [EventKind.REPORT_SUBMITTED]
    assert events[0].data["report_id"] == report.id
    entries = session.execute(select(AuditEntry).where(AuditEntry.case_id == case.id)).scalars().all()
    assert [(e.action, e.actor_kind, e.target) for e in entries] == [
        ("report.submitted", "reporter", f"report:{report.id}")]
    after = row_counts(session)
    assert after["report"] == before["report"] + 1
    assert after["case_file"] == before["case_file"] + 1
    # the report page names where to come back to, not the key in a link
    assert f"/s/{school.slug}/check" in text(response)


def test_case_key_is_seven_eff_words_shown_once_and_only_its_hmac_is_stored(client, school,
                                                                          session, app):
    response = post_report(client, school.slug)
    key = case_key_of(response)
    words = key.split(" ")
    assert len(words) == 7
    assert set(words) <= _eff_long_words()
    assert "cannot be recovered" in text(response) or "nobody can recover it" in text(response)

    report = report_for_key(session, key)
    assert report.case_key_digest == keyring().case_key_digest(key)
    assert key not in report.case_key_digest
    # Not in any table, however it might have been written down.
    variants = [key, key.replace(" ", ""), key.replace(" ", "-"), " ".join(words[:3])]
    assert raw_hits(session.connection(), *variants) == []
    # Not in the student cookie either.
    cookie = client.get_cookie("sr_student", path="/s/")
    assert cookie is not None
    stored = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert key not in repr(stored) and words[0] not in repr(stored).split("'")
    # Shown once: the report form and the case page do not show it again.
    assert key not in text(client.get(f"/s/{school.slug}/report"))
    assert key not in text(client.get(f"/s/{school.slug}/check"))


@pytest.mark.parametrize("answers", [{"is_danger": "yes"}, {"is_self_harm": "yes"},
                                     {"is_danger": "yes", "is_self_harm": "yes"}])
def test_danger_or_self_harm_makes_the_report_critical_and_alerts_every_enabled_lead(
        client, school, session, answers):
    leads = [LeadFactory(school=school), LeadFactory(school=school)]
    LeadFactory(school=school, is_enabled=False)
    StaffFactory(school=school)
    AdminFactory(school=school)
    LeadFactory(school=SchoolFactory())  # another school's lead hears nothing

    response = post_report(client, school.slug, **answers)
    assert response.status_code == 200
    report = report_for_key(session, case_key_of(response))
    case = report.case
    assert case.risk is Risk.CRITICAL
    assert case.response_due_dt - case.created_dt == timedelta(hours=1)
    alerts = session.execute(select(Notification).where(Notification.case_id == case.id)
                             ).scalars().all()
    assert {(n.kind, n.recipient_staff_id) for n in alerts} == {
        ("critical_alert", lead.id) for lead in leads}
    assert all(n.status.value == "pending" for n in alerts)
    # The page gives the school's help now.
    page = text(response)
    assert 'id="help-now"' in page
    assert "112" in page and "Childline" in page and "0800 1111" in page and "Kooth" in page
    assert "trusted adult" in page.lower()


def test_a_report_without_danger_shows_no_help_now_panel_and_alerts_nobody(client, school,
                                                                           session):
    LeadFactory(school=school)
    response = post_report(client, school.slug)
    assert 'id="help-now"' not in text(response)
    report = report_for_key(session, case_key_of(response))
    assert session.execute(select(Notification).where(Notification.case_id == report.case_id)
                           ).all() == []


@pytest.mark.parametrize("fields, risk", [
    ({"kinds": ["threats"]}, Risk.HIGH),
    ({"kinds": ["image_sharing"]}, Risk.HIGH),
    ({"kinds": ["hate", "exclusion"]}, Risk.HIGH),
    ({"kinds": ["exclusion"], "is_ongoing": "yes"}, Risk.HIGH),
    ({"kinds": ["rumours", "impersonation"]}, Risk.MEDIUM),
    ({"kinds": None, "platforms": None, "is_ongoing": "not_sure"}, Risk.MEDIUM),
])
def test_risk_follows_the_answers(client, school, session, fields, risk):
    report = report_for_key(session, submit(client, school.slug, **fields))
    assert report.case.risk is risk
    assert report.case.response_due_dt > report.case.created_dt + timedelta(hours=12)


def test_confidential_report_keeps_the_identity_encrypted_and_the_year_group(client, school,
                                                                             session):
    key = submit(client, school.slug, identity="confidential", reporter_name="Robin Q-Marker",
                 year_group="9", contact="Tutor group 9R, after lunch")
    report = report_for_key(session, key)
    assert not report.is_anonymous
    assert report.year_group == 9 and report.case.year_group == 9
    assert report.reporter_identity == {"name": "Robin Q-Marker", "year_group": 9,
                                        "contact": "Tutor group 9R, after lunch"}
    assert raw_hits(session.connection(), "Robin Q-Marker", "Tutor group 9R") == []
    # the name is indexed blindly, for matching across reports
    digests = set(session.execute(select(CaseIdentifier.digest).where(
        CaseIdentifier.case_id == report.case_id,
        CaseIdentifier.kind == IdentifierKind.STUDENT_NAME)).scalars())
    assert digests == {name_digest("Robin Q-Marker")}


def test_an_anonymous_report_ignores_identity_fields_sent_with_it(client, school, session):
    key = submit(client, school.slug, identity="anonymous", reporter_name="Should Not Keep",
                 year_group="8")
    report = report_for_key(session, key)
    assert report.is_anonymous and report.reporter_identity is None and report.year_group is None
    assert raw_hits(session.connection(), "Should Not Keep") == []


def test_the_same_handle_in_two_reports_gets_the_same_blind_index(client, school, session):
    first = submit(client, school.slug, **{"handles-0-platform": "snapchat",
                                           "handles-0-handle": "@Nasty.Handle_77"})
    second = submit(client, school.slug, **{"handles-0-platform": "snapchat",
                                            "handles-0-handle": "nasty.handle_77 ",
                                            "handles-1-platform": "tiktok",
                                            "handles-1-handle": "someone_else"})
    r1, r2 = report_for_key(session, first), report_for_key(session, second)
    assert r1.handles == [{"platform": "snapchat", "handle": "@Nasty.Handle_77"}]

    def handle_digests(report):  # noqa: ANN001, ANN202
        return set(session.execute(select(CaseIdentifier.digest).where(
            CaseIdentifier.case_id == report.case_id,
            CaseIdentifier.kind == IdentifierKind.HANDLE)).scalars())

    shared = handle_digests(r1) & handle_digests(r2)
    assert len(handle_digests(r1)) == 1 and len(handle_digests(r2)) == 2
    assert len(shared) == 1
    assert raw_hits(session.connection(), "nasty.handle_77", "someone_else") == []


def test_reply_email_is_stored_encrypted_and_never_shown_to_staff(client, new_client, school,
                                                                  session):
    key = submit(client, school.slug, reply_email="kid.marker@example.com")
    report = report_for_key(session, key)
    stored = session.execute(select(Report.reply_email).where(Report.id == report.id)).scalar_one()
    assert stored == "kid.marker@example.com"
    assert raw_hits(session.connection(), "kid.marker@example.com", "kid.marker") == []

    counsellor = StaffFactory(school=school)
    staff = new_client()
    sign_in(staff, counsellor)
    page = text(staff.get(f"/staff/cases/{report.case_id}"))
    assert report.details in page  # the right page
    assert "kid.marker" not in page and "example.com" not in page


# -- bad input: a clear message, 4xx, and nothing stored --------------------------------
LONG = "x" * 10_001


@pytest.mark.parametrize("fields, message", [
    ({"details": ""}, "Tell us what happened."),
    ({"details": "   \n  "}, "Tell us what happened."),
    ({"details": LONG}, "Keep it under 10,000 characters."),
    ({"involved": LONG}, "Keep it under 10,000 characters."),
    ({"kinds": ["harassment", "pranks"]}, "Choose what kind of bullying from the list."),
    ({"platforms": ["myspace"]}, "Choose where it happened from the list."),
    ({"handles-0-platform": "friendster", "handles-0-handle": "x"},
     "Choose the app from the list."),
    ({"handles-0-platform": "discord", "handles-0-handle": "h" * 201},
     "The account name is too long: keep it under 200 characters."),
    ({"occurred_period": "last_century"}, "Choose one of the answers shown."),
    ({"reporter_role": "teacher"}, "Choose one of the answers shown."),
    ({"identity": "both"}, "Choose one of the answers shown."),
    ({"is_danger": None}, "Tell us if anyone is in danger right now."),
    ({"is_self_harm": None}, "Tell us if anyone is thinking about hurting themselves."),
    ({"is_danger": "maybe"}, "Choose one of the answers shown."),
    ({"reporter_role": None}, "Tell us who is reporting."),
    ({"identity": "confidential", "reporter_name": ""}, "Please tell us your name."),
    ({"identity": "confidential", "reporter_name": "  "}, "Please tell us your name."),
    ({"identity": "confidential", "reporter_name": "A", "year_group": "42"},
     "Choose your year group from the list."),
    ({"reply_email": "not-an-address"}, "Enter an email address like name@example.com."),
    ({"reply_email": "kid@@example"}, "Enter an email address like name@example.com."),
])
def test_bad_input_gets_a_clear_message_and_stores_nothing(client, school, session, fields,
                                                           message):
    LeadFactory(school=school)
    before = row_counts(session)
    response = post_report(client, school.slug, **{"is_danger": "yes", **fields})
    page = text(response)
    assert response.status_code == 422
    assert message in page
    assert "There is a problem" in page and 'id="error-summary"' in page
    assert "data-case-key" not in page
    assert row_counts(session) == before


@pytest.mark.parametrize("blank", [" ", "\t", "\u3000", " \n "])
@pytest.mark.parametrize("fields, message", [
    # Optional() took a blank answer for "not given" and cleared the choice check, so a
    # blank year group reached int() (a 500) and a blank "still going on?" read as "no".
    ({"identity": "confidential", "reporter_name": "Sam"}, "Choose your year group from the list."),
    ({}, "Choose your year group from the list."),
])
def test_a_blank_year_group_gets_the_fields_message_and_stores_nothing(
        client, school, session, blank, fields, message):
    before = row_counts(session)
    response = post_report(client, school.slug, year_group=blank, **fields)
    page = text(response)
    assert response.status_code == 422, page[:2000]
    assert message in page and 'id="error-summary"' in page
    assert "data-case-key" not in page
    assert row_counts(session) == before


@pytest.mark.parametrize("name", ["occurred_period", "is_ongoing"])
@pytest.mark.parametrize("blank", [" ", "\u3000"])
def test_a_blank_answer_to_an_optional_question_is_refused_not_guessed(client, school, session,
                                                                       name, blank):
    before = row_counts(session)
    response = post_report(client, school.slug, **{name: blank})
    assert response.status_code == 422
    assert "Choose one of the answers shown." in text(response)
    assert row_counts(session) == before


def test_a_form_error_keeps_what_was_typed(client, school):
    response = post_report(client, school.slug, details="Keep this text please",
                           reporter_role=None)
    assert response.status_code == 422
    assert "Keep this text please" in text(response)


def test_missing_csrf_token_is_a_400_page_and_stores_nothing(client, school, session):
    before = row_counts(session)
    response = client.post(f"/s/{school.slug}/report", data=report_form())
    assert response.status_code == 400
    assert "This form expired" in text(response)
    assert "Traceback" not in text(response)
    assert row_counts(session) == before


def test_a_forged_csrf_token_is_refused_too(client, school, session):
    before = row_counts(session)
    response = client.post(f"/s/{school.slug}/report",
                           data={"csrf_token": "forged.token", **report_form()})
    assert response.status_code == 400
    assert row_counts(session) == before


@pytest.mark.parametrize("path", ["/s/nope/report", "/s/nope/check", "/s/nope/"])
def test_unknown_school_is_a_404_page(client, school, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "We could not find that school" in text(response)


def test_posting_to_an_unknown_school_stores_nothing(client, school, session):
    token = csrf_token(client, f"/s/{school.slug}/report")
    before = row_counts(session)
    response = client.post("/s/nope/report", data={"csrf_token": token, **report_form()})
    assert response.status_code == 404
    assert row_counts(session) == before


def test_html_in_any_field_is_stored_as_text_and_shown_escaped_to_staff(client, new_client,
                                                                        school, session):
    details = '<script>alert("pwned")</script><b onmouseover=x()>bold</b> & more'
    involved = "<img src=x onerror=alert(1)>"
    key = submit(client, school.slug, details=details, involved=involved,
                 **{"handles-0-platform": "discord", "handles-0-handle": "<i>handle</i>"})
    report = report_for_key(session, key)
    assert report.details == details and report.involved == involved

    counsellor = StaffFactory(school=school)
    staff = new_client()
    sign_in(staff, counsellor)
    response = staff.get(f"/staff/cases/{report.case_id}")
    page = text(response)
    assert response.status_code == 200
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;i&gt;handle&lt;/i&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page and "<i>handle" not in page
