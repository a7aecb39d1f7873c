"""A report form sends once: reloading the "report sent" page does not make a second report.

Regression: the key page is the direct answer to the form's POST and the CSRF token
never expires, so Reload (or Back, Forward and "resend") posted the same form again
and made a second case with a new key; a critical report alerted the leads again.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.notifications.models import Notification
from app.reporting.models import Report
from tests.factories import LeadFactory
from tests.reporting.conftest import (case_key_of, counted_statements, report_for_key,
                                      report_form, row_counts, submit, text)
from tests.reporting.test_submission_cost import most_statements_per_submission

_HIDDEN = re.compile(r'<input[^>]*\bname="([^"]+)"[^>]*\btype="hidden"[^>]*\bvalue="([^"]*)"'
                     r'|<input[^>]*\btype="hidden"[^>]*\bname="([^"]+)"[^>]*\bvalue="([^"]*)"')
ALREADY_SENT = "This report has already been sent."


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page, as a browser would send them back."""
    fields = {}
    for match in _HIDDEN.finditer(page):
        name, value = (match.group(1), match.group(2)) if match.group(1) else match.group(3, 4)
        fields[name] = value
    return fields


def form_page(client, slug: str) -> dict[str, str]:  # noqa: ANN001
    """Open the report form as a browser does; what it sends back besides the answers."""
    response = client.get(f"/s/{slug}/report")
    assert response.status_code == 200
    fields = hidden_fields(text(response))
    assert "csrf_token" in fields, fields
    return fields


def reports(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(Report))


def test_sending_the_same_form_again_stores_nothing_and_says_it_was_sent(client, school,
                                                                        session):
    leads = [LeadFactory(school=school), LeadFactory(school=school)]
    post = {**form_page(client, school.slug), **report_form(is_danger="yes")}
    sent = client.post(f"/s/{school.slug}/report", data=post)
    assert sent.status_code == 200
    report = report_for_key(session, case_key_of(sent))
    before = row_counts(session)

    again = client.post(f"/s/{school.slug}/report", data=post)  # Reload: the same POST

    page = text(again)
    assert again.status_code == 409
    assert ALREADY_SENT in page and "send a new report" in page
    assert "data-case-key" not in page
    assert f'href="/s/{school.slug}/report"' in page  # the way to a new report
    assert row_counts(session) == before  # no case, report, audit entry or alert
    alerts = session.execute(select(Notification.recipient_staff_id).where(
        Notification.kind == "critical_alert")).scalars().all()
    assert sorted(alerts) == sorted(lead.id for lead in leads)
    assert report.case.reports == [report]


def test_marking_the_form_sent_costs_no_statement_and_a_replay_only_the_school(
        client, school, session, engine):
    """The submission is a hot path (bench/README.md): the mark lives in the cookie."""
    submit(client, school.slug)  # the school's audit chain exists, as after create-school
    post = {**form_page(client, school.slug), **report_form()}
    with counted_statements(engine) as sending:
        assert client.post(f"/s/{school.slug}/report", data=post).status_code == 200
    with counted_statements(engine) as replaying:
        again = client.post(f"/s/{school.slug}/report", data=post)

    assert len(sending) <= most_statements_per_submission(engine), sending
    assert again.status_code == 409
    assert len(replaying) == 1 and "FROM school" in replaying[0], replaying


def test_every_form_page_sends_once_even_opened_in_the_same_second(client, school, session):
    """Two tabs of the form (the same browser, the same cookie) are two reports."""
    before = reports(session)
    first, second = form_page(client, school.slug), form_page(client, school.slug)
    assert first["csrf_token"] == second["csrf_token"]  # same second: the token alone is alike

    for fields, details in ((first, "First tab"), (second, "Second tab")):
        response = client.post(f"/s/{school.slug}/report",
                               data={**fields, **report_form(details=details)})
        assert response.status_code == 200, text(response)[:2000]
    assert reports(session) == before + 2
    for fields in (first, second):
        again = client.post(f"/s/{school.slug}/report", data={**fields, **report_form()})
        assert again.status_code == 409 and ALREADY_SENT in text(again)
    assert reports(session) == before + 2


def test_a_form_sent_back_with_a_mistake_then_corrected_sends_once(client, school, session):
    before = reports(session)
    refused = client.post(f"/s/{school.slug}/report",
                          data={**form_page(client, school.slug), **report_form(details="")})
    assert refused.status_code == 422
    corrected = {**hidden_fields(text(refused)), **report_form(details="Now with details")}

    assert client.post(f"/s/{school.slug}/report", data=corrected).status_code == 200
    again = client.post(f"/s/{school.slug}/report", data=corrected)

    assert again.status_code == 409 and ALREADY_SENT in text(again)
    assert reports(session) == before + 1


def test_each_visitor_gets_form_ids_of_their_own(client, new_client, school, session):
    """A sent form is marked in the sender's own cookie: nothing is shared between students."""
    fields = form_page(client, school.slug)
    other = new_client()
    other_fields = form_page(other, school.slug)
    assert fields["form_id"] != other_fields["form_id"]

    assert client.post(f"/s/{school.slug}/report",
                       data={**fields, **report_form()}).status_code == 200
    assert other.post(f"/s/{school.slug}/report",
                      data={**other_fields, **report_form()}).status_code == 200
