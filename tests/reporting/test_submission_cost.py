"""What the form costs: the empty form is rendered once per process, the school is kept
per process, and a submission is a fixed handful of plain INSERTs (no ORM flush) however
much the report holds (issue 7).

A regression to per-object flushes, per-row inserts, a school read per request or a form
rendered per visitor shows up here first; the figures themselves are in bench/README.md.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit import services as audit
from app.audit.models import AuditEntry
from app.cases.identifier_models import CaseIdentifier
from app.cases.models import Case, CaseEvent
from app.db import utcnow
from app.reporting.models import Report
from app.reporting import services as reporting
from app.schools.lookup import SchoolCache
from app.schools.models import School
from tests.factories import SchoolFactory, report_input
from tests.helpers import csrf_token
from tests.reporting.conftest import (case_key_of, counted_flushes, counted_statements,
                                      report_for_key, report_form, submit, text)

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_FORM_ID = re.compile(r'name="form_id" type="hidden" value="([^"]+)"')


def _without_the_visitors_parts(page: str) -> str:
    """The page with its CSRF token and its form id (each drawn per visit) taken out."""
    [token], [form_id] = _CSRF.findall(page), _FORM_ID.findall(page)
    return page.replace(token, "TOKEN").replace(form_id, "FORM-ID")
_EMPTY_PAGES = "safe_report.empty_report_pages"
_SCHOOL_CACHE = "safe_report.school_cache"
_INSERT_INTO = re.compile(r"INSERT INTO (\w+)")


def most_statements_per_submission(engine) -> int:  # noqa: ANN001
    """The school (when not cached); the school's audit chain taken (its head locked and
    read) with the two ids reserved; then the rows, however many handles and names: one
    statement on PostgreSQL, which also moves the chain's head; on SQLite one INSERT per
    table (case, report, event, blind indexes, audit) and the head's UPDATE."""
    return 3 if engine.dialect.name == "postgresql" else 8


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def cached_schools(app):
    """The school cache as deployed (60 s), on a clock the test moves."""
    clock = FakeClock()
    app.extensions[_SCHOOL_CACHE] = SchoolCache(60, clock=clock)
    yield clock
    app.extensions.pop(_SCHOOL_CACHE, None)


def _tables_written(statements: list[str]) -> list[str]:
    return [table for s in statements for table in _INSERT_INTO.findall(s)]


def test_the_form_page_reads_only_the_school(client, school, engine):
    with counted_statements(engine) as statements:
        response = client.get(f"/s/{school.slug}/report")

    assert response.status_code == 200
    assert len(statements) == 1 and "FROM school" in statements[0], statements


def test_a_submission_is_a_fixed_handful_of_statements_whatever_it_holds(client, school, session,
                                                                        engine):
    submit(client, school.slug)  # the school's audit chain exists, as after create-school
    token = csrf_token(client, f"/s/{school.slug}/report")
    handles = {f"handles-{i}-{part}": value for i, (platform, name) in enumerate(
        [("instagram", "@one"), ("tiktok", "@two"), ("snapchat", "@three")])
        for part, value in (("platform", platform), ("handle", name))}
    with counted_statements(engine) as statements, counted_flushes() as flushes:
        response = client.post(f"/s/{school.slug}/report", data={
            "csrf_token": token, **report_form(identity="confidential", reporter_name="Sam Doe",
                                               year_group="9"), **handles})

    assert response.status_code == 200, text(response)[:2000]
    assert len(statements) <= most_statements_per_submission(engine), "\n".join(statements)
    # Plain INSERTs only: an ORM flush costs more CPU than the statements it sends.
    assert flushes == []
    assert sorted(_tables_written(statements)) == [
        "audit_entry", "case_event", "case_file", "case_identifier", "report"]
    # ... and every row is there: three handles and the name, in one INSERT.
    report = report_for_key(session, case_key_of(response))
    kinds = session.execute(select(CaseIdentifier.kind).where(
        CaseIdentifier.case_id == report.case_id)).scalars().all()
    assert sorted(k.value for k in kinds) == ["handle", "handle", "handle", "student_name"]


