"""Retention: purge the content of cases closed longer than the school keeps them.

What a person wrote or said goes (report texts, identities, reply addresses,
handles, messages and notes, evidence and its bytes, names of people, session
notes, the blind indexes of names and handles); what counts remain (the case
and report rows with their categories, risk, year group and dates; the kinds
and times of events and sessions), so anonymous statistics still add up. The
case key stops working. Each purge is audited with ids and counts only.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.cases.identifier_models import CaseIdentifier
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.people_models import CasePerson
from app.cases.vocabulary import CaseStatus
from app.notifications.models import Notification, NotificationStatus
from app.reporting.evidence import evidence_store
from app.reporting.evidence_models import Evidence
from app.reporting.models import Report
from app.scheduling.models import FollowUpSession, SessionStatus
from app.schools.models import School

log = logging.getLogger(__name__)


def retention_cutoff(now: datetime, years: int) -> datetime:
    """Return the moment ``years`` calendar years before ``now`` (29 February -> 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def purge_expired(session: Session, *, now: datetime, limit: int = 50) -> int:
    """Purge up to ``limit`` cases past their school's retention period; the caller commits.

    Returns how many were purged (``limit`` means: run again, more may be due).
    """
    purged = 0
    for school in session.scalars(select(School).order_by(School.id)):
        if purged >= limit:
            break
        cutoff = retention_cutoff(now, school.retention_years)
        query = (select(Case)
                 .where(Case.school_id == school.id, Case.status == CaseStatus.CLOSED,
                        Case.closed_dt <= cutoff, Case.is_purged.is_(False))
                 .order_by(Case.id).limit(limit - purged))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Case)
        for case in list(session.scalars(query)):
            purge_case(session, case, now=now)
            purged += 1
    return purged


def purge_case(session: Session, case: Case, *, now: datetime) -> dict[str, int]:
    """Remove the content of one case, keep its countable facts, audit it; the caller commits.

    What it clears, :func:`_content_left` looks for: change one, change the other.
    """
    counts = {"reports": 0, "events": 0, "evidence": 0, "people": 0, "sessions": 0,
              "identifiers": 0}
    for report in list(session.scalars(select(Report).where(Report.case_id == case.id))):
        report.details = ""
        report.involved = None
        report.handles = None
        report.reporter_identity = None
        report.reply_email = None
        # The case key must no longer open anything: replace its digest with noise.
        report.case_key_digest = "purged:" + secrets.token_hex(24)
        counts["reports"] += 1
    counts["events"] = _rowcount(session, update(CaseEvent).where(CaseEvent.case_id == case.id)
                                 .values(body=None))
    store = evidence_store()
    for evidence in list(session.scalars(select(Evidence).where(Evidence.case_id == case.id))):
        store.delete(session, evidence.storage_key)
        session.delete(evidence)
        counts["evidence"] += 1
    counts["people"] = _rowcount(session, update(CasePerson).where(CasePerson.case_id == case.id)
                                 .values(name=None, handle=None))
    counts["sessions"] = _rowcount(
        session, update(FollowUpSession).where(FollowUpSession.case_id == case.id)
        .values(notes=None, strategies=None))
    counts["identifiers"] = _rowcount(
        session, delete(CaseIdentifier).where(CaseIdentifier.case_id == case.id))
    case.is_purged = True
    case.next_escalation_dt = None
    session.flush()
    audit.record(session, "case.purged", school_id=case.school_id, actor_kind="system",
                 case_id=case.id, target=f"case:{case.id}", at=now, detail=counts)
    log.info("case purged", extra={"case_id": case.id})
    return counts


def _content_left() -> ColumnElement[bool]:
    """Whether a case still holds content: what :func:`purge_case` clears, as SQL."""
    return or_(
        exists().where(CaseEvent.case_id == Case.id, CaseEvent.body.isnot(None)),
        exists().where(CasePerson.case_id == Case.id,
                       or_(CasePerson.name.isnot(None), CasePerson.handle.isnot(None))),
        exists().where(FollowUpSession.case_id == Case.id,
                       or_(FollowUpSession.notes.isnot(None),
                           FollowUpSession.strategies.isnot(None))),
        exists().where(Evidence.case_id == Case.id),
        exists().where(CaseIdentifier.case_id == Case.id),
        # A purged report's key digest is noise starting "purged:" (a report merged in later).
        exists().where(Report.case_id == Case.id, Report.case_key_digest.notlike("purged:%")),
    )


def repair_purged(session: Session, *, now: datetime, after_id: int = 0,
                  limit: int = 50) -> tuple[list[int], int]:
    """Close and purge again up to ``limit`` purged cases worked on since; the caller commits.

    Before reopening a purged case was refused, one could be reopened and worked:
    it is stuck open now (every write is refused), and what was written to it
    since its purge is never deleted (the purge job takes only cases not yet
    purged). Each such case, open or holding content again, is closed by the
    system, its scheduled sessions are cancelled and its pending notifications
    dropped, and it is purged again. Returns the ids of the cases repaired and how many
    of them were closed.
    """
    query = (select(Case)
             .where(Case.is_purged.is_(True), Case.id > after_id,
                    or_(Case.status != CaseStatus.CLOSED, _content_left()))
             .order_by(Case.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Case)
    cases = list(session.scalars(query))
    closed = 0
    for case in cases:
        if case.status is not CaseStatus.CLOSED:
            close_purged_case(session, case, now=now)
            closed += 1
        purge_case(session, case, now=now)
    return [case.id for case in cases], closed


def close_purged_case(session: Session, case: Case, *, now: datetime) -> None:
    """Close a purged case as the system, outside the status machine; audit it.

    As closing does, nothing is left to chase: the escalation ladder stops, the
    scheduled sessions are cancelled and the notifications still waiting are
    dropped (their reminders, escalations and alerts name a case with nothing in it).
    """
    previous = case.status
    cancelled = _rowcount(session, update(FollowUpSession).where(
        FollowUpSession.case_id == case.id, FollowUpSession.status == SessionStatus.SCHEDULED)
        .values(status=SessionStatus.CANCELLED))
    dropped = _rowcount(session, delete(Notification).where(
        Notification.case_id == case.id, Notification.status == NotificationStatus.PENDING))
    case.set_status(CaseStatus.CLOSED)
    case.closed_dt = now
    case.next_escalation_dt = None
    case.unread_reporter_messages = 0
    facts = {"from": previous.value, "to": CaseStatus.CLOSED.value, "reopened": False}
    event = CaseEvent(school_id=case.school_id, case_id=case.id, kind=EventKind.STATUS_CHANGED,
                      created_dt=now, data=facts)
    session.add(event)
    session.flush()
    audit.record(session, "case.status_changed", school_id=case.school_id, actor_kind="system",
                 case_id=case.id, target=f"case_event:{event.id}", at=now,
                 detail={"from": previous.value, "to": CaseStatus.CLOSED.value,
                         "purged_case_repair": True, "sessions_cancelled": cancelled,
                         "notifications_dropped": dropped})


def _rowcount(session: Session, statement) -> int:  # type: ignore[no-untyped-def]
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount
