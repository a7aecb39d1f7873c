"""Working a case: status moves, risk, assignment and notes (../shared/DOMAIN.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import StaffUser
from app.cases.deadlines import start_deadline
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.services import case_for_work, clean_text, get_case, record_action
from app.cases.vocabulary import CaseStatus, Risk
from app.db import utcnow
from app.errors import ValidationFailed
from app.notifications.outbox import queue_notification
from app.policy import require_lead
from app.schools.models import School

MAX_REASON = 5_000
MAX_NOTE = 10_000

S = CaseStatus
#: The only moves a case may make. ``resolved``/``closed`` back to ``in_progress`` is a reopening.
ALLOWED_MOVES: dict[CaseStatus, tuple[CaseStatus, ...]] = {
    S.NEW: (S.TRIAGED,),
    S.TRIAGED: (S.IN_PROGRESS,),
    S.IN_PROGRESS: (S.AWAITING_FOLLOW_UP,),
    S.AWAITING_FOLLOW_UP: (S.IN_PROGRESS, S.RESOLVED),
    S.RESOLVED: (S.CLOSED, S.IN_PROGRESS),
    S.CLOSED: (S.IN_PROGRESS,),
}


def is_reopening(current: CaseStatus, to: CaseStatus) -> bool:
    return not current.is_open and to.is_open


def move_label(current: CaseStatus, to: CaseStatus) -> str:
    """How a move reads on a button or in a list: 'Reopen (In progress)' or 'Resolved'."""
    return f"Reopen (back to {to.label})" if is_reopening(current, to) else to.label


def _allowed_sentence(current: CaseStatus) -> str:
    moves = [move_label(current, to) for to in ALLOWED_MOVES[current]]
    listed = moves[0] if len(moves) == 1 else ", ".join(moves[:-1]) + " or " + moves[-1]
    return f"A case that is {current.label} can only move to: {listed}."


def scheduled_sessions(session: Session, case: Case) -> int:
    """How many follow-up sessions of the case are still scheduled."""
    from app.scheduling.models import FollowUpSession, SessionStatus

    return session.execute(
        select(func.count()).select_from(FollowUpSession).where(
            FollowUpSession.case_id == case.id,
            FollowUpSession.status == SessionStatus.SCHEDULED)
    ).scalar_one()


def move_status(session: Session, user: StaffUser, case_id: int, to: str | CaseStatus, *,
                reason: str | None, version: int | None,
                now: datetime | None = None) -> CaseEvent:
    """Move the case along the status machine, recording who, when and why.

    Resolving needs a resolution summary (kept, encrypted, as the reason) and
    no follow-up session still scheduled. Everything is checked before anything
    changes, so a refused move leaves the case exactly as it was.
    """
    case = case_for_work(session, user, case_id, version=version)
    try:
        target = CaseStatus(to)
    except ValueError:
        raise ValidationFailed("Choose a status from the list.", field="to_status") from None
    current = case.status
    if target not in ALLOWED_MOVES[current]:
        raise ValidationFailed(_allowed_sentence(current), field="to_status")
    if target is CaseStatus.RESOLVED:
        reason = clean_text(reason, "reason", "a resolution summary: what was done and how "
                            "things are now", required=True, limit=MAX_REASON)
        open_sessions = scheduled_sessions(session, case)
        if open_sessions:
            raise ValidationFailed(
                f"This case still has {open_sessions} follow-up session"
                f"{'s' if open_sessions != 1 else ''} scheduled. Mark "
                f"{'them' if open_sessions != 1 else 'it'} completed, missed or cancelled "
                "before resolving the case.", field="to_status")
    else:
        reason = clean_text(reason, "reason", "the reason", required=False, limit=MAX_REASON)
    now = now or utcnow()
    reopened = is_reopening(current, target)
    case.set_status(target)
    if target is CaseStatus.RESOLVED:
        case.resolved_dt = now
    elif target is CaseStatus.CLOSED:
        case.closed_dt = now
    elif reopened:
        case.resolved_dt = None
        case.closed_dt = None
    data = {"from": current.value, "to": target.value, "reopened": reopened}
    return record_action(session, user, case, EventKind.STATUS_CHANGED,
                         "case.reopened" if reopened else "case.status_changed",
                         body=reason, data=data, now=now,
                         detail={"from": current.value, "to": target.value})


def set_risk(session: Session, user: StaffUser, case_id: int, risk: str | Risk, *,
             reason: str | None, version: int | None, now: datetime | None = None) -> CaseEvent:
    """Change the risk, with a reason; the first-response deadline restarts from now."""
    from app.reporting.services import critical_alert_recipients, queue_critical_alerts

    case = case_for_work(session, user, case_id, version=version)
    try:
        new = Risk(risk)
    except ValueError:
        raise ValidationFailed("Choose a risk level from the list.", field="risk") from None
    if new is case.risk:
        raise ValidationFailed(f"The risk is already {new.label}.", field="risk")
    reason = clean_text(reason, "reason", "why the risk is changing", required=True,
                        limit=MAX_REASON)
    now = now or utcnow()
    previous = case.risk
    case.set_risk(new)
    start_deadline(case, session.get(School, case.school_id), now)
    # The rows the alerts name are locked before the chain's (critical_alert_recipients):
    # the alerts, keyed by this change's event, can only be written after it.
    alerted = critical_alert_recipients(session, case.school_id) if new is Risk.CRITICAL else []
    event = record_action(session, user, case, EventKind.RISK_CHANGED, "case.risk_changed",
                          body=reason, data={"from": previous.value, "to": new.value}, now=now,
                          detail={"from": previous.value, "to": new.value})
    if new is Risk.CRITICAL:
        queue_critical_alerts(session, case.school_id, case.id, case.reference, alerted,
                              occasion=f"risk_event:{event.id}")
    return event


def assign_case(session: Session, user: StaffUser, case_id: int, assignee_id: int | None, *,
                version: int | None, now: datetime | None = None) -> CaseEvent:
    """A lead assigns, reassigns or unassigns a case; the new assignee is told in-app."""
    get_case(session, user, case_id)
    require_lead(user)
    case = case_for_work(session, user, case_id, version=version)
    assignee = session.get(StaffUser, assignee_id) if assignee_id is not None else None
    if assignee_id is not None and (
            assignee is None or assignee.school_id != case.school_id
            or not assignee.is_casework_staff or not assignee.is_enabled):
        raise ValidationFailed("Choose a counsellor or safeguarding lead of your school from "
                               "the list.", field="assignee")
    if case.assignee_id == assignee_id:
        raise ValidationFailed(
            f"The case is already assigned to {assignee.name}." if assignee
            else "The case is already unassigned.", field="assignee")
    previous = case.assignee
    case.assignee_id = assignee_id
    data = {"from": previous.id if previous else None,
            "from_name": previous.name if previous else None,
            "to": assignee_id, "to_name": assignee.name if assignee else None}
    event = record_action(session, user, case, EventKind.ASSIGNED, "case.assigned", data=data,
                          now=now, detail={"from": data["from"], "to": assignee_id})
    session.expire(case, ["assignee"])
    if assignee is not None and assignee.id != user.id:
        queue_notification(session, key=f"case_assigned:{event.id}:staff:{assignee.id}",
                           kind="case_assigned", school_id=case.school_id,
                           recipient_staff_id=assignee.id, case_id=case.id,
                           data={"reference": case.reference})
    return event


def add_note(session: Session, user: StaffUser, case_id: int, body: str | None, *,
             is_restricted: bool, version: int | None,
             now: datetime | None = None) -> CaseEvent:
    """Add a note for the case team, or (restricted) for its author and the leads only."""
    case = case_for_work(session, user, case_id, version=version)
    body = clean_text(body, "body", "the note", required=True, limit=MAX_NOTE)
    return record_action(session, user, case, EventKind.NOTE, "case.note_added", body=body,
                         is_restricted=bool(is_restricted), now=now,
                         detail={"restricted": bool(is_restricted)})