def test_a_reply_address_given_with_the_report_extends_the_audit_chain_in_order(client, school,
                                                                                 session):
    submit(client, school.slug)
    report = report_for_key(session, submit(client, school.slug, reply_email="me@example.com"))

    entries = session.execute(select(AuditEntry).where(AuditEntry.school_id == school.id)
                              .order_by(AuditEntry.id)).scalars().all()
    assert [(e.action, e.case_id) for e in entries[-2:]] == [
        ("report.submitted", report.case_id), ("report.reply_email_set", report.case_id)]
    assert entries[-1].prev_hash == entries[-2].entry_hash
    check = audit.verify_chain(session, school.id)
    assert check.is_intact and check.entries_checked == len(entries) == 3


def test_the_empty_form_is_the_same_for_everyone_but_the_csrf_token_and_form_id(new_client,
                                                                                school):
    url = f"/s/{school.slug}/report"
    first, second = text(new_client().get(url)), text(new_client().get(url))
    [token_1], [token_2] = _CSRF.findall(first), _CSRF.findall(second)
    [form_1], [form_2] = _FORM_ID.findall(first), _FORM_ID.findall(second)

    assert token_1 != token_2 and form_1 != form_2
    assert token_1 not in second and token_2 not in first
    assert form_1 not in second and form_2 not in first
    assert _without_the_visitors_parts(first) == _without_the_visitors_parts(second)
    for field in ('name="is_danger"', 'name="details"', 'name="kinds"', 'name="handles-2-handle"',
                  'name="reporter_name"', 'name="reply_email"'):
        assert field in first
    assert ('<input checked id="identity-0" name="identity" required type="radio" '
            'value="anonymous">') in first


def test_what_one_student_typed_never_reaches_another_students_form(app, new_client, school):
    url = f"/s/{school.slug}/report"
    first, second = new_client(), new_client()
    token = csrf_token(first, url)
    app.extensions.pop(_EMPTY_PAGES, None)  # nothing rendered yet when the POST comes
    refused = first.post(url, data={
        "csrf_token": token, **report_form(details="", involved="MARKER-Q7 Jo Bloggs"),
        "handles-0-platform": "tiktok", "handles-0-handle": "@marker_q7"})

    assert refused.status_code == 422
    assert "MARKER-Q7" in text(refused) and "@marker_q7" in text(refused)
    page = text(second.get(url))
    assert "MARKER-Q7" not in page and "marker_q7" not in page
    assert 'name="handles-0-handle" type="text" value="">' in page


def test_with_the_cache_a_form_page_asks_the_database_nothing(client, school, engine,
                                                              cached_schools):
    url = f"/s/{school.slug}/report"
    submit(client, school.slug)  # the first visit reads the school; its audit chain exists
    with counted_statements(engine) as statements:
        page = client.get(url)
        token = csrf_token(client, url)
        response = client.post(url, data={"csrf_token": token, **report_form()})

    assert school.name in text(page)
    assert response.status_code == 200 and case_key_of(response)
    assert not [s for s in statements if "FROM school" in s], statements
    # No handles named: no blind indexes; the chain's head (locked, with the ids) comes first.
    assert sorted(_tables_written(statements)) == ["audit_entry", "case_event", "case_file",
                                                   "report"]
    if engine.dialect.name != "postgresql":
        assert len(statements) == 6, statements  # head and ids, a table at a time, the head
    else:
        assert len(statements) == 2, statements
        assert "FROM audit_chain" in statements[0] and "FOR UPDATE" in statements[0]
        # Every row in one statement, written only if the case went in.
        assert statements[-1].startswith("WITH new_case_file AS"), statements[-1]


def test_a_report_made_with_a_cached_school_is_stored_as_with_a_fresh_one(
        app, client, school, session, cached_schools):
    client.get(f"/s/{school.slug}/report")
    # A setting changed elsewhere: this process goes on with what it read for a minute.
    session.execute(School.__table__.update().where(School.id == school.id)
                    .values(critical_response_hours=4))
    session.commit()
    before = report_for_key(session, submit(client, school.slug, is_danger="yes"))
    cached_schools.now += 61
    after = report_for_key(session, submit(client, school.slug, is_danger="yes"))

    windows = [session.get(Case, r.case_id) for r in (before, after)]
    assert [c.school_id for c in windows] == [school.id, school.id]
    assert [c.response_due_dt - c.deadline_start_dt for c in windows] == [
        timedelta(hours=school.critical_response_hours), timedelta(hours=4)]


