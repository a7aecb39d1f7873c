"""The periodic scans that turn time passing into outbox rows.

Each scan takes ``now`` as an argument (the tests control the clock) and
touches only rows that are due, through partial or leading indexes: its cost
grows with what is due, not with the number of cases. Each is safe to run
twice and from two workers at once: rows are claimed with ``FOR UPDATE SKIP
LOCKED`` (escalation) or the scan runs under a transaction-scoped advisory lock
(stale cases, digests), and every notification has a unique key as the last
guard. The callers commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.audit import services as audit
from app.auth.models import CaseRole, StaffUser
from app.cases.deadlines import TOP_LEVEL, is_stale, next_escalation_after, stale_cutoff
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.vocabulary import CaseStatus, Risk
from app.notifications.models import Notification
from app.notifications.outbox import queue_notification
from app.schools.models import School

log = logging.getLogger(__name__)

#: When the morning digest goes out, in each school's own time.
DIGEST_TIME = time(7, 0)
#: Namespace of the advisory locks the scans take (the audit log uses 0x5AFE).
_LOCK_NS = 0x5AF0
_STALE_LOCK, _DIGEST_LOCK = 1, 2


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _try_scan_lock(session: Session, key: int) -> bool:
    """Whether this transaction may run the scan ``key`` (no other worker is running it)."""
    if not _is_postgres(session):
        return True  # SQLite: BEGIN IMMEDIATE already makes this the only writer
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:ns, :key)"),
                                {"ns": _LOCK_NS, "key": key}).scalar())


def _enabled_staff(session: Session, school_id: int, *conditions: Any) -> list[int]:
    return list(session.scalars(
        select(StaffUser.id).where(StaffUser.school_id == school_id,
                                   StaffUser.is_enabled.is_(True), *conditions)
        .order_by(StaffUser.id)))


def leads_of(session: Session, school_id: int) -> list[int]:
    return _enabled_staff(session, school_id, StaffUser.case_role == CaseRole.LEAD)


def counsellors_of(session: Session, school_id: int) -> list[int]:
    return _enabled_staff(session, school_id, StaffUser.case_role == CaseRole.COUNSELLOR)


def admins_of(session: Session, school_id: int) -> list[int]:
    return _enabled_staff(session, school_id, StaffUser.is_admin.is_(True))


def _assignee(session: Session, case: Case) -> int | None:
    """The case's assignee if they can still act on it."""
    if case.assignee_id is None:
        return None
    staff = session.get(StaffUser, case.assignee_id)
    if staff is None or not staff.is_enabled or not staff.is_casework_staff:
        return None
    return staff.id


# -- escalation ------------------------------------------------------------------------
def escalation_recipients(session: Session, case: Case, level: int) -> list[int]:
    """Who hears about escalation ``level`` of ``case`` (DOMAIN.md, escalation ladder).

    1: the assignee, or every counsellor when unassigned; 2: the safeguarding
    leads; 3: every lead and the school's admins (the admin contact). Nobody is
    ever left out for want of a role: each level falls back to the leads, then
    the counsellors.
    """
    if level == 1:
        assignee = _assignee(session, case)
        ids = [assignee] if assignee else counsellors_of(session, case.school_id)
    elif level == 2:
        ids = leads_of(session, case.school_id)
    else:
        ids = leads_of(session, case.school_id) + admins_of(session, case.school_id)
    if not ids:
        ids = leads_of(session, case.school_id) or counsellors_of(session, case.school_id)
    return list(dict.fromkeys(ids))


def escalate_due(session: Session, *, now: datetime, limit: int = 20) -> int:
    """Send the next escalation level of up to ``limit`` cases whose level is due.

    Returns how many cases were looked at (``limit`` means: run again, more may be due).
    """
    query = (select(Case).where(Case.next_escalation_dt <= now)
             .order_by(Case.next_escalation_dt, Case.id).limit(limit)
             .execution_options(populate_existing=True))
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=Case)
    cases = list(session.scalars(query))
    schools: dict[int, School] = {}
    # One school after another in a fixed order: the audit log locks each school's chain
    # until commit, and two workers taking those locks in the same order cannot deadlock.
    for case in sorted(cases, key=lambda c: (c.school_id, c.id)):
        school = schools.get(case.school_id) or session.get(School, case.school_id)
        schools[case.school_id] = school
        _escalate(session, case, school, now)
    return len(cases)


def _set_escalation(session: Session, case: Case, *, level: int,
                    next_dt: datetime | None) -> bool:
    """Move the case's ladder on, unless someone changed it since we read it.

    A plain UPDATE, not an ORM flush: the scan must not bump the case's version
    and so refuse the page a counsellor has open on it.
    """
    result = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.next_escalation_dt == case.next_escalation_dt,
               Case.escalation_level == case.escalation_level)
        .values(escalation_level=level, next_escalation_dt=next_dt)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    # Keep the object in step without marking it dirty (a flush would bump the version).
    set_committed_value(case, "escalation_level", level)
    set_committed_value(case, "next_escalation_dt", next_dt)
    return True


