"""A case purged under the retention policy is read-only for good: nothing reopens or works it.

The purge job takes only cases not yet purged, so anything written to one
afterwards (a note, a person, a session's notes) would be kept for ever.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.cases import merging, people, workflow
from app.cases import services as cases
from app.cases.identifier_models import CaseIdentifier
from app.cases.models import Case
from app.cases.retention import purge_case
from app.cases.vocabulary import CaseStatus
from app.db import utcnow
from app.errors import ValidationFailed
from app.notifications.models import Notification
from app.scheduling import services as scheduling
from app.scheduling.models import FollowUpSession, SessionKind, SessionMode, SessionStatus
from tests.cases.conftest import snapshot, text
from tests.factories import make_case

PURGED = "deleted under the school's retention policy"


def _purged(session, world, *, reopened: bool = False) -> Case:  # noqa: ANN001
    """A closed case whose content retention has deleted (``reopened``: as before the fix)."""
    case = make_case(session, world.school, is_anonymous=False, reporter_name="Sam Smith",
                     year_group=9, contact="form 9B", reply_email="sam@example.net",
                     handles=[{"platform": "tiktok", "handle": "@gone"}])
    case.set_status(CaseStatus.CLOSED)
    case.closed_dt = utcnow() - timedelta(days=7 * 365)
    session.flush()
    purge_case(session, case, now=utcnow())
    if reopened:
        case.set_status(CaseStatus.IN_PROGRESS)
        case.closed_dt = None
    session.commit()
    return case


def _everything(session, case_id: int) -> dict:  # noqa: ANN001
    state = snapshot(session, case_id)
    state["identifiers"] = session.scalar(select(func.count()).select_from(CaseIdentifier)
                                          .where(CaseIdentifier.case_id == case_id))
    state["sessions"] = sorted(session.execute(
        select(FollowUpSession.id, FollowUpSession.status, FollowUpSession.start_dt)
        .where(FollowUpSession.case_id == case_id)).all())
    state["notifications"] = session.scalar(select(func.count()).select_from(Notification)
                                            .where(Notification.case_id == case_id))
    return state


def _writes(session, world, case: Case, live: Case):  # noqa: ANN001, ANN202
    """Every write a staff member can make to a case, by name (the lead may do them all)."""
    lead, v = world.lead, case.version
    start = (utcnow() + timedelta(days=3)).replace(tzinfo=None, second=0, microsecond=0)
    return {
        "reopen": lambda: workflow.move_status(session, lead, case.id, "in_progress",
                                               reason="It started again", version=v),
        "risk": lambda: workflow.set_risk(session, lead, case.id, "critical",
                                          reason="New threat", version=v),
        "note": lambda: workflow.add_note(session, lead, case.id, "A late note",
                                          is_restricted=False, version=v),
        "assign": lambda: workflow.assign_case(session, lead, case.id, world.counsellor.id,
                                               version=v),
        "take": lambda: cases.take_case(session, world.counsellor, case.id, version=v),
        "person": lambda: people.record_person(
            session, lead, case.id, people.PersonInput(kind="student", role="target",
                                                       name="Sam Smith"), version=v),
        "reply": lambda: cases.reply(session, lead, case.id, "Are you OK?", version=v),
        "merge out": lambda: merging.merge_cases(session, lead, case.id, live.reference,
                                                 version=v),
        "book": lambda: scheduling.schedule_session(
            session, lead, case.id, scheduling.ScheduleInput(
                start_local=start, kind="target_check_in", mode="in_person"), now=utcnow()),
    }


WRITES = ["risk", "note", "assign", "take", "person", "reply", "merge out", "book"]


@pytest.mark.parametrize("action,reopened", [("reopen", False)] + [
    (action, reopened) for action in WRITES for reopened in (False, True)])
def test_every_write_to_a_purged_case_is_refused_and_changes_nothing(session, world, action,
                                                                     reopened):
    case = _purged(session, world, reopened=reopened)
    live = make_case(session, world.school)
    session.commit()
    before, live_before = _everything(session, case.id), _everything(session, live.id)

    with pytest.raises(ValidationFailed, match=PURGED):
        _writes(session, world, case, live)[action]()

    session.rollback()
    assert _everything(session, case.id) == before
    assert _everything(session, live.id) == live_before


def test_a_purged_case_takes_no_report_merged_into_it(session, world):
    for reopened in (False, True):
        purged = _purged(session, world, reopened=reopened)
        live = make_case(session, world.school)
        session.commit()
        before, live_before = _everything(session, purged.id), _everything(session, live.id)
        with pytest.raises(ValidationFailed, match=PURGED) as refused:
            merging.merge_cases(session, world.lead, live.id, purged.reference,
                                version=live.version)
        assert refused.value.field == "target"
        session.rollback()
        assert _everything(session, purged.id) == before
        assert _everything(session, live.id) == live_before


@pytest.mark.parametrize("move", ["reschedule", "cancel", "missed", "complete"])
def test_a_session_left_on_a_purged_case_cannot_be_moved(session, world, move):
    case = _purged(session, world, reopened=True)
    now = utcnow()
    fs = FollowUpSession(school_id=case.school_id, case_id=case.id,
                         counsellor_id=world.counsellor.id, kind=SessionKind.TARGET_CHECK_IN,
                         mode=SessionMode.IN_PERSON, status=SessionStatus.SCHEDULED,
                         created_dt=now)
    fs.set_time(now - timedelta(hours=2), 60)
    session.add(fs)
    session.commit()
    before = _everything(session, case.id)
    later = (now + timedelta(days=2)).replace(tzinfo=None, second=0, microsecond=0)
    calls = {
        "reschedule": lambda: scheduling.reschedule_session(
            session, world.lead, fs.id, scheduling.RescheduleInput(start_local=later), now=now),
        "cancel": lambda: scheduling.cancel_session(session, world.lead, fs.id, now=now),
        "missed": lambda: scheduling.mark_missed(session, world.lead, fs.id, now=now),
        "complete": lambda: scheduling.complete_session(
            session, world.lead, fs.id, scheduling.CompletionInput(
                [5, 5, 5, 5], [9, 9, 9, 9], notes="What Sam said"), now=now),
    }
    with pytest.raises(ValidationFailed, match=PURGED):
        calls[move]()
    session.rollback()
    assert _everything(session, case.id) == before


def test_the_purged_case_page_says_so_and_offers_no_work(session, world, as_staff):
    case = _purged(session, world)
    lead = as_staff(world.lead)
    page = text(lead.get(f"/staff/cases/{case.id}"))
    assert "data-purged" in page and PURGED in page.replace("&#39;", "'")
    for action in ("/status", "/notes", "/risk", "/merge", "/reply", "/people/", "/take",
                   f"/staff/sessions/case/{case.id}/new"):
        assert action not in page, action
    assert "assigned to someone else" not in page and "data-not-yours" not in page

    before = snapshot(session, case.id)
    response = lead.post(case, "status", "status", {"to_status": "in_progress",
                                                    "reason": "It started again"})
    assert response.status_code == 422
    assert PURGED in text(response).replace("&#39;", "'")
    assert snapshot(session, case.id) == before
    session.expire_all()
    assert session.get(Case, case.id).status is CaseStatus.CLOSED


# -- flask repair-purged-cases: cases reopened and worked on before the fix ----------------
def _late_content(session, world, case: Case) -> dict:  # noqa: ANN001
    """Write to ``case`` what staff could before reopening a purged case was refused."""
    from app.cases.identifier_models import IdentifierKind
    from app.cases.models import CaseEvent, EventKind
    from app.cases.people_models import CasePerson, PersonKind, PersonRole
    from app.notifications.models import NotificationStatus
    from app.reporting.evidence import evidence_store
    from app.reporting.evidence_models import Evidence

    now = utcnow()
    note = CaseEvent(school_id=case.school_id, case_id=case.id, actor_id=world.lead.id,
                     kind=EventKind.NOTE, body="Sam Smith came back to say it started again")
    person = CasePerson(school_id=case.school_id, case_id=case.id, role=PersonRole.TARGET,
                        kind=PersonKind.STUDENT, name="Sam Smith")
    ident = CaseIdentifier(school_id=case.school_id, case_id=case.id,
                           kind=IdentifierKind.STUDENT_NAME, digest="d" * 32, source="person:0")
    held = FollowUpSession(school_id=case.school_id, case_id=case.id,
                           counsellor_id=world.counsellor.id, kind=SessionKind.TARGET_CHECK_IN,
                           mode=SessionMode.IN_PERSON, status=SessionStatus.COMPLETED,
                           notes="What Sam said", strategies="Walk home with a friend")
    held.set_time(now - timedelta(days=2), 60)
    booked = FollowUpSession(school_id=case.school_id, case_id=case.id,
                             counsellor_id=world.counsellor.id, kind=SessionKind.TARGET_CHECK_IN,
                             mode=SessionMode.IN_PERSON, status=SessionStatus.SCHEDULED)
    booked.set_time(now + timedelta(days=2), 60)
    key = evidence_store().put(session, b"%PDF-1.4 a late file")
    session.add_all([note, person, ident, held, booked])
    session.flush()
    session.add(Evidence(school_id=case.school_id, case_id=case.id, report_id=case.reports[0].id,
                         content_type="application/pdf", size=20, original_sha256="0" * 64,
                         stored_sha256="0" * 64, is_metadata_stripped=False, storage_key=key))
    session.add_all([
        Notification(key=f"session_reminder:{booked.id}:24h:x", kind="session_reminder",
                     school_id=case.school_id, case_id=case.id,
                     recipient_staff_id=world.counsellor.id,
                     next_attempt_dt=now + timedelta(days=1)),
        Notification(key=f"escalation:{case.id}:L1:x", kind="escalation",
                     school_id=case.school_id, case_id=case.id,
                     recipient_staff_id=world.counsellor.id, next_attempt_dt=now),
        Notification(key=f"escalation:{case.id}:L0:sent", kind="escalation",
                     school_id=case.school_id, case_id=case.id, status=NotificationStatus.SENT,
                     recipient_staff_id=world.counsellor.id, next_attempt_dt=now),
    ])
    case.next_escalation_dt = now - timedelta(minutes=5)
    case.escalation_level = 1
    session.commit()
    return {"note": note.id, "person": person.id, "held": held.id, "booked": booked.id,
            "blob": key}


def _flask(app, *args: str):  # noqa: ANN001, ANN202
    """Run ``flask <args>`` as the ``flask`` command does (it pushes the app context)."""
    from flask.cli import FlaskGroup

    return app.test_cli_runner().invoke(FlaskGroup(), list(args))


def _audited(session, case_id: int) -> list[tuple[str, str]]:  # noqa: ANN001
    from app.audit.models import AuditEntry

    return list(session.execute(select(AuditEntry.action, AuditEntry.actor_kind)
                                .where(AuditEntry.case_id == case_id).order_by(AuditEntry.id)))


def test_repair_purged_cases_closes_and_empties_cases_worked_after_their_purge(app, session,
                                                                                world):
    from app.cases.models import CaseEvent, EventKind
    from app.cases.people_models import CasePerson
    from app.notifications.models import NotificationStatus
    from app.reporting.evidence_models import Evidence, EvidenceBlob

    stuck = _purged(session, world, reopened=True)          # reopened, worked, still open
    late = _late_content(session, world, stuck)
    reclosed = _purged(session, world, reopened=True)       # reopened, noted, closed again
    session.add(CaseEvent(school_id=reclosed.school_id, case_id=reclosed.id,
                          kind=EventKind.NOTE, actor_id=world.lead.id, body="A late note"))
    reclosed.set_status(CaseStatus.CLOSED)
    reclosed.closed_dt = utcnow()
    untouched = _purged(session, world)                     # purged and left alone
    other = _purged(session, world, reopened=True)          # another school's: a system task
    other.school_id = world.other_school.id
    live = make_case(session, world.school)
    session.commit()
    left_alone = {c.id: _everything(session, c.id) for c in (untouched, live)}
    audits_before = {c.id: _audited(session, c.id) for c in (stuck, reclosed, other)}

    result = _flask(app, "repair-purged-cases")

    assert result.exit_code == 0, result.output
    assert "Purged cases still open, now closed: 2." in result.output
    assert "Purged cases whose later content was deleted again: 3." in result.output
    assert "Sam" not in result.output and stuck.reference not in result.output
    session.expire_all()
    case = session.get(Case, stuck.id)
    assert case.status is CaseStatus.CLOSED and not case.is_open and case.closed_dt is not None
    assert case.next_escalation_dt is None and case.is_purged
    assert session.get(CaseEvent, late["note"]).body is None
    assert session.get(CasePerson, late["person"]).name is None
    assert session.get(FollowUpSession, late["held"]).notes is None
    assert session.get(FollowUpSession, late["held"]).strategies is None
    assert session.get(FollowUpSession, late["booked"]).status is SessionStatus.CANCELLED
    assert session.scalar(select(func.count()).select_from(CaseIdentifier)
                          .where(CaseIdentifier.case_id == case.id)) == 0
    assert session.scalar(select(func.count()).select_from(Evidence)
                          .where(Evidence.case_id == case.id)) == 0
    assert session.get(EvidenceBlob, late["blob"]) is None
    # Nothing still to send about it; what was sent stays on record.
    assert session.execute(select(Notification.status).where(
        Notification.case_id == case.id)).scalars().all() == [NotificationStatus.SENT]
    closing = session.execute(select(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.STATUS_CHANGED)
        .order_by(CaseEvent.id.desc())).scalars().first()
    assert closing.actor_id is None and closing.data == {"from": "in_progress", "to": "closed",
                                                         "reopened": False}
    assert _audited(session, stuck.id)[len(audits_before[stuck.id]):] == [
        ("case.status_changed", "system"), ("case.purged", "system")]
    assert _audited(session, reclosed.id)[len(audits_before[reclosed.id]):] == [
        ("case.purged", "system")]
    assert session.get(CaseEvent, session.scalar(
        select(func.max(CaseEvent.id)).where(CaseEvent.case_id == reclosed.id))).body is None
    assert session.get(Case, other.id).status is CaseStatus.CLOSED
    assert _audited(session, other.id)[len(audits_before[other.id]):] == [
        ("case.status_changed", "system"), ("case.purged", "system")]
    assert {c: _everything(session, c) for c in left_alone} == left_alone

    after = {c.id: _everything(session, c.id) for c in (stuck, reclosed, other, untouched, live)}
    again = _flask(app, "repair-purged-cases")

    assert again.exit_code == 0, again.output
    assert "now closed: 0." in again.output and "deleted again: 0." in again.output
    assert {c: _everything(session, c) for c in after} == after


def test_what_the_repair_finds_left_is_what_the_purge_deletes(session, world):
    """retention._content_left restates purge_case's list as SQL: the two must not drift."""
    from app.cases.retention import _content_left

    def holds_content(case: Case) -> bool:
        session.flush()
        return session.scalar(select(Case.id).where(Case.id == case.id, _content_left())) \
            is not None

    live = make_case(session, world.school)
    worked = _purged(session, world, reopened=True)
    _late_content(session, world, worked)
    assert holds_content(live) and holds_content(worked)

    for case in (live, worked):
        purge_case(session, case, now=utcnow())

    assert not holds_content(live) and not holds_content(worked)
