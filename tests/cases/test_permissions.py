"""Who may do what on a case: each role x each action x own school / other school.

Every attempt goes through HTTP, so the views, the services and the policy are
all on trial. A refused attempt must change nothing: not the case, not the
chronology, not the audit log (beyond recording the view of the page).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from app.cases.models import Case, CaseEvent, EventKind
from app.cases.people_models import CasePerson
from app.cases.vocabulary import CaseStatus, Risk
from app.reporting.services import add_evidence
from tests.cases.conftest import audit_actions, snapshot, text

ACTIONS = ["view", "take", "assign", "move", "risk", "note", "reply", "person", "merge",
           "evidence"]
ALL_OK = dict.fromkeys(ACTIONS, "ok")
#: role -> action -> expected outcome ("ok" or the HTTP status of the refusal)
MATRIX = {
    "lead": ALL_OK,
    "counsellor": {**ALL_OK, "assign": 403},
    # a counsellor on a case assigned to a colleague: may read, may not work it
    "counsellor_on_colleagues_case": {
        **dict.fromkeys(ACTIONS, 403), "view": "ok", "evidence": "ok", "take": 409},
    "admin_only": dict.fromkeys(ACTIONS, 403),
    "other_school_counsellor": dict.fromkeys(ACTIONS, 404),
    "other_school_lead": dict.fromkeys(ACTIONS, 404),
}
ACTOR = {"lead": "lead", "counsellor": "counsellor", "counsellor_on_colleagues_case": "counsellor",
         "admin_only": "admin", "other_school_counsellor": "other_counsellor",
         "other_school_lead": "other_lead"}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _attempt(staff, action: str, case: Case, world, target: Case, evidence_id: int | None):  # noqa: ANN001
    if action == "view":
        return staff.get(f"/staff/cases/{case.id}")
    if action == "evidence":
        return staff.get(f"/staff/cases/{case.id}/evidence/{evidence_id}")
    data = {
        "take": ("take", "take", {}),
        "assign": ("assign", "assign", {"assignee": str(world.colleague.id)}),
        "move": ("status", "status", {"to_status": "triaged", "reason": "Read and assessed."}),
        "risk": ("risk", "risk", {"risk": "high", "reason": "Threats were mentioned."}),
        "note": ("notes", "note", {"body": "Spoke to the form tutor."}),
        "reply": ("reply", "reply", {"message": "Thank you for telling us."}),
        "person": ("people/account", "account", {"platform": "tiktok", "handle": "@matrix.test",
                                                  "role": "student_who_bullied"}),
        "merge": ("merge", "merge", {"target": target.reference, "reason": "Same incident."}),
    }[action]
    return staff.post(case, data[0], data[1], data[2])


def _assert_done(session, action: str, case: Case, user, target: Case, response) -> None:  # noqa: ANN001
    session.expire_all()
    case = session.get(Case, case.id)
    if action == "view":
        assert response.status_code == 200
        assert "Someone keeps posting mean comments" in text(response)
        assert audit_actions(session, case.id)[-1] == "case.viewed"
        return
    if action == "evidence":
        assert response.status_code == 200 and response.data[:8] == b"\x89PNG\r\n\x1a\n"
        assert audit_actions(session, case.id)[-1] == "evidence.opened"
        assert session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id)
                               .order_by(CaseEvent.id.desc())).first() is EventKind.EVIDENCE_VIEWED
        return
    assert response.status_code == 302, text(response)[:3000]
    expected_audit = {"take": "case.assigned", "assign": "case.assigned",
                      "move": "case.status_changed", "risk": "case.risk_changed",
                      "note": "case.note_added", "reply": "case.reply_sent",
                      "person": "case.person_recorded", "merge": "case.merged"}[action]
    assert expected_audit in audit_actions(session, case.id)
    if action == "take":
        assert case.assignee_id == user.id
    elif action == "assign":
        assert case.assignee_id != user.id and case.assignee_id is not None
    elif action == "move":
        assert case.status is CaseStatus.TRIAGED
    elif action == "risk":
        assert case.risk is Risk.HIGH
    elif action in ("note", "reply"):
        kind = EventKind.NOTE if action == "note" else EventKind.MESSAGE_TO_REPORTER
        assert session.scalar(select(CaseEvent.actor_id).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == kind)) == user.id
    elif action == "person":
        assert session.scalar(select(CasePerson.handle).where(
            CasePerson.case_id == case.id)) == "@matrix.test"
    elif action == "merge":
        assert case.merged_into_id == target.id and case.status is CaseStatus.CLOSED
        assert "case.merged" in audit_actions(session, target.id)


@pytest.mark.parametrize("role", list(MATRIX))
def test_permission_matrix(role, session, world, new_case, as_staff):
    user = getattr(world, ACTOR[role])
    staff = as_staff(user)
    for action, expected in MATRIX[role].items():
        case = new_case()
        target = new_case(details="A second report about the same thing.")
        if role == "counsellor_on_colleagues_case":
            case.assignee_id = world.colleague.id
        evidence_id = None
        if action == "evidence":
            evidence_id = add_evidence(session, case.reports[0], filename="shot.png",
                                       data=_png(), max_bytes=5_000_000, max_files=5).id
        session.commit()
        before, target_before = snapshot(session, case.id), snapshot(session, target.id)

        response = _attempt(staff, action, case, world, target, evidence_id)

        if expected == "ok":
            _assert_done(session, action, case, user, target, response)
            continue
        assert response.status_code == expected, (role, action, text(response)[:2000])
        assert snapshot(session, case.id) == before, (role, action)
        assert snapshot(session, target.id) == target_before, (role, action)
        page = text(response)
        if expected == 404:
            # nothing of the other school's case shows through
            assert case.reference not in page and "Someone keeps posting" not in page
        if expected == 403 and role == "admin_only":
            assert "Someone keeps posting" not in page


def test_admin_without_a_case_role_sees_no_case_content_anywhere(session, world, new_case,
                                                                 as_staff):
    case = new_case()
    admin = as_staff(world.admin)
    for url in ("/staff/cases/", f"/staff/cases/{case.id}", "/staff/cases/?q=anything"):
        response = admin.get(url)
        assert response.status_code == 403
        assert case.reference not in text(response)
    assert "case.viewed" not in audit_actions(session, case.id)


def test_a_case_id_of_another_school_is_not_found_on_every_case_url(session, world, new_case,
                                                                    as_staff):
    foreign = new_case(school=world.other_school)
    lead = as_staff(world.lead)
    before = snapshot(session, foreign.id)
    for path in ("", "/take", "/assign", "/status", "/risk", "/notes", "/reply", "/people/student",
                 "/people/account", "/merge", "/identity"):
        if path:
            response = lead.client.post(f"/staff/cases/{foreign.id}{path}",
                                        data={"csrf_token": lead.csrf})
        else:
            response = lead.get(f"/staff/cases/{foreign.id}")
        assert response.status_code == 404, path
        assert foreign.reference not in text(response)
    assert lead.get(f"/staff/cases/{foreign.id}/evidence/1").status_code == 404
    assert snapshot(session, foreign.id) == before


def test_restricted_notes_are_read_only_by_their_author_and_the_leads(session, world, new_case,
                                                                      as_staff):
    case = new_case()
    author = as_staff(world.counsellor)
    assert author.post(case, "notes", "note", {"body": "Disclosed a family matter.",
                                               "is_restricted": "y"}).status_code == 302
    assert author.post(case, "notes", "note", {"body": "Team note for everyone."}
                       ).status_code == 302
    note = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                   CaseEvent.is_restricted.is_(True))).one()
    assert note.actor_id == world.counsellor.id

    seen_by = {}
    for who in ("counsellor", "colleague", "lead", "other_lead"):
        page = text(as_staff(getattr(world, who)).get(f"/staff/cases/{case.id}"))
        seen_by[who] = "Disclosed a family matter." in page
        if who == "colleague":
            # no trace of it at all: not the text, not an entry, not a restricted marker
            assert page.count('data-event="note"') == 1
            assert "data-restricted" not in page
            assert "Team note for everyone." in page
    assert seen_by == {"counsellor": True, "colleague": False, "lead": True, "other_lead": False}
    # the lead's page marks it as restricted
    lead_page = text(as_staff(world.lead).get(f"/staff/cases/{case.id}"))
    assert "Restricted: author and leads only" in lead_page
    # searching the queue for its words finds nothing: search never reads notes
    colleague = as_staff(world.colleague)
    assert case.reference not in text(colleague.get("/staff/cases/?q=Disclosed+a+family+matter."))
