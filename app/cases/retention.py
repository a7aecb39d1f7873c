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

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.cases.identifier_models import CaseIdentifier
from app.cases.models import Case, CaseEvent
from app.cases.people_models import CasePerson
from app.cases.vocabulary import CaseStatus
from app.reporting.evidence import evidence_store
from app.reporting.evidence_models import Evidence
from app.reporting.models import Report
from app.scheduling.models import FollowUpSession
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
    """Remove the content of one case, keep its countable facts, audit it; the caller commits."""
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


def _rowcount(session: Session, statement) -> int:  # type: ignore[no-untyped-def]
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount
