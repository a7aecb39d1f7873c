"""A report form sends once: reloading the "report sent" page does not make a second report.

Regression: the key page is the direct answer to the form's POST and the CSRF token
never expires, so Reload (or Back, Forward and "resend") posted the same form again
and made a second case with a new key; a critical report alerted the leads again.

The first guard kept the sent form's id in the student cookie. That cookie is signed,
not encrypted, and its signature carries the second it was written: after a send it
said, to whoever holds the device, that a report was sent and when (the case's creation
time). Two clicks at once both passed it, and opening a report with its key forgot it.
The form id is now claimed on the server, and the POST leaves the cookie alone.
"""

from __future__ import annotations

import hashlib
import logging
import re

import pytest
from sqlalchemy import func, select

from app.extensions import limiter
from app.notifications.models import Notification
from app.reporting import services as reporting
from app.reporting import sent_forms
from app.reporting.models import Report
from tests.factories import LeadFactory
from tests.helpers import all_at_once, unique_address
from tests.reporting.conftest import (case_key_of, counted_statements, open_with_key,
                                      report_for_key, report_form, row_counts, submit, text)
from tests.reporting.test_submission_cost import most_statements_per_submission

_HIDDEN = re.compile(r'<input[^>]*\bname="([^"]+)"[^>]*\btype="hidden"[^>]*\bvalue="([^"]*)"'
                     r'|<input[^>]*\btype="hidden"[^>]*\bname="([^"]+)"[^>]*\bvalue="([^"]*)"')
ALREADY_SENT = "This report has already been sent."
STUDENT_COOKIE = "sr_student"


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
    assert "csrf_token" in fields and "form_id" in fields, fields
    return fields


def reports(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(Report))


def student_cookie(client) -> str | None:  # noqa: ANN001
    cookie = client.get_cookie(STUDENT_COOKIE, path="/s/")
    return cookie.value if cookie else None


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


def test_sending_leaves_the_student_cookie_exactly_as_it_was(app, client, school, session):
    """The cookie is readable and its signature dated: a send must not write to it."""
    post = {**form_page(client, school.slug), **report_form()}
    before = student_cookie(client)
    assert before is not None  # the form page's CSRF token

    sent = client.post(f"/s/{school.slug}/report", data=post)

    assert sent.status_code == 200 and case_key_of(sent)
    assert not [h for h in sent.headers.getlist("Set-Cookie")
                if h.startswith(f"{STUDENT_COOKIE}=")]
    assert student_cookie(client) == before  # the same bytes, signature time included
    serializer = app.session_interface.get_signing_serializer(app)
    assert serializer.loads(student_cookie(client)) == serializer.loads(before)
    # A replay is refused without the cookie's help, and writes nothing to it either.
    again = client.post(f"/s/{school.slug}/report", data=post)
    assert again.status_code == 409 and not again.headers.getlist("Set-Cookie")
    assert student_cookie(client) == before


def test_a_replay_after_opening_the_report_with_its_key_is_still_refused(client, school,
                                                                        session):
    """Opening a report starts the student session afresh; the claim is not kept there."""
    post = {**form_page(client, school.slug), **report_form()}
    key = case_key_of(client.post(f"/s/{school.slug}/report", data=post))
    assert open_with_key(client, school.slug, key).status_code == 303
    before = row_counts(session)

    again = client.post(f"/s/{school.slug}/report", data=post)  # Back to the key page, resend
    assert again.status_code == 400  # the fresh session has a new CSRF token
    # Even with the new session's token, the form the browser holds does not send again.
    fresh = {**post, "csrf_token": form_page(client, school.slug)["csrf_token"]}
    again = client.post(f"/s/{school.slug}/report", data=fresh)

    assert again.status_code == 409 and ALREADY_SENT in text(again)
    assert row_counts(session) == before


def test_the_replay_is_refused_from_another_browser_too(client, new_client, school, session):
    """The claim is the server's: a copied form (or a cleared cookie) sends no second report."""
    fields = form_page(client, school.slug)
    post = {**fields, **report_form()}
    assert client.post(f"/s/{school.slug}/report", data=post).status_code == 200
    before = reports(session)
    other = new_client()
    other_post = {**post, "csrf_token": form_page(other, school.slug)["csrf_token"]}

    again = other.post(f"/s/{school.slug}/report", data=other_post)

    assert again.status_code == 409 and ALREADY_SENT in text(again)
    assert reports(session) == before


