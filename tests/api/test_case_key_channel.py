"""GET /api/v1/report and POST /api/v1/report/messages: the case-key channel as JSON."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from app.audit.models import AuditEntry
from app.cases import merging
from app.cases.models import Case, CaseEvent, EventKind
from app.reporting import services as reporting
from app.security import keyring
from tests.api.conftest import (assert_problem, error_fields, key_header,
                                report_for, row_counts, submit)
from tests.factories import LeadFactory, StaffFactory
from tests.helpers import unique_address


@pytest.fixture
def submitted(client, session, school):
    """A report made through the API: its answer and its stored row."""
    answer = submit(client, school)
    return answer, report_for(session, answer["reference"])


def loosely_typed(case_key: str) -> list[str]:
    words = case_key.split()
    return [
        case_key.upper(),
        "  " + "   ".join(words) + "  ",
        "-".join(words),
        " - ".join(w.capitalize() for w in words),
        "\t".join(words) + "\t",
    ]


def test_status_with_the_key_however_it_is_typed(client, session, submitted):
    answer, _ = submitted

    for typed in [answer["case_key"], *loosely_typed(answer["case_key"])]:
        response = client.get("/api/v1/report", headers=key_header(typed))
        assert response.status_code == 200, typed
        body = response.get_json()
        assert body == {"reference": answer["reference"], "status": "new",
                        "status_text": reporting.STATUS_FOR_STUDENTS["new"],
                        "messages": [], "evidence_count": 0}


def test_scheme_is_case_insensitive(client, submitted):
    answer, _ = submitted

    response = client.get("/api/v1/report", headers={"Authorization": f"casekey {answer['case_key']}"})

    assert response.get_json()["reference"] == answer["reference"]


def test_counsellor_reply_and_reporter_message_are_shown_in_order(client, session, school,
                                                                   submitted):
    answer, report = submitted
    counsellor = StaffFactory(school=school)
    reporting.reply_to_reporter(session, counsellor, report.case,
                                "Thank you for telling us. Can we talk on Monday?")
    session.commit()
    sent = client.post("/api/v1/report/messages", headers=key_header(answer["case_key"]),
                       json={"body": "Yes, Monday is fine."})
    assert sent.status_code == 201

    body = client.get("/api/v1/report", headers=key_header(answer["case_key"])).get_json()

    assert [(m["from_school"], m["body"]) for m in body["messages"]] == [
        (True, "Thank you for telling us. Can we talk on Monday?"),
        (False, "Yes, Monday is fine."),
    ]
    assert all(m["created_at"] for m in body["messages"])


def test_one_report_key_does_not_open_another(client, session, school, submitted):
    answer, report = submitted
    other = submit(client, school, details="A different report")
    reporting.reply_to_reporter(session, StaffFactory(school=school), report.case, "For you only")
    session.commit()

    body = client.get("/api/v1/report", headers=key_header(other["case_key"])).get_json()

    assert body["reference"] == other["reference"] != answer["reference"]
    assert body["messages"] == []


def _bad_headers(case_key: str) -> list[dict[str, str]]:
    words = case_key.split()
    return [
        {},
        {"Authorization": ""},
        {"Authorization": f"Bearer {case_key}"},
        {"Authorization": f"Basic {case_key}"},
        {"Authorization": f"CaseKey{case_key}"},
        {"Authorization": "CaseKey "},
        {"Authorization": "CaseKey " + " ".join(words[:-1] + ["wrongword"])},
        {"Authorization": "CaseKey " + " ".join(words[:-1])},
        {"Authorization": f"CaseKey {words[0]}"},
        {"Authorization": "CaseKey " + "word " * 2_000},
        {"Authorization": "CaseKey " + "x" * 10_240},
        {"Authorization": "CaseKey " + "\u00e9\u00ff\u00a0" * 50},
        {"Authorization": "CaseKey \x7f\x01 \x1b"},
    ]


def test_missing_or_wrong_key_gets_one_generic_401(client, session, submitted):
    answer, _ = submitted
    details = set()

    for headers in _bad_headers(answer["case_key"]):
        # More tries than the limiter allows one address: spread them out.
        response = client.get("/api/v1/report", headers=headers,
                              environ_base={"REMOTE_ADDR": unique_address()})
        problem = assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == "CaseKey"
        assert "reference" not in problem and "messages" not in problem
        details.add((problem["title"], problem["detail"]))

    assert len(details) == 1


def test_wrong_key_on_the_write_endpoints_is_401_and_stores_nothing(client, session, submitted):
    answer, _ = submitted
    wrong = key_header(" ".join(answer["case_key"].split()[:-1] + ["wrongword"]))
    before = row_counts(session)

    message = client.post("/api/v1/report/messages", headers=wrong, json={"body": "hello"})
    evidence = client.post("/api/v1/report/evidence", headers=wrong,
                           data={"file": (_png(), "shot.png")})

    assert assert_problem(message, 401)["detail"] == assert_problem(evidence, 401)["detail"]
    assert row_counts(session) == before


def _png() -> "object":
    import io

    from tests.api.conftest import png_bytes

    return io.BytesIO(png_bytes())


def test_message_is_stored_encrypted_counted_and_audited(client, session, submitted):
    answer, report = submitted
    unread_before = report.case.unread_reporter_messages

    response = client.post("/api/v1/report/messages", headers=key_header(answer["case_key"]),
                           json={"body": "It happened again <b>today</b> after PE."})

    assert response.status_code == 201
    assert response.get_json()["from_school"] is False
    assert response.get_json()["body"] == "It happened again <b>today</b> after PE."
    session.expire_all()
    event = session.execute(select(CaseEvent).where(
        CaseEvent.report_id == report.id,
        CaseEvent.kind == EventKind.MESSAGE_FROM_REPORTER)).scalar_one()
    assert event.body == "It happened again <b>today</b> after PE."
    raw = session.execute(text("SELECT body FROM case_event WHERE id = :id"),
                          {"id": event.id}).scalar_one()
    assert b"happened again" not in bytes(raw)
    assert report.case.unread_reporter_messages == unread_before + 1
    entry = session.execute(select(AuditEntry).where(
        AuditEntry.action == "report.message_received")).scalar_one()
    assert (entry.case_id, entry.target, entry.actor_kind) == (
        report.case_id, f"case_event:{event.id}", "reporter")


def test_message_holding_the_case_key_is_refused_and_not_stored(client, session, submitted):
    answer, _ = submitted
    before = row_counts(session)
    hidden = "my key is " + "-".join(w.upper() for w in answer["case_key"].split()) + " ok?"

    response = client.post("/api/v1/report/messages", headers=key_header(answer["case_key"]),
                           json={"body": hidden})

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"message"}
    assert "case key" in problem["detail"]
    assert row_counts(session) == before


@pytest.mark.parametrize(("body", "field"), [
    ({"body": ""}, "body"),
    ({"body": "   "}, "message"),
    ({"body": "z" * 5_001}, "body"),
    ({"body": 42}, "body"),
    ({}, "body"),
    ({"body": "hi", "urgent": True}, "urgent"),
    ({"body": "lone \udc00 surrogate"}, "body"),
    ({"body": "nul \u0000 char"}, "body"),
])
def test_empty_or_over_long_message_is_refused(client, session, submitted, body, field):
    answer, _ = submitted
    before = row_counts(session)

    response = client.post("/api/v1/report/messages", headers=key_header(answer["case_key"]),
                           json=body)

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {field}
    assert row_counts(session) == before


def test_every_key_word_stays_one_word_when_typed_back():
    # The key-in-message check compares runs of exactly CASE_KEY_WORDS words.
    from app.reporting.case_keys import _wordlist
    from app.security import normalise_case_key

    assert all(len(normalise_case_key(w).split()) == 1 for w in _wordlist())


def test_malformed_json_message_is_400_and_stores_nothing(client, session, submitted):
    answer, _ = submitted
    before = row_counts(session)

    response = client.post("/api/v1/report/messages", headers=key_header(answer["case_key"]),
                           data="[" * 50_000, content_type="application/json")

    assert error_fields(assert_problem(response, 400)) == {"body"}
    assert row_counts(session) == before


def test_wrong_key_is_answered_before_a_bad_body(client, session, submitted):
    answer, _ = submitted

    response = client.post("/api/v1/report/messages", headers=key_header("not the key at all"),
                           json={"body": "", "extra": 1})

    assert assert_problem(response, 401).get("errors") is None


def test_each_reporter_keeps_their_own_reference_after_cases_are_merged(client, session, school):
    """A reference is given to one reporter: after a merge it must not show another's."""
    answers = [submit(client, school) for _ in range(3)]
    first, second, third = answers
    lead = LeadFactory(school=school)
    case_a, case_b, case_c = (report_for(session, a["reference"]).case for a in answers)
    own = report_for(session, second["reference"])
    # A is merged into B; then B's own report is linked on to C; then the rest of B follows.
    merging.merge_cases(session, lead, case_a.id, case_b.reference, version=case_a.version)
    merging.merge_cases(session, lead, case_b.id, case_c.reference, version=case_b.version,
                        report_id=own.id)
    merging.merge_cases(session, lead, case_b.id, case_c.reference, version=case_b.version)
    session.commit()
    session.expire_all()
    case_c = session.get(Case, case_c.id)
    assert {r.case_key_digest for r in case_c.reports} == {
        keyring().case_key_digest(a["case_key"]) for a in answers}

    for answer in answers:
        body = client.get("/api/v1/report", headers=key_header(answer["case_key"])).get_json()
        assert body["reference"] == answer["reference"]
        assert body["status"] == case_c.status.value
