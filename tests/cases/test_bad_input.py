"""Bad input and stale pages: a clear message each, nothing changed, never a 500."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select, text as sql

from app.cases import workflow
from app.cases.identifier_models import CaseIdentifier
from app.cases.models import Case, CaseEvent
from app.cases.people_models import CasePerson
from app.cases.vocabulary import Risk
from app.errors import Conflict
from tests.cases.conftest import snapshot, text
from tests.factories import StaffFactory, make_case


def _message(response) -> str:  # noqa: ANN001
    return html.unescape(text(response))


def test_a_stale_page_gets_a_conflict_and_can_then_send_again(session, world, new_case,
                                                              as_staff):
    case = new_case()
    lead, counsellor = as_staff(world.lead), as_staff(world.counsellor)
    shown_version = case.version
    # the counsellor acts while the lead is still looking at the old page
    assert counsellor.post(case, "notes", "note", {"body": "Called home."}).status_code == 302
    before = snapshot(session, case.id)

    response = lead.post(case, "risk", "risk", {"risk": "critical", "reason": "Self-harm"},
                         version=shown_version)

    assert response.status_code == 409
    page = _message(response)
    assert "Someone else changed this case while you were looking at it" in page
    assert "Called home." in page  # the page now shows the other person's change
    assert 'name="risk-reason"' in page and "Self-harm</textarea>" in page  # input kept
    assert snapshot(session, case.id) == before
    # the re-shown form carries the current version, so sending it again works
    assert f'name="risk-version" type="hidden" value="{before["case"]["version"]}"' in page
    assert lead.post(case, "risk", "risk", {"risk": "critical", "reason": "Self-harm"},
                     version=before["case"]["version"]).status_code == 302
    session.expire_all()
    assert session.get(Case, case.id).risk is Risk.CRITICAL


@pytest.mark.parametrize("version", ["", "abc", "0"])
def test_a_missing_or_broken_version_is_refused(session, world, new_case, as_staff, version):
    case = new_case()
    before = snapshot(session, case.id)
    staff = as_staff(world.counsellor)
    response = staff.client.post(f"/staff/cases/{case.id}/notes", data={
        "note-csrf_token": staff.csrf, "note-version": version, "note-body": "A note."})
    assert response.status_code == 409
    assert "Reload the page" in _message(response) or "changed this case" in _message(response)
    assert snapshot(session, case.id) == before


def test_a_write_that_loses_the_race_at_the_database_is_a_conflict(session, world):
    case = make_case(session, world.school)
    session.flush()
    version = case.version
    # another transaction commits a change this session has not seen
    session.execute(sql("UPDATE case_file SET version = version + 1 WHERE id = :id"),
                    {"id": case.id})
    with pytest.raises(Conflict, match="Someone else changed this case"):
        workflow.add_note(session, world.counsellor, case.id, "Mine.", is_restricted=False,
                          version=version)


CASES = [
    # (action, prefix, data, field message)
    ("status", "status", {"to_status": "closed"}, "A case that is New can only move to: Triaged."),
    ("status", "status", {"to_status": "bogus"}, "Choose a status from the list."),
    ("status", "status", {"to_status": ""}, "Choose the status to move to."),
    ("risk", "risk", {"risk": "high", "reason": "   "}, "Write why the risk is changing."),
    ("risk", "risk", {"risk": "extreme", "reason": "Because"}, "Choose a risk level from the list."),
    ("risk", "risk", {"risk": "medium", "reason": "Because"}, "The risk is already Medium."),
    ("notes", "note", {"body": ""}, "Write the note first."),
    ("notes", "note", {"body": "x" * 10_001}, "The note is too long: keep it to 10,000 characters"),
    ("people/account", "account", {"platform": "instagram", "handle": "h" * 500,
                                   "role": "witness"},
     "The account name (handle) is too long: keep it to 200 characters (it has 500)."),
    ("people/account", "account", {"platform": "myspace", "handle": "tom", "role": "witness"},
     "Choose the platform of the account from the list."),
    ("people/account", "account", {"platform": "tiktok", "handle": "x", "role": "bystander"},
     "Choose how they are involved: target, student who bullied or witness."),
    ("people/student", "student", {"name": "Sam", "year_group": "99", "role": "target"},
     "Choose a year group from 1 to 14."),
    ("people/student", "student", {"name": "", "role": "target"}, "Write the student's name."),
    ("reply", "reply", {"message": " "}, "Write the reply first."),
    ("merge", "merge", {"target": "NOPE-000000"}, "No case of your school has that reference."),
    ("assign", "assign", {"assignee": "abc"}, "Choose someone from the list."),
]


def test_bad_input_gets_a_clear_message_and_changes_nothing(session, world, new_case, as_staff):
    lead = as_staff(world.lead)  # one sign-in for every case below: signing in is slow
    for action, prefix, data, message in CASES:
        case = new_case()
        before = snapshot(session, case.id)
        people_before = session.scalar(select(func.count()).select_from(CasePerson))
        identifiers_before = session.scalar(select(func.count()).select_from(CaseIdentifier))

        response = lead.post(case, action, prefix, data)

        assert response.status_code == 422, (action, data, _message(response)[:3000])
        page = _message(response)
        assert message in page, (action, data)
        assert 'class="error-summary"' in page
        assert snapshot(session, case.id) == before, (action, data)
        assert session.scalar(select(func.count()).select_from(CasePerson)) == people_before
        assert session.scalar(
            select(func.count()).select_from(CaseIdentifier)) == identifiers_before


def test_the_field_in_error_is_linked_from_the_summary(session, world, new_case, as_staff):
    case = new_case()
    response = as_staff(world.counsellor).post(
        case, "people/account", "account",
        {"platform": "instagram", "handle": "h" * 500, "role": "witness"})
    page = _message(response)
    assert '<a href="#account-handle">' in page
    assert 'id="account-handle-error"' in page and 'aria-invalid="true"' in page
    # the long value is shown back for correcting, not silently cut
    assert "h" * 500 in page


def test_resolving_without_a_summary_is_refused_over_http(session, world, new_case, as_staff):
    case = new_case()
    lead = as_staff(world.lead)
    for to in ("triaged", "in_progress", "awaiting_follow_up"):
        assert lead.post(case, "status", "status", {"to_status": to}).status_code == 302
    before = snapshot(session, case.id)
    response = lead.post(case, "status", "status", {"to_status": "resolved", "reason": ""})
    assert response.status_code == 422
    assert "Write a resolution summary" in _message(response)
    assert snapshot(session, case.id) == before


def test_foreign_ids_in_a_form_are_refused(session, world, new_case, as_staff):
    case = new_case()
    foreign_case = new_case(school=world.other_school)
    disabled = StaffFactory(school=world.school, is_enabled=False)
    session.commit()
    lead = as_staff(world.lead)
    before, foreign_before = snapshot(session, case.id), snapshot(session, foreign_case.id)
    for data, message in (
        ({"assignee": str(world.other_counsellor.id)}, "Choose a counsellor or safeguarding lead"),
        ({"assignee": str(disabled.id)}, "Choose a counsellor or safeguarding lead"),
        ({"assignee": str(world.admin.id)}, "Choose a counsellor or safeguarding lead"),
        ({"assignee": "999999"}, "Choose a counsellor or safeguarding lead"),
    ):
        response = lead.post(case, "assign", "assign", data)
        assert response.status_code == 422 and message in _message(response)
    for data in ({"target": foreign_case.reference}, {"target": case.reference},
                 {"target": "x" * 300}):
        response = lead.post(case, "merge", "merge", data)
        assert response.status_code == 422, data
        assert "reference" in _message(response)
        assert foreign_case.reference not in _message(response).replace(
            f'value="{foreign_case.reference}"', "")
    response = lead.post(case, "reply", "reply", {"message": "Hi", "report_id": "999999"})
    assert response.status_code == 422 and "Choose one of this case's reports." in _message(response)
    assert snapshot(session, case.id) == before
    assert snapshot(session, foreign_case.id) == foreign_before


NONSENSE_FILTERS = [
    ("status=bogus", "Choose a status from the list."),
    ("risk=extreme", "Choose a risk level from the list."),
    ("scope=everyone", "Choose mine, unassigned or all."),
    ("kind=zzz", "Choose a kind from the list."),
    ("platform=myspace", "Choose a platform from the list."),
    ("year=99", "Choose a year group from 1 to 14."),
    ("year=nine", "Choose a year group from 1 to 14."),
    ("after=not-a-cursor", "That page link is broken; start from the first page."),
    ("after=MXx4fDM", "That page link is broken; start from the first page."),
    ("q=" + "a" * 201, "Search for at most 200 characters."),
]


def test_nonsense_queue_filters_get_a_clear_message(session, world, new_case, as_staff):
    new_case()
    counsellor = as_staff(world.counsellor)
    for query, message in NONSENSE_FILTERS:
        response = counsellor.get(f"/staff/cases/?{query}")
        assert response.status_code == 422, query
        page = _message(response)
        assert message in page, query
        assert "data-case=" not in page


def test_a_naive_time_in_a_page_link_is_refused_not_a_crash(session, world, as_staff):
    import base64

    cursor = base64.urlsafe_b64encode(b"1|2026-01-01T00:00:00|5").decode().rstrip("=")
    response = as_staff(world.counsellor).get(f"/staff/cases/?after={cursor}")
    assert response.status_code == 422
    assert "That page link is broken" in _message(response)


def test_refused_service_calls_write_nothing_at_all(session, world):
    case = make_case(session, world.school)
    session.flush()
    counts = session.scalar(select(func.count()).select_from(CaseEvent))
    for call in (
        lambda: workflow.move_status(session, world.counsellor, case.id, "closed", reason="x",
                                     version=case.version),
        lambda: workflow.set_risk(session, world.counsellor, case.id, "low", reason="",
                                  version=case.version),
        lambda: workflow.add_note(session, world.counsellor, case.id, "\x00", is_restricted=False,
                                  version=case.version),
    ):
        with pytest.raises(Exception) as refused:
            call()
        assert getattr(refused.value, "status_code", None) == 422
        assert not [o for o in session.new if isinstance(o, (CaseEvent, Case))]
        assert not session.dirty or case not in session.dirty
    session.flush()
    assert session.scalar(select(func.count()).select_from(CaseEvent)) == counts