def test_marking_the_form_sent_costs_no_statement_and_a_replay_only_the_school(
        client, school, session, engine):
    """The submission is a hot path (bench/README.md): the claim is not in the database."""
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
    fields = form_page(client, school.slug)
    refused = client.post(f"/s/{school.slug}/report", data={**fields, **report_form(details="")})
    assert refused.status_code == 422
    corrected = {**hidden_fields(text(refused)), **report_form(details="Now with details")}
    assert corrected["form_id"] == fields["form_id"]  # still the one form

    assert client.post(f"/s/{school.slug}/report", data=corrected).status_code == 200
    again = client.post(f"/s/{school.slug}/report", data=corrected)

    assert again.status_code == 409 and ALREADY_SENT in text(again)
    assert reports(session) == before + 1


def test_a_form_the_service_refuses_is_released_and_sends_once_corrected(client, school,
                                                                       session, monkeypatch):
    """The form's checks pass but the service's do not: the claim taken is given back."""
    real_submit, tried = reporting.submit_report, []

    def counted_submit(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        tried.append(1)
        return real_submit(*args, **kwargs)

    monkeypatch.setattr(reporting, "submit_report", counted_submit)
    before = reports(session)
    fields = form_page(client, school.slug)
    too_long = {"handles-0-platform": "discord", "handles-0-handle": "h" * 201}
    refused = client.post(f"/s/{school.slug}/report",
                          data={**fields, **report_form(**too_long)})
    assert refused.status_code == 422 and tried == [1]  # refused by the service itself
    assert "The account name is too long" in text(refused)
    assert reports(session) == before
    corrected = {**hidden_fields(text(refused)), **report_form(),
                 "handles-0-platform": "discord", "handles-0-handle": "@short"}
    assert corrected["form_id"] == fields["form_id"]

    assert client.post(f"/s/{school.slug}/report", data=corrected).status_code == 200
    again = client.post(f"/s/{school.slug}/report", data=corrected)

    assert again.status_code == 409 and ALREADY_SENT in text(again)
    assert reports(session) == before + 1


def test_a_submission_that_fails_releases_its_form(client, school, session, monkeypatch):
    """An error while storing (a database gone, a bug) must not leave the form unsendable."""
    real_submit = reporting.submit_report
    failures = iter([RuntimeError("the database went away")])

    def flaky_submit(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        for failure in failures:
            raise failure
        return real_submit(*args, **kwargs)

    monkeypatch.setattr(reporting, "submit_report", flaky_submit)
    post = {**form_page(client, school.slug), **report_form()}
    before = reports(session)
    assert client.post(f"/s/{school.slug}/report", data=post).status_code == 500
    assert reports(session) == before

    assert client.post(f"/s/{school.slug}/report", data=post).status_code == 200  # Resend
    assert client.post(f"/s/{school.slug}/report", data=post).status_code == 409
    assert reports(session) == before + 1


def test_the_guard_holds_with_rate_limits_switched_off(client, school, session, monkeypatch):
    """The bench (and a deployment that turns limits off) still sends each form once."""
    monkeypatch.setattr(limiter, "enabled", False)
    post = {**form_page(client, school.slug), **report_form()}
    before = reports(session)

    assert client.post(f"/s/{school.slug}/report", data=post).status_code == 200
    again = client.post(f"/s/{school.slug}/report", data=post)

    assert again.status_code == 409 and ALREADY_SENT in text(again)
    assert reports(session) == before + 1


def test_claims_are_kept_in_redis_under_a_hash_of_the_form_id(app, client, school, session,
                                                              backends):
    claims = app.extensions[sent_forms.EXTENSION]
    assert ("Redis" in type(claims.storage).__name__) == backends.has_redis
    if not backends.has_redis:
        pytest.skip(f"Redis unavailable ({backends.redis_error}); claims are kept in memory")
    import redis

    fields = form_page(client, school.slug)
    form_id = fields["form_id"]
    assert client.post(f"/s/{school.slug}/report",
                       data={**fields, **report_form()}).status_code == 200

    store = redis.Redis.from_url(app.config["RATELIMIT_STORAGE_URI"])
    prefix = app.config["RATELIMIT_KEY_PREFIX"]
    keys = [k.decode() for k in store.scan_iter(match=f"{prefix}:*", count=1000)]
    digest = hashlib.sha256(form_id.encode()).hexdigest()
    [claim] = [k for k in keys if digest in k]
    assert claim == f"{prefix}:sent-form:{digest}"
    assert not [k for k in store.scan_iter(match=f"*{form_id}*", count=1000)]
    assert 0 < store.ttl(claim) <= sent_forms.CLAIM_SECONDS


def test_a_claim_store_that_does_not_answer_lets_the_report_through(app, client, school,
                                                                   session, monkeypatch,
                                                                   caplog):
    """A report lost is worse than one sent twice: a store that is down is logged, not obeyed."""
    down = sent_forms.SentForms("redis://127.0.0.1:1/0", key_prefix="down")
    monkeypatch.setitem(app.extensions, sent_forms.EXTENSION, down)
    fields = form_page(client, school.slug)
    before = reports(session)
    caplog.set_level(logging.WARNING, logger=sent_forms.__name__)

    sent = client.post(f"/s/{school.slug}/report", data={**fields, **report_form()})

    assert sent.status_code == 200 and case_key_of(sent)
    assert reports(session) == before + 1
    [record] = [r for r in caplog.records if r.name == sent_forms.__name__]
    assert record.levelno == logging.WARNING
    assert record.event == "sent_form_claim_unavailable" and record.error == "ConnectionError"
    logged = f"{record.getMessage()} {vars(record)!r}"
    assert fields["form_id"] not in logged
    assert hashlib.sha256(fields["form_id"].encode()).hexdigest() not in logged


def test_a_double_click_sends_one_report_and_alerts_the_leads_once(backends):
    """Two POSTs of one form at the same moment: exactly one case and one set of alerts."""
    if not backends.has_postgres:
        pytest.skip("needs PostgreSQL: requests at once on their own connections")
    from sqlalchemy.orm import Session

    from app.extensions import db
    from app.schools.models import School
    from tests import factories
    from tests.conftest import throwaway_app

    with throwaway_app(backends, "double_click") as app:
        engine = db.engine
        with Session(engine) as s:
            factories.bind(s)
            try:
                school = School(slug="double-click", name="Double Click Academy")
                s.add(school)
                s.flush()
                lead_ids = sorted(LeadFactory(school=school).id for _ in range(2))
                s.commit()
            finally:
                factories.bind(None)
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = unique_address()
        post = {**form_page(browser, "double-click"), **report_form(is_danger="yes")}
        cookie = student_cookie(browser)
        answers: list = [None, None]

        def click(n: int) -> None:
            tab = app.test_client()  # the same browser: the same address and cookie
            tab.environ_base["REMOTE_ADDR"] = browser.environ_base["REMOTE_ADDR"]
            tab.set_cookie(STUDENT_COOKIE, cookie, path="/s/")
            answers[n] = tab.post("/s/double-click/report", data=post)

        assert all_at_once(click, 2) == []

        assert sorted(a.status_code for a in answers) == [200, 409]
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(Report)) == 1
            alerts = s.execute(select(Notification.recipient_staff_id).where(
                Notification.kind == "critical_alert")).scalars().all()
            assert sorted(alerts) == lead_ids


def test_each_visitor_gets_form_ids_of_their_own(client, new_client, school, session):
    """Form ids are drawn per page: one student's sent form never blocks another's."""
    fields = form_page(client, school.slug)
    other = new_client()
    other_fields = form_page(other, school.slug)
    assert fields["form_id"] != other_fields["form_id"]

    assert client.post(f"/s/{school.slug}/report",
                       data={**fields, **report_form()}).status_code == 200
    assert other.post(f"/s/{school.slug}/report",
                      data={**other_fields, **report_form()}).status_code == 200


def test_students_report_and_check_while_the_rate_limit_store_is_down(app, backends):
    """Redis down: the limits fall back to the process's memory, and nothing answers 500."""
    from sqlalchemy.orm import Session

    from app.extensions import db
    from app.schools.models import School
    from tests.conftest import throwaway_app

    run_store = limiter.storage
    with throwaway_app(backends, "limits_down", RATELIMIT_ENABLED=True,
                       RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0") as down:
        with Session(db.engine) as s:
            s.add(School(slug="limits-down", name="Limits Down Academy"))
            s.commit()
        browser = down.test_client()
        browser.environ_base["REMOTE_ADDR"] = unique_address()
        fields = form_page(browser, "limits-down")

        sent = browser.post("/s/limits-down/report", data={**fields, **report_form()})
        key = case_key_of(sent)
        wrong = browser.post("/s/limits-down/check",
                             data={"csrf_token": fields["csrf_token"], "case_key": "not my key"})
        opened = open_with_key(browser, "limits-down", key)

        assert sent.status_code == 200 and key
        assert wrong.status_code == 422  # the wrong key is told so, not a 500
        assert opened.status_code == 303  # the right key opens the report
        assert browser.get(opened.headers["Location"]).status_code == 200
        with Session(db.engine) as s:
            assert s.scalar(select(func.count()).select_from(Report)) == 1
    assert limiter.storage is run_store  # the tests after this one keep the run's store
