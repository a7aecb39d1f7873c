"""A confidential reporter's identity: only staff working the case see it, never by search.

Regressions:
- the audited reveal checked only that the user could read the case, so a
  counsellor reading a colleague's case could see who reported it (DOMAIN.md:
  "only staff working the case may see it");
- the queue's name search matched the blind index of a confidential reporter's
  own name, so typing a student's name said which case they had reported,
  with no reveal and nothing in the audit log.
"""

from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.cases.people import PersonInput, record_person
from app.cases.services import QueueFilters, triage_queue
from tests.cases.conftest import text

NAME = "Morgan Quillfeather"


def _confidential_case(new_case):  # noqa: ANN001, ANN202
    return new_case(is_anonymous=False, reporter_name=NAME, year_group=9,
                    contact="form 9B")


def _reveals(session, case_id: int) -> list[int]:  # noqa: ANN001
    return list(session.scalars(select(AuditEntry.actor_id).where(
        AuditEntry.case_id == case_id, AuditEntry.action == "case.identity_revealed")))


def test_a_counsellor_cannot_reveal_the_reporter_of_a_colleagues_case(session, world, new_case,
                                                                      as_staff):
    case = _confidential_case(new_case)
    case.assignee_id = world.colleague.id
    session.commit()
    counsellor = as_staff(world.counsellor)

    page = text(counsellor.get(f"/staff/cases/{case.id}"))
    assert "Someone keeps posting" in page  # reading the case is allowed ...
    assert f"/staff/cases/{case.id}/identity" not in page  # ... the reveal is not offered
    assert "only staff working this case can see who reported it" in page

    response = counsellor.client.post(f"/staff/cases/{case.id}/identity", data={
        "csrf_token": counsellor.csrf, "report_id": str(case.reports[0].id)})
    assert response.status_code == 403
    assert NAME not in text(response) and "form 9B" not in text(response)
    assert _reveals(session, case.id) == []


def test_the_assignee_and_a_lead_can_reveal_and_each_reveal_is_audited(session, world, new_case,
                                                                        as_staff):
    case = _confidential_case(new_case)
    case.assignee_id = world.colleague.id
    session.commit()
    for user in (world.colleague, world.lead):
        staff = as_staff(user)
        assert f"/staff/cases/{case.id}/identity" in text(staff.get(f"/staff/cases/{case.id}"))
        response = staff.client.post(f"/staff/cases/{case.id}/identity", data={
            "csrf_token": staff.csrf, "report_id": str(case.reports[0].id)})
        assert response.status_code == 200
        assert NAME in text(response)
    assert _reveals(session, case.id) == [world.colleague.id, world.lead.id]


def test_searching_a_name_never_finds_the_case_that_student_reported(session, world, new_case,
                                                                      as_staff):
    reported = _confidential_case(new_case)
    named = new_case(details="A second report.")
    record_person(session, world.lead, named.id,
                  PersonInput(kind="student", role="witness", name=NAME), version=named.version)
    session.commit()

    for user in (world.counsellor, world.lead):
        found = {c.reference for c in triage_queue(session, user, QueueFilters(search=NAME)).cases}
        # the case where the student was recorded as a person is found; the case they
        # reported in confidence is not
        assert found == {named.reference}, user
    page = text(as_staff(world.counsellor).get("/staff/cases/?q=" + NAME.replace(" ", "+")))
    assert named.reference in page and reported.reference not in page
