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

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.audit import services as audit
from app.cases.deadlines import TOP_LEVEL, is_stale, next_escalation_after, stale_cutoff
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.vocabulary import CaseStatus, Risk
from app.notifications.models import Notification
from app.notifications.outbox import queue_notifications
from app.notifications.recipients import ADMIN_CONTACT, StaffDirectory
from app.schools.models import School

log = logging.getLogger(__name__)

#: When the morning digest goes out, in each school's own time.
DIGEST_TIME = time(7, 0)
#: Namespace of the advisory locks the scans take.
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


# -- escalation ------------------------------------------------------------------------
def escalate_due(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Send the next escalation level of up to ``limit`` cases whose level is due.

    One batch is a handful of statements whatever its size: one claim, one read
    each of the schools and their staff, then one multi-row write each for the
    ladder, the outbox, the chronology and (per school) the audit chain.
    Returns how many cases were looked at (``limit`` means: run again, more may be due).
    """
    query = (select(Case).where(Case.next_escalation_dt <= now)
             .order_by(Case.next_escalation_dt, Case.id).limit(limit)
             .execution_options(populate_existing=True))
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=Case)
    cases = list(session.scalars(query))
    if not cases:
        return 0
    school_ids = sorted({case.school_id for case in cases})
    schools = {school.id: school
               for school in session.scalars(select(School).where(School.id.in_(school_ids)))}
    staff = StaffDirectory.load(session, school_ids)
    ladder: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    for case in cases:
        level = case.escalation_level + 1
        if (not case.is_open or case.first_response_dt is not None or case.is_purged
                or level > TOP_LEVEL):
            # Nothing to chase any more (an update elsewhere forgot to stop the ladder).
            ladder.append({"b_id": case.id, "b_level": case.escalation_level, "b_next": None})
            continue
        school = schools[case.school_id]
        ladder.append({"b_id": case.id, "b_level": level,
                       "b_next": next_escalation_after(case, level, school)})
        recipients = staff.escalation_recipients(case, level)
        stamp = int(case.response_due_dt.timestamp())
        data = {"reference": case.reference, "level": level}
        notes += [{"key": f"escalation:{case.id}:L{level}:{stamp}:staff:{staff_id}",
                   "kind": "escalation", "school_id": case.school_id, "case_id": case.id,
                   "recipient_staff_id": staff_id, "data": data,
                   "created_dt": now, "next_attempt_dt": now}
                  for staff_id in recipients]
        told = len(recipients)
        if staff.tells_admin_contact(level, school.admin_contact_email, recipients):
            # Keyed to the school's contact, not the address: sent once per level however
            # often the address changes, and read from the school when the mail goes.
            notes.append({"key": f"escalation:{case.id}:L{level}:{stamp}:{ADMIN_CONTACT}",
                          "kind": "escalation", "school_id": case.school_id, "case_id": case.id,
                          "recipient_staff_id": None, "data": {**data, "to": ADMIN_CONTACT},
                          "created_dt": now, "next_attempt_dt": now})
            told += 1
        facts = {"level": level, "recipients": told}
        events.append({"school_id": case.school_id, "case_id": case.id,
                       "kind": EventKind.ESCALATION, "created_dt": now, "data": facts})
        audits.append({"school_id": case.school_id, "action": "case.escalated",
                       "actor_kind": "system", "case_id": case.id, "target": f"case:{case.id}",
                       "at": now, "detail": facts})
        if not told:
            log.warning("escalation has nobody to tell",
                        extra={"case_id": case.id, "escalation_level": level})
    _move_ladders(session, cases, ladder)
    written = queue_notifications(session, notes)
    if events:
        session.execute(insert(CaseEvent.__table__), events)
    audit.record_many(session, audits)
    log.info("escalation batch", extra={"cases": len(cases), "escalated": len(events),
                                        "notifications": written})
    return len(cases)


_LADDER_UPDATE = (update(Case.__table__).where(Case.__table__.c.id == bindparam("b_id"))
                  .values(escalation_level=bindparam("b_level"),
                          next_escalation_dt=bindparam("b_next")))


def _move_ladders(session: Session, cases: list[Case], ladder: list[dict[str, Any]]) -> None:
    """Write each claimed case's new level and next due time in one statement.

    A plain UPDATE, not an ORM flush: the scan must not bump the case's version
    and so refuse the page a counsellor has open on it. The rows are ours until
    commit (``FOR UPDATE``; on SQLite the only writer), so nobody changed them
    since they were read.
    """
    session.execute(_LADDER_UPDATE, ladder)
    # Keep the objects in step without marking them dirty (a flush would bump the version).
    for case, row in zip(cases, ladder, strict=True):
        set_committed_value(case, "escalation_level", row["b_level"])
        set_committed_value(case, "next_escalation_dt", row["b_next"])


# -- stale cases -----------------------------------------------------------------------
#: Open cases not yet reminded since their last activity (the partial index's predicate).
_NOT_REMINDED = (Case.is_open.is_(True)
                 & (Case.stale_reminded_dt.is_(None)
                    | (Case.stale_reminded_dt < Case.last_activity_dt)))


def remind_stale(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Remind the assignee of each open case idle for the school's ``stale_after_days``.

    Once per idle period: a reminded case is stamped (``stale_reminded_dt``) and
    drops out of the scan's partial index until someone acts on it again, so
    the scan reads only cases still to remind. Unassigned (or orphaned) cases go
    to the leads. Returns the number of notifications written.
    """
    if not _try_scan_lock(session, _STALE_LOCK):
        return 0
    schools = [school for school in session.scalars(select(School).order_by(School.id))
               if school.stale_after_days and school.stale_after_days > 0]
    if not schools:
        return 0
    staff = StaffDirectory.load(session, [school.id for school in schools])
    notes: list[dict[str, Any]] = []
    reminded: list[int] = []
    for school in schools:
        days = school.stale_after_days
        cutoff = stale_cutoff(school, now, days)
        cases = session.scalars(
            select(Case).where(Case.school_id == school.id, _NOT_REMINDED,
                               Case.last_activity_dt <= cutoff)
            .order_by(Case.last_activity_dt).limit(limit))
        for case in cases:
            if not is_stale(school, case.last_activity_dt, now, days):
                continue  # idle, but not for as many school days yet
            assignee = staff.assignee(case)
            last = case.last_activity_dt
            idle_since = f"{last:%Y-%m-%d}:{int(last.timestamp())}"
            notes += [{"key": f"stale:{case.id}:{idle_since}:staff:{staff_id}",
                       "kind": "stale_case", "school_id": case.school_id, "case_id": case.id,
                       "recipient_staff_id": staff_id,
                       "data": {"reference": case.reference, "days": days},
                       "created_dt": now, "next_attempt_dt": now}
                      for staff_id in ([assignee] if assignee else staff.leads(school.id))]
            reminded.append(case.id)
    if reminded:
        # A plain UPDATE: a reminder is not an edit, and must not bump the case's version.
        session.execute(update(Case.__table__).where(Case.__table__.c.id.in_(reminded))
                        .values(stale_reminded_dt=now))
    return queue_notifications(session, notes)


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
    schools = list(session.scalars(select(School).order_by(School.id)))
    staff = StaffDirectory.load(session, [school.id for school in schools])
    for school in schools:
        local = now.astimezone(school.tz)
        if local.time() < DIGEST_TIME:
            continue
        day = local.date().isoformat()
        keys = {lead: f"digest:{school.id}:{day}:staff:{lead}" for lead in staff.leads(school.id)}
        if not keys:
            continue
        done = set(session.scalars(select(Notification.key)
                                   .where(Notification.key.in_(list(keys.values())))))
        missing = {lead: key for lead, key in keys.items() if key not in done}
        if not missing:
            continue
        data = digest_counts(session, school.id, now).as_data() | {"date": day}
        written += queue_notifications(session, [
            {"key": key, "kind": "digest", "school_id": school.id, "recipient_staff_id": lead,
             "data": data, "created_dt": now, "next_attempt_dt": now}
            for lead, key in missing.items()])
    return written
