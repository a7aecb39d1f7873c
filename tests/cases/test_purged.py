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
