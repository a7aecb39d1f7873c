"""Working a case: risk and deadlines, assignment, notes, the chronology, merging."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.cases import merging, workflow
from app.cases import services as cases
from app.cases.identifier_models import CaseIdentifier
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.people import PersonInput, record_person
from app.cases.people_models import CasePerson
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, Risk, from_mask
from app.db import utcnow
from app.errors import Conflict, Forbidden, ValidationFailed
from app.notifications.models import Notification
from app.reporting.evidence_models import Evidence
from app.reporting.models import Report
from app.reporting.services import add_evidence, send_reporter_message, submit_report
from app.scheduling.models import FollowUpSession, SessionKind, SessionMode
from tests.cases.conftest import audit_actions, snapshot, text
from tests.cases.test_permissions import _png
from tests.factories import make_case, report_input

# A Wednesday in term time (no holidays configured), 10:00 in London (UTC+0 in January).
WEDNESDAY = datetime(2027, 1, 13, 10, 0, tzinfo=timezone.utc)


def _last_event(session, case: Case) -> CaseEvent:  # noqa: ANN001
    return session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                           .order_by(CaseEvent.id.desc()).limit(1)).one()


def _last_audit(session, case: Case) -> AuditEntry:  # noqa: ANN001
    return session.scalars(select(AuditEntry).where(AuditEntry.case_id == case.id)
                           .order_by(AuditEntry.id.desc()).limit(1)).one()


# -- risk ---------------------------------------------------------------------------------
def test_changing_the_risk_restarts_the_deadline_from_now(session, world):
    case = submit_report(session, world.school, report_input(),
                         now=WEDNESDAY - timedelta(days=1)).case
    assert case.risk is Risk.MEDIUM
    event = workflow.set_risk(session, world.counsellor, case.id, "low", reason="Resolved "
                              "between them already", version=case.version, now=WEDNESDAY)
    assert (case.risk, case.risk_rank) == (Risk.LOW, 3)
    assert case.deadline_start_dt == WEDNESDAY
    # five school days from a Wednesday: the Wednesday after, same time
    assert case.response_due_dt == WEDNESDAY + timedelta(days=7)
    assert event.kind is EventKind.RISK_CHANGED
    assert event.data == {"from": "medium", "to": "low"}
    assert event.body == "Resolved between them already"
    entry = _last_audit(session, case)
    assert entry.action == "case.risk_changed" and entry.detail == {"from": "medium", "to": "low"}
    assert "Resolved between" not in repr(entry.detail)  # the reason is content: not audited
    # acting on the case is its first response: escalation stops
    assert case.first_response_dt == WEDNESDAY and case.next_escalation_dt is None

    workflow.set_risk(session, world.counsellor, case.id, "critical", reason="Threat to life",
                      version=case.version, now=WEDNESDAY + timedelta(hours=2))
    assert case.response_due_dt == WEDNESDAY + timedelta(hours=3)
    alerts = session.scalars(select(Notification).where(
        Notification.case_id == case.id, Notification.kind == "critical_alert")).all()
    assert [n.recipient_staff_id for n in alerts] == [world.lead.id]


# -- assignment ---------------------------------------------------------------------------
def test_taking_assigning_and_reassigning(session, world):
    case = make_case(session, world.school)
    cases.take_case(session, world.counsellor, case.id, version=case.version)
    assert case.assignee_id == world.counsellor.id and case.assignee is world.counsellor
    with pytest.raises(ValidationFailed, match="already assigned to you"):
        cases.take_case(session, world.counsellor, case.id, version=case.version)
    with pytest.raises(Conflict, match="Casey Counsellor has already taken this case"):
        cases.take_case(session, world.colleague, case.id, version=case.version)
    with pytest.raises(Forbidden, match="Only a safeguarding lead"):
        workflow.assign_case(session, world.counsellor, case.id, world.colleague.id,
                             version=case.version)

    event = workflow.assign_case(session, world.lead, case.id, world.colleague.id,
                                 version=case.version)
    assert case.assignee_id == world.colleague.id
    assert event.data == {"from": world.counsellor.id, "from_name": "Casey Counsellor",
                          "to": world.colleague.id, "to_name": "Robin Colleague"}
    told = session.scalars(select(Notification).where(Notification.kind == "case_assigned")).one()
    assert told.recipient_staff_id == world.colleague.id and told.case_id == case.id
    assert told.data == {"reference": case.reference}
    # the old assignee may no longer work it
    with pytest.raises(Forbidden):
        workflow.add_note(session, world.counsellor, case.id, "Hi", is_restricted=False,
                          version=case.version)
    workflow.assign_case(session, world.lead, case.id, None, version=case.version)
    assert case.assignee_id is None
    assert [a for a in audit_actions(session, case.id) if a == "case.assigned"] == [
        "case.assigned"] * 3


# -- the page -----------------------------------------------------------------------------
def test_the_chronology_reads_in_time_order_in_plain_words(session, world, new_case, as_staff):
    case = new_case()
    evidence = add_evidence(session, case.reports[0], filename="x.png", data=_png(),
                            max_bytes=5_000_000, max_files=5)
    send_reporter_message(session, case.reports[0], "They did it again today.")
    session.commit()
    lead = as_staff(world.lead)
    steps = [
        ("take", "take", {}),
        ("status", "status", {"to_status": "triaged", "reason": "Read the report."}),
        ("risk", "risk", {"risk": "high", "reason": "It is still going on."}),
        ("notes", "note", {"body": "Checked the form group list."}),
        ("reply", "reply", {"message": "Thank you. We will talk to you tomorrow."}),
        ("people/student", "student", {"name": "Dana Smith", "year_group": "8",
                                       "role": "target"}),
        ("assign", "assign", {"assignee": str(world.counsellor.id)}),
    ]
    for action, prefix, data in steps:
        response = lead.post(case, action, prefix, data)
        assert response.status_code == 302, (action, text(response)[:2000])
    assert lead.get(f"/staff/cases/{case.id}/evidence/{evidence.id}").status_code == 200
    # entries other parts of the app write: an escalation, a follow-up session
    later = utcnow() + timedelta(seconds=5)
    session.add_all([
        CaseEvent(school_id=case.school_id, case_id=case.id, kind=EventKind.ESCALATION,
                  created_dt=later, data={"level": 2, "recipients": 3}),
        CaseEvent(school_id=case.school_id, case_id=case.id, kind=EventKind.SESSION,
                  actor_id=world.lead.id, created_dt=later + timedelta(seconds=1),
                  data={"session_id": 1, "action": "scheduled",
                        "start": datetime(2027, 7, 1, 9, 30, tzinfo=timezone.utc).isoformat()}),
    ])
    session.commit()

    page = text(lead.get(f"/staff/cases/{case.id}"))
    chronology = page[page.index("<h2>Chronology</h2>"):]
    kinds = re.findall(r'data-event="([a-z_]+)"', chronology)
    assert kinds == ["report_submitted", "evidence_added", "message_from_reporter", "assigned",
                     "status_changed", "risk_changed", "note", "message_to_reporter",
                     "person_recorded", "assigned", "evidence_viewed", "escalation", "session"]
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", chronology))
    for sentence in (
        "Report submitted by the reporter (starting risk Medium)",
        "Message from the reporter They did it again today.",
        "Taken by Lee Lead",
        "Status changed by Lee Lead: New → Triaged Reason: Read the report.",
        "Risk changed by Lee Lead: Medium → High Reason: It is still going on.",
        "Note by Lee Lead Checked the form group list.",
        "Reply to the reporter by Lee Lead Thank you. We will talk to you tomorrow.",
        "Person recorded by Lee Lead Dana Smith (Year 8): target",
        "Assigned to Casey Counsellor (was Lee Lead) by Lee Lead",
        "Evidence opened by Lee Lead",
        "Escalation level 2: the first response was overdue; 3 people told",
        # shown in the school's time: British Summer Time in July
        "Follow-up session scheduled by Lee Lead (for Thu 01 Jul 2027, 10:30)",
    ):
        assert sentence in words, sentence
    assert "Target: Dana Smith (Year 8)" in re.sub(r"<[^>]+>", "", page)
    # the slot where follow-up sessions appear is on the page
    assert 'id="sessions"' in page or "Follow-up sessions" in page


def test_opening_the_case_is_audited_and_clears_unread_messages(session, world, new_case,
                                                                as_staff):
    case = new_case()
    send_reporter_message(session, case.reports[0], "Hello?")
    session.commit()
    as_staff(world.colleague).get(f"/staff/cases/{case.id}")
    session.expire_all()
    assert session.get(Case, case.id).unread_reporter_messages == 0
    entry = _last_audit(session, case)
    assert (entry.action, entry.actor_id) == ("case.viewed", world.colleague.id)


def test_the_merged_case_points_to_the_other_and_offers_no_actions(session, world, new_case,
                                                                   as_staff):
    source, target = new_case(), new_case()
    lead = as_staff(world.lead)
    assert lead.post(source, "merge", "merge", {"target": target.reference.lower()}
                     ).status_code == 302
    page = text(lead.get(f"/staff/cases/{source.id}"))
    assert f'data-merged-into="{target.reference}"' in page
    assert f'href="/staff/cases/{target.id}"' in page
    assert "/notes" not in page and "/status" not in page and "/merge" not in page
    before = snapshot(session, source.id)
    response = lead.post(source, "notes", "note", {"body": "Late note"})
    assert response.status_code == 422
    assert f"This case was merged into case {target.reference}" in text(response)
    assert snapshot(session, source.id) == before


# -- merging ------------------------------------------------------------------------------
def test_merging_moves_reports_evidence_names_and_people(session, world):
    source = make_case(session, world.school, kinds=["threats"], platforms=["snapchat"],
                       is_anonymous=False, reporter_name="Rae Reporter", year_group=10,
                       handles=[{"platform": "snapchat", "handle": "@menace"}])
    target = make_case(session, world.school, kinds=["harassment"], platforms=["instagram"])
    record_person(session, world.counsellor, source.id,
                  PersonInput(kind="student", role="student_who_bullied", name="Max Power"),
                  version=source.version)
    evidence = add_evidence(session, source.reports[0], filename="a.png", data=_png(),
                            max_bytes=5_000_000, max_files=5)
    send_reporter_message(session, source.reports[0], "Any news?")
    follow_up = FollowUpSession(school_id=source.school_id, case_id=source.id,
                                counsellor_id=world.counsellor.id,
                                kind=SessionKind.TARGET_CHECK_IN, mode=SessionMode.PHONE)
    follow_up.set_time(utcnow() + timedelta(days=1), 30)
    session.add(follow_up)
    report_id = source.reports[0].id
    assert source.risk is Risk.HIGH and target.risk is Risk.MEDIUM

    merging.merge_cases(session, world.counsellor, source.id, target.reference,
                        version=source.version, reason="Same incident, two reporters.")
    session.flush()
    session.expire_all()
    source, target = session.get(Case, source.id), session.get(Case, target.id)

    assert session.get(Report, report_id).case_id == target.id
    assert session.get(Evidence, evidence.id).case_id == target.id
    assert session.get(FollowUpSession, follow_up.id).case_id == target.id
    assert {p.name for p in session.scalars(select(CasePerson).where(
        CasePerson.case_id == target.id))} == {"Max Power"}
    assert session.scalars(select(CaseIdentifier.case_id).where(
        CaseIdentifier.case_id == source.id)).all() == []
    assert len(session.scalars(select(CaseIdentifier).where(
        CaseIdentifier.case_id == target.id)).all()) == 3  # handle, reporter, person
    # categories combined, the more urgent risk kept, the year group carried over
    assert set(from_mask(IncidentKind, target.kinds_mask)) == {IncidentKind.THREATS,
                                                               IncidentKind.HARASSMENT}
    assert set(from_mask(Platform, target.platforms_mask)) == {Platform.SNAPCHAT,
                                                               Platform.INSTAGRAM}
    assert target.risk is Risk.HIGH and target.year_group == 10
    assert target.unread_reporter_messages == 1 and source.unread_reporter_messages == 0
    # the emptied case is closed and points to the other
    assert source.status is CaseStatus.CLOSED and not source.is_open
    assert source.merged_into_id == target.id and source.closed_dt is not None
    out = _last_event(session, source)
    assert out.kind is EventKind.REPORT_LINKED and out.body == "Same incident, two reporters."
    assert out.data["direction"] == "out" and out.data["merged"] is True
    assert out.data["other_reference"] == target.reference
    incoming = session.scalars(select(CaseEvent).where(
        CaseEvent.case_id == target.id, CaseEvent.kind == EventKind.REPORT_LINKED)).one()
    assert incoming.data["direction"] == "in" and incoming.data["report_ids"] == [report_id]
    assert "case.merged" in audit_actions(session, source.id)
    assert "case.merged" in audit_actions(session, target.id)
    assert "case.risk_changed" in audit_actions(session, target.id)
    # the chronology of the source stays where it was written
    assert session.scalars(select(CaseEvent.kind).where(
        CaseEvent.case_id == source.id, CaseEvent.kind == EventKind.MESSAGE_FROM_REPORTER)).one()


def test_linking_one_report_of_several_leaves_the_rest(session, world):
    source = make_case(session, world.school, kinds=["threats"], platforms=["tiktok"])
    second_report = submit_report(session, world.school, report_input(
        kinds=["rumours"], platforms=["whatsapp"],
        handles=[{"platform": "whatsapp", "handle": "+44 7700 900123"}])).case
    # put the second report on the first case, as if linked earlier
    merging.merge_cases(session, world.lead, second_report.id, source.reference,
                        version=second_report.version)
    target = make_case(session, world.school, kinds=["exclusion"], platforms=["in_school"])
    session.flush()
    source = session.get(Case, source.id)
    moving = source.reports[1]

    merging.merge_cases(session, world.lead, source.id, target.reference,
                        version=source.version, report_id=moving.id)
    session.flush()
    session.expire_all()
    source, target = session.get(Case, source.id), session.get(Case, target.id)
    assert moving.id in [r.id for r in target.reports] and len(source.reports) == 1
    assert source.is_open and source.merged_into_id is None
    assert from_mask(IncidentKind, source.kinds_mask) == [IncidentKind.THREATS]
    assert from_mask(Platform, source.platforms_mask) == [Platform.TIKTOK]
    assert IncidentKind.RUMOURS in from_mask(IncidentKind, target.kinds_mask)
    assert session.scalars(select(CaseIdentifier.case_id).where(
        CaseIdentifier.source == f"report:{moving.id}")).all() == [target.id]
    assert _last_event(session, source).data["merged"] is False
    assert "case.report_linked" in audit_actions(session, target.id)


def test_merging_is_refused_where_it_cannot_apply(session, world):
    source = make_case(session, world.school)
    theirs = make_case(session, world.school)
    cases.take_case(session, world.colleague, theirs.id, version=theirs.version)
    closed = make_case(session, world.school)
    closed.set_status(CaseStatus.CLOSED)
    foreign = make_case(session, world.other_school)
    session.flush()
    before = snapshot(session, source.id)
    for reference, error, message in (
        (theirs.reference, Forbidden, "assigned to someone else"),
        (closed.reference, ValidationFailed, "Reopen it first"),
        (foreign.reference, ValidationFailed, "No case of your school has that reference"),
        (source.reference, ValidationFailed, "That is this case"),
        ("", ValidationFailed, "Enter the reference"),
    ):
        with pytest.raises(error, match=message):
            merging.merge_cases(session, world.counsellor, source.id, reference,
                                version=source.version)
    session.flush()
    assert snapshot(session, source.id) == before
    # a lead may merge into a colleague's case
    merging.merge_cases(session, world.lead, source.id, theirs.reference, version=source.version)
    assert source.merged_into_id == theirs.id
