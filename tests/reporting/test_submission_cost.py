"""What the form costs: the empty form is rendered once per process; a submission is one
flush and a fixed handful of statements however much the report holds (issue 7).

A regression to per-object flushes, per-row inserts or a form rendered per visitor shows
up here first; the figures themselves are in bench/README.md.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from app.audit import services as audit
from app.audit.models import AuditEntry
from app.cases.identifier_models import CaseIdentifier
from tests.helpers import csrf_token
from tests.reporting.conftest import (case_key_of, counted_flushes, counted_statements,
                                      report_for_key, report_form, submit, text)

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_BLANK_FIELDS = "safe_report.blank_report_fields"
#: The school; the reference check; the case and the report; the school's audit chain
#: locked and its head read; one INSERT each for the audit entry, the event and the
#: blind indexes (however many handles and names).
MOST_STATEMENTS_PER_SUBMISSION = 9


def _tables_written(statements: list[str]) -> list[str]:
    return [s.split()[2] for s in statements if s.startswith("INSERT INTO")]


def test_the_form_page_reads_only_the_school(client, school, engine):
    with counted_statements(engine) as statements:
        response = client.get(f"/s/{school.slug}/report")

    assert response.status_code == 200
    assert len(statements) == 1 and "FROM school" in statements[0], statements


def test_a_submission_is_a_fixed_handful_of_statements_whatever_it_holds(client, school, session,
                                                                        engine):
    token = csrf_token(client, f"/s/{school.slug}/report")
    handles = {f"handles-{i}-{part}": value for i, (platform, name) in enumerate(
        [("instagram", "@one"), ("tiktok", "@two"), ("snapchat", "@three")])
        for part, value in (("platform", platform), ("handle", name))}
    with counted_statements(engine) as statements, counted_flushes() as flushes:
        response = client.post(f"/s/{school.slug}/report", data={
            "csrf_token": token, **report_form(identity="confidential", reporter_name="Sam Doe",
                                               year_group="9"), **handles})

    assert response.status_code == 200, text(response)[:2000]
    assert len(statements) <= MOST_STATEMENTS_PER_SUBMISSION, "\n".join(statements)
    # One flush, of the case and the report together (their ids are needed next); the
    # other rows go in as plain INSERTs. Each flush costs more CPU than its statements.
    assert flushes == [2]
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


def test_the_empty_form_is_the_same_for_everyone_but_the_csrf_token(new_client, school):
    url = f"/s/{school.slug}/report"
    first, second = text(new_client().get(url)), text(new_client().get(url))
    [token_1], [token_2] = _CSRF.findall(first), _CSRF.findall(second)

    assert token_1 != token_2
    assert token_1 not in second and token_2 not in first
    assert first.replace(token_1, "TOKEN") == second.replace(token_2, "TOKEN")
    for field in ('name="is_danger"', 'name="details"', 'name="kinds"', 'name="handles-2-handle"',
                  'name="reporter_name"', 'name="reply_email"'):
        assert field in first
    assert ('<input checked id="identity-0" name="identity" required type="radio" '
            'value="anonymous">') in first


def test_what_one_student_typed_never_reaches_another_students_form(app, new_client, school):
    url = f"/s/{school.slug}/report"
    first, second = new_client(), new_client()
    token = csrf_token(first, url)
    app.extensions.pop(_BLANK_FIELDS, None)  # nothing rendered yet when the POST comes
    refused = first.post(url, data={
        "csrf_token": token, **report_form(details="", involved="MARKER-Q7 Jo Bloggs"),
        "handles-0-platform": "tiktok", "handles-0-handle": "@marker_q7"})

    assert refused.status_code == 422
    assert "MARKER-Q7" in text(refused) and "@marker_q7" in text(refused)
    page = text(second.get(url))
    assert "MARKER-Q7" not in page and "marker_q7" not in page
    assert 'name="handles-0-handle" type="text" value="">' in page
