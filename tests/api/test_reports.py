"""POST /api/v1/schools/<slug>/reports: what is stored, what is answered, what is refused."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from app.audit.models import AuditEntry
from app.cases.models import Case
from app.cases.vocabulary import Risk
from app.notifications.models import Notification
from app.reporting.case_keys import CASE_KEY_WORDS
from app.security import keyring
from tests.api.conftest import (assert_problem, error_fields, report_body, report_for, row_counts,
                                submit)
from tests.factories import LeadFactory, StaffFactory


def test_submit_returns_key_and_reference_of_the_stored_case(client, session, school):
    answer = submit(client, school, kinds=["harassment", "rumours"],
                    platforms=["instagram", "snapchat"], occurred_period="this_week",
                    involved="Two people in my form", handles=[
                        {"platform": "instagram", "handle": "@mean.one"}])

    assert len(answer["case_key"].split()) == CASE_KEY_WORDS
    assert answer["status"] == "new"
    assert answer["help_now"] is False
    report = report_for(session, answer["reference"])
    case = report.case
    assert case.school_id == school.id
    assert case.risk is Risk.MEDIUM
    assert report.case_key_digest == keyring().case_key_digest(answer["case_key"])
    assert report.is_anonymous and report.reporter_identity is None
    assert report.details == "Someone keeps posting mean comments under my photos."
    assert report.kinds == ["harassment", "rumours"]
    assert report.platforms == ["instagram", "snapchat"]
    assert report.occurred_period == "this_week"
    assert report.involved == "Two people in my form"
    assert report.handles == [{"platform": "instagram", "handle": "@mean.one"}]
    assert report.reply_email is None
    # The key is never stored, in clear or as part of any column.
    raw = session.execute(text("SELECT * FROM report WHERE id = :id"), {"id": report.id}).one()
    assert not any(isinstance(v, str) and answer["case_key"] in v for v in raw)
    submitted = session.execute(select(AuditEntry).where(
        AuditEntry.action == "report.submitted", AuditEntry.case_id == case.id)).scalar_one()
    assert submitted.actor_kind == "reporter" and submitted.detail["anonymous"] is True


@pytest.mark.parametrize("urgent", [{"is_danger": True}, {"is_self_harm": True}])
def test_danger_or_self_harm_is_critical_and_alerts_every_lead(client, session, school, urgent):
    second_lead = LeadFactory(school=school)
    StaffFactory(school=school)  # a counsellor: not alerted at once
    session.commit()

    answer = submit(client, school, **urgent)

    assert answer["help_now"] is True
    case = report_for(session, answer["reference"]).case
    assert case.risk is Risk.CRITICAL
    alerts = session.execute(select(Notification).where(
        Notification.case_id == case.id, Notification.kind == "critical_alert")).scalars().all()
    leads = {s.id for s in school_staff(session, school) if s.is_lead}
    assert second_lead.id in leads and len(leads) == 2
    assert {n.recipient_staff_id for n in alerts} == leads
    assert all(n.data["reference"] == answer["reference"] for n in alerts)


def school_staff(session, school):  # noqa: ANN001
    from app.auth.models import StaffUser

    return session.execute(select(StaffUser).where(StaffUser.school_id == school.id)).scalars().all()


def test_confidential_report_stores_identity_encrypted(client, session, school):
    answer = submit(client, school, reporter={"name": "Zephyrine Quollbury", "year_group": 9,
                                              "contact": "Form 9Q, Mr Smith's room"})

    report = report_for(session, answer["reference"])
    assert report.is_anonymous is False
    assert report.reporter_identity == {"name": "Zephyrine Quollbury", "year_group": 9,
                                        "contact": "Form 9Q, Mr Smith's room"}
    assert report.year_group == 9
    raw = session.execute(text("SELECT reporter_identity FROM report WHERE id = :id"),
                          {"id": report.id}).scalar_one()
    assert b"Zephyrine" not in bytes(raw) and b"Quollbury" not in bytes(raw)


def test_reply_email_is_stored_encrypted_and_not_answered(client, session, school):
    answer = submit(client, school, reply_email="Kid.Reporter@Example.org")

    report = report_for(session, answer["reference"])
    assert report.reply_email == "Kid.Reporter@example.org"
    raw = session.execute(text("SELECT reply_email FROM report WHERE id = :id"),
                          {"id": report.id}).scalar_one()
    assert b"Kid.Reporter" not in bytes(raw)
    assert "Kid.Reporter" not in str(answer)


def test_html_in_fields_is_stored_as_text(client, session, school):
    answer = submit(client, school, details="<script>alert('x')</script> & <b>bold</b>")

    report = report_for(session, answer["reference"])
    assert report.details == "<script>alert('x')</script> & <b>bold</b>"


BAD_BODIES = [
    pytest.param(report_body(colour="blue"), {"colour"}, id="unknown-field"),
    pytest.param(report_body(is_danger="perhaps"), {"is_danger"}, id="not-a-boolean"),
    pytest.param(report_body(details=["a", "list"]), {"details"}, id="list-for-text"),
    pytest.param(report_body(kinds="harassment"), {"kinds"}, id="string-for-list"),
    pytest.param(report_body(kinds=["harassment", "pranks"]), {"kinds.1"}, id="unknown-kind"),
    pytest.param(report_body(platforms=["myspace"]), {"platforms.0"}, id="unknown-platform"),
    pytest.param(report_body(reporter_role="teacher"), {"reporter_role"}, id="unknown-role"),
    pytest.param(report_body(occurred_period="yesterday"), {"occurred_period"}, id="unknown-period"),
    pytest.param(report_body(details="x" * 10_001), {"details"}, id="details-too-long"),
    pytest.param(report_body(involved="y" * 10_001), {"involved"}, id="involved-too-long"),
    pytest.param(report_body(details=""), {"details"}, id="empty-details"),
    pytest.param(report_body(handles=[{"platform": "tiktok", "handle": f"@h{i}"} for i in range(21)]),
                 {"handles"}, id="too-many-handles"),
    pytest.param(report_body(handles=[{"platform": "tiktok"}]), {"handles.0.handle"},
                 id="handle-missing-name"),
    pytest.param(report_body(reporter={"year_group": 30}), {"reporter.name", "reporter.year_group"},
                 id="bad-identity"),
    pytest.param(report_body(reporter={"name": "Sam", "year_group": " "}), {"reporter.year_group"},
                 id="blank-year-group"),
    pytest.param(report_body(reporter={"name": "Sam", "year_group": "\u3000"}),
                 {"reporter.year_group"}, id="ideographic-space-year-group"),
    pytest.param(report_body(occurred_period=" "), {"occurred_period"}, id="blank-period"),
    pytest.param(report_body(reply_email="not an email"), {"reply_email"}, id="bad-email"),
    pytest.param({"details": "only this"}, {"is_danger", "is_self_harm", "reporter_role"},
                 id="required-missing"),
    pytest.param(report_body(is_danger=None, colour=1, details="x" * 10_001),
                 {"is_danger", "colour", "details"}, id="several-at-once"),
]


@pytest.mark.parametrize(("body", "fields"), BAD_BODIES)
def test_bad_input_names_each_field_and_stores_nothing(client, session, school, body, fields):
    before = row_counts(session)

    response = client.post(f"/api/v1/schools/{school.slug}/reports", json=body)

    problem = assert_problem(response, 422)
    assert error_fields(problem) == fields
    assert all(e["reason"] for e in problem["errors"])
    for field in fields:
        assert field.split(".")[0] in problem["detail"]
    assert row_counts(session) == before


@pytest.mark.parametrize("year_group", ["1e400", "-1e400", "9.5e999", "1" + "0" * 400])
def test_a_year_group_too_large_for_a_number_is_refused_naming_it(client, session, school,
                                                                  year_group):
    before = row_counts(session)
    body = json.dumps(report_body(reporter={"name": "Sam", "year_group": 0})).replace(
        '"year_group": 0', f'"year_group": {year_group}')

    response = client.post(f"/api/v1/schools/{school.slug}/reports", data=body,
                           content_type="application/json")

    if response.status_code == 400:  # refused as JSON (a number of hundreds of digits)
        assert "not valid JSON" in assert_problem(response, 400)["detail"]
    else:
        assert error_fields(assert_problem(response, 422)) == {"reporter.year_group"}
    assert row_counts(session) == before


@pytest.mark.parametrize(("body", "field"), [
    (report_body(details="   \n\t "), "details"),
    (report_body(details="nul \x00 byte"), "details"),
    # Accepted by the schema's email check, refused by the service's stricter one.
    (report_body(reply_email="kid@localhost"), "reply_email"),
])
def test_input_the_service_refuses_stores_nothing(client, session, school, body, field):
    before = row_counts(session)

    response = client.post(f"/api/v1/schools/{school.slug}/reports", json=body)

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {field}
    assert row_counts(session) == before


def test_body_that_is_not_json_is_refused(client, session, school):
    before = row_counts(session)

    broken = client.post(f"/api/v1/schools/{school.slug}/reports", data="{not json",
                         content_type="application/json")
    not_an_object = client.post(f"/api/v1/schools/{school.slug}/reports", json=["a", "list"])
    form = client.post(f"/api/v1/schools/{school.slug}/reports", data={"details": "x"})

    assert assert_problem(broken, 400)["errors"]
    assert assert_problem(not_an_object, 422)["errors"]
    assert {"details", "is_danger"} <= error_fields(assert_problem(form, 422))
    assert row_counts(session) == before


def test_unknown_school_is_404_and_stores_nothing(client, session, school):
    before = row_counts(session)

    response = client.post("/api/v1/schools/no-such-school/reports", json=report_body())

    problem = assert_problem(response, 404)
    assert "school" in problem["detail"]
    assert row_counts(session) == before
    assert session.execute(select(Case).where(Case.school_id == school.id)).first() is None


def test_get_on_the_submit_route_is_405_with_allow(client, school):
    response = client.get(f"/api/v1/schools/{school.slug}/reports")

    problem = assert_problem(response, 405)
    assert "POST" in response.headers["Allow"].split(", ")
    assert "POST" in problem["detail"]


# Each of these was a 500 once: the standard JSON decoder's RecursionError and digit-limit
# ValueError escaped webargs, and lone surrogates or NUL reached the encryption or PostgreSQL.
@pytest.mark.parametrize(("raw", "status", "fields"), [
    pytest.param("[" * 100_000, 400, {"body"}, id="nested-too-deep"),
    pytest.param('{"is_danger": ' + "9" * 5_000 + "}", 400, {"body"}, id="integer-too-long"),
    pytest.param('{"is_danger": NaN}', 400, {"body"}, id="nan"),
    pytest.param(b'{"details": "\xff\xfe"}', 400, {"body"}, id="not-utf8"),
    pytest.param(json.dumps(report_body(details="\ud800 lone surrogate")), 422, {"details"},
                 id="surrogate-in-details"),
    pytest.param(json.dumps(report_body(handles=[{"platform": "other", "handle": "\udfff"}])),
                 422, {"handles.0.handle"}, id="surrogate-in-handle"),
    pytest.param(json.dumps(report_body(reporter={"name": "A\ud83d"})), 422, {"reporter.name"},
                 id="surrogate-in-name"),
    pytest.param(json.dumps(report_body(involved="a\u0000b")), 422, {"involved"},
                 id="nul-in-involved"),
])
def test_malformed_json_is_a_client_error_and_stores_nothing(client, session, school, raw,
                                                             status, fields):
    before = row_counts(session)

    response = client.post(f"/api/v1/schools/{school.slug}/reports", data=raw,
                           content_type="application/json")

    problem = assert_problem(response, status)
    assert error_fields(problem) == fields
    if status == 400:
        assert "not valid JSON" in problem["detail"]
    assert row_counts(session) == before


def test_school_address_with_a_nul_is_refused(client, session, school):
    before = row_counts(session)

    response = client.post(f"/api/v1/schools/{school.slug}%00/reports", json=report_body())

    # NUL is refused for every request before any lookup (app.errors), as a 400 problem.
    assert_problem(response, 400)
    assert "NUL" in response.get_json()["detail"]
    assert row_counts(session) == before


def test_a_submission_is_a_fixed_handful_of_plain_inserts(client, session, school, engine):
    from app.cases.identifier_models import CaseIdentifier
    from tests.reporting.conftest import counted_flushes, counted_statements
    from tests.reporting.test_submission_cost import most_statements_per_submission

    submit(client, school)  # the school's audit chain exists, as after create-school
    with counted_statements(engine) as statements, counted_flushes() as flushes:
        answer = submit(client, school, reporter={"name": "Sam Doe", "year_group": 9},
                        handles=[{"platform": "instagram", "handle": "@one"},
                                 {"platform": "tiktok", "handle": "@two"}])

    assert len(statements) <= most_statements_per_submission(engine), "\n".join(statements)
    assert flushes == []  # plain INSERTs: no ORM flush
    report = report_for(session, answer["reference"])
    assert report.reporter_identity["name"] == "Sam Doe"
    digests = session.execute(select(CaseIdentifier.digest).where(
        CaseIdentifier.case_id == report.case_id)).scalars().all()
    assert len(digests) == 3  # two handles and the name, in one INSERT