def test_a_school_not_found_is_not_remembered(app, client, session, cached_schools):
    missing = client.get("/s/opens-later/report")
    SchoolFactory(slug="opens-later", name="Opens Later Academy")
    session.commit()
    found = client.get("/s/opens-later/report")

    assert missing.status_code == 404
    assert found.status_code == 200 and "Opens Later Academy" in text(found)


def test_a_reference_already_taken_is_drawn_again(session, school, monkeypatch):
    taken = reporting.submit_report(session, school, report_input()).reference
    draws = iter([taken, taken, "XYZ-FRESH1"])
    monkeypatch.setattr(reporting, "new_reference", lambda slug: next(draws))

    result = reporting.submit_report(session, school, report_input())
    session.commit()

    assert result.reference == "XYZ-FRESH1"
    references = session.execute(select(Case.reference).where(Case.school_id == school.id)
                                 ).scalars().all()
    assert sorted(references) == sorted([taken, "XYZ-FRESH1"])
    assert result.case.reference == "XYZ-FRESH1" and result.report.case_id == result.case_id
    # The two clashes wrote nothing: one report, event and audit entry per case, one chain.
    for model in (Report, CaseEvent, AuditEntry):
        owners = session.execute(select(model.case_id).where(model.school_id == school.id)
                                 ).scalars().all()
        assert sorted(owners) == sorted({c.id for c in session.scalars(
            select(Case).where(Case.school_id == school.id))}), model
    assert audit.verify_chain(session, school.id).is_intact


def test_a_new_case_gets_every_column_default(session, school):
    """The case goes in as a prebuilt INSERT, not through the ORM: the model's defaults
    must still be there."""
    result = reporting.submit_report(session, school, report_input())
    session.commit()
    session.expire_all()

    case = result.case
    assert (case.version, case.escalation_level, case.unread_reporter_messages) == (1, 0, 0)
    assert case.is_purged is False and case.assignee_id is None and case.first_response_dt is None
    report = result.report
    assert report.id == result.report_id and report.case_id == case.id
    event = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)).one()
    assert event.is_restricted is False and event.data["report_id"] == report.id


def test_a_row_that_names_another_case_is_refused_not_rewritten(session, school):
    """Rows copy case_id from the new case; one that says otherwise (an audit entry hashed
    over its own case_id) must fail loudly, not be stored with a value it was not hashed over."""
    from app.inserts import full_row, insert_together

    case_row = full_row(Case.__table__, {"school_id": school.id, "reference": "XYZ-OTHER1",
                                         "created_dt": utcnow(), "response_due_dt": utcnow(),
                                         "id": 10_000_001})
    event = full_row(CaseEvent.__table__, {"school_id": school.id, "case_id": 42,
                                           "kind": "note", "created_dt": case_row["created_dt"]})
    with pytest.raises(ValueError, match="case_event.case_id"):
        insert_together(session.connection(), Case.__table__, case_row,
                        unique=("school_id", "reference"), rest=[(CaseEvent.__table__, [event])],
                        inherit={"case_id": "id", "school_id": "school_id"})
    session.rollback()
    assert session.scalar(select(Case.id).where(Case.reference == "XYZ-OTHER1")) is None


def test_the_kept_empty_page_is_the_page_a_fresh_render_gives(app, new_client, school, session):
    """The empty report page is kept per school; filled with a token it must be exactly
    what rendering the template gives, and a renamed school must get a page of its own."""
    url = f"/s/{school.slug}/report"
    assert not app.jinja_env.auto_reload  # as deployed: pages are kept
    app.extensions.pop(_EMPTY_PAGES, None)
    kept = text(new_client().get(url))  # rendered, then kept
    again = text(new_client().get(url))  # from the kept page
    app.jinja_env.auto_reload = True  # as in development: rendered every time
    try:
        fresh = text(new_client().get(url))
    finally:
        app.jinja_env.auto_reload = False
    tokens = [_CSRF.findall(page)[0] for page in (kept, again, fresh)]
    form_ids = [_FORM_ID.findall(page)[0] for page in (kept, again, fresh)]

    assert len(set(tokens)) == 3 and len(set(form_ids)) == 3
    assert (_without_the_visitors_parts(kept) == _without_the_visitors_parts(again)
            == _without_the_visitors_parts(fresh))
    session.execute(School.__table__.update().where(School.id == school.id)
                    .values(name="Renamed Academy"))
    session.commit()
    renamed = text(new_client().get(url))
    assert "Renamed Academy" in renamed and school.name not in renamed