def _escalate(session: Session, case: Case, school: School, now: datetime) -> None:
    level = case.escalation_level + 1
    if (not case.is_open or case.first_response_dt is not None or case.is_purged
            or level > TOP_LEVEL):
        # Nothing to chase any more (an update elsewhere forgot to stop the ladder).
        _set_escalation(session, case, level=case.escalation_level, next_dt=None)
        return
    if not _set_escalation(session, case, level=level,
                           next_dt=next_escalation_after(case, level, school)):
        return
    recipients = escalation_recipients(session, case, level)
    stamp = int(case.response_due_dt.timestamp())
    for staff_id in recipients:
        note = queue_notification(
            session, key=f"escalation:{case.id}:L{level}:{stamp}:staff:{staff_id}",
            kind="escalation", school_id=case.school_id, recipient_staff_id=staff_id,
            case_id=case.id, data={"reference": case.reference, "level": level})
        if note is not None:
            note.created_dt = now
    session.add(CaseEvent(school_id=case.school_id, case_id=case.id, kind=EventKind.ESCALATION,
                          created_dt=now, data={"level": level, "recipients": len(recipients)}))
    audit.record(session, "case.escalated", school_id=case.school_id, actor_kind="system",
                 case_id=case.id, target=f"case:{case.id}", at=now,
                 detail={"level": level, "recipients": len(recipients)})
    if not recipients:
        log.warning("escalation has nobody to tell",
                    extra={"case_id": case.id, "escalation_level": level})
    log.info("case escalated", extra={"case_id": case.id, "escalation_level": level})


# -- stale cases -----------------------------------------------------------------------
def remind_stale(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Remind the assignee of each open case idle for the school's ``stale_after_days``.

    Once per idle period: a case already reminded since its last activity is
    skipped in the query itself. Unassigned (or orphaned) cases go to the leads.
    Returns the number of notifications written.
    """
    if not _try_scan_lock(session, _STALE_LOCK):
        return 0
    written = 0
    for school in session.scalars(select(School).order_by(School.id)):
        days = school.stale_after_days
        if not days or days <= 0:
            continue
        cutoff = stale_cutoff(school, now, days)
        reminded = exists().where(Notification.case_id == Case.id,
                                  Notification.kind == "stale_case",
                                  Notification.created_dt >= Case.last_activity_dt)
        cases = session.scalars(
            select(Case).where(Case.is_open.is_(True), Case.last_activity_dt <= cutoff,
                               Case.school_id == school.id, ~reminded)
            .order_by(Case.last_activity_dt).limit(limit))
        for case in cases:
            if not is_stale(school, case.last_activity_dt, now, days):
                continue
            assignee = _assignee(session, case)
            recipients = [assignee] if assignee else leads_of(session, case.school_id)
            last = case.last_activity_dt
            idle_since = f"{last:%Y-%m-%d}:{int(last.timestamp())}"
            for staff_id in recipients:
                note = queue_notification(
                    session, key=f"stale:{case.id}:{idle_since}:staff:{staff_id}",
                    kind="stale_case", school_id=case.school_id, recipient_staff_id=staff_id,
                    case_id=case.id, data={"reference": case.reference, "days": days})
                if note is not None:
                    note.created_dt = now
                    written += 1
    return written


# -- the morning digest ----------------------------------------------------------------
@dataclass(frozen=True)
class DigestCounts:
    new: int
    critical: int
    overdue: int
    escalated: int

    def as_data(self) -> dict[str, int]:
        return {"new": self.new, "critical": self.critical, "overdue": self.overdue,
                "escalated": self.escalated}


def digest_counts(session: Session, school_id: int, now: datetime) -> DigestCounts:
    """Count a school's open cases that are new, critical, overdue and escalated."""
    def count(*conditions) -> int:  # type: ignore[no-untyped-def]
        return session.execute(
            select(func.count()).select_from(Case)
            .where(Case.school_id == school_id, Case.is_open.is_(True), *conditions)
        ).scalar_one()

    awaiting = Case.first_response_dt.is_(None)
    return DigestCounts(
        new=count(Case.status == CaseStatus.NEW),
        critical=count(Case.risk == Risk.CRITICAL),
        overdue=count(awaiting, Case.response_due_dt < now),
        escalated=count(awaiting, Case.escalation_level > 0),
    )


def write_digests(session: Session, *, now: datetime) -> int:
    """Write today's digest for each lead of every school where it is past 07:00.

    Once per school-local date: the key holds the date, and schools whose
    digests for today exist are skipped after one indexed lookup. Returns the
    number written.
    """
    if not _try_scan_lock(session, _DIGEST_LOCK):
        return 0
    written = 0
    for school in session.scalars(select(School).order_by(School.id)):
        local = now.astimezone(school.tz)
        if local.time() < DIGEST_TIME:
            continue
        day = local.date().isoformat()
        keys = {lead: f"digest:{school.id}:{day}:staff:{lead}"
                for lead in leads_of(session, school.id)}
        if not keys:
            continue
        done = set(session.scalars(select(Notification.key)
                                   .where(Notification.key.in_(list(keys.values())))))
        missing = {lead: key for lead, key in keys.items() if key not in done}
        if not missing:
            continue
        data = digest_counts(session, school.id, now).as_data() | {"date": day}
        for lead, key in missing.items():
            note = queue_notification(session, key=key, kind="digest", school_id=school.id,
                                      recipient_staff_id=lead, data=data)
            if note is not None:
                note.created_dt = now
                written += 1
    return written
