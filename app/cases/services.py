"""Reading and working cases. Every function takes the acting user and checks policy."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from typing import Any

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session, joinedload, undefer

from app.audit import services as audit
from app.auth.models import StaffUser
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.vocabulary import CaseStatus, Risk
from app.db import utcnow
from app.errors import Conflict, NotFound, ValidationFailed
from app.policy import can_work_case, require_case_access, require_case_work, require_casework
from app.reporting.evidence import evidence_store
from app.reporting.evidence_models import Evidence
from app.reporting.models import Report

PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilters:
    status: CaseStatus | None = None
    risk: Risk | None = None
    #: all / mine / unassigned
    scope: str = "all"

    @classmethod
    def parse(cls, args) -> "QueueFilters":  # noqa: ANN001 - a MultiDict
        try:
            status = CaseStatus(args["status"]) if args.get("status") else None
        except ValueError:
            raise ValidationFailed("Choose a status from the list.", field="status") from None
        try:
            risk = Risk(args["risk"]) if args.get("risk") else None
        except ValueError:
            raise ValidationFailed("Choose a risk level from the list.", field="risk") from None
        scope = args.get("scope") or "all"
        if scope not in ("all", "mine", "unassigned"):
            raise ValidationFailed("Choose mine, unassigned or all.", field="scope")
        return cls(status=status, risk=risk, scope=scope)


@dataclass(frozen=True)
class QueuePage:
    cases: list[Case]
    next_cursor: str | None


def _encode_cursor(case: Case) -> str:
    raw = f"{case.risk_rank}|{case.response_due_dt.isoformat()}|{case.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        rank, due, case_id = raw.split("|")
        return int(rank), datetime.fromisoformat(due), int(case_id)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("That page link is broken; start from the first page.",
                               field="after") from None


def triage_queue(session: Session, user: StaffUser, filters: QueueFilters,
                 *, after: str | None = None, limit: int = PAGE_SIZE) -> QueuePage:
    """Open cases of the user's school, most urgent first, one keyset page at a time."""
    require_casework(user)
    stmt = (
        select(Case)
        .options(joinedload(Case.assignee))
        .where(Case.school_id == user.school_id)
        .order_by(Case.risk_rank, Case.response_due_dt, Case.id)
        .limit(limit + 1)
    )
    if filters.status is not None:
        stmt = stmt.where(Case.status == filters.status)
    else:
        stmt = stmt.where(Case.is_open.is_(True))
    if filters.risk is not None:
        stmt = stmt.where(Case.risk_rank == filters.risk.rank)
    if filters.scope == "mine":
        stmt = stmt.where(Case.assignee_id == user.id)
    elif filters.scope == "unassigned":
        stmt = stmt.where(Case.assignee_id.is_(None))
    if after:
        stmt = stmt.where(
            tuple_(Case.risk_rank, Case.response_due_dt, Case.id) > tuple_(*_decode_cursor(after))
        )
    rows = list(session.execute(stmt).scalars())
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return QueuePage(cases=rows[:limit], next_cursor=next_cursor)


# -- one case -------------------------------------------------------------------------
def get_case(session: Session, user: StaffUser, case_id: int) -> Case:
    """Return a case of the user's school, or raise NotFound (another school's is 'not found')."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound()
    require_case_access(user, case)
    return case


def open_case(session: Session, user: StaffUser, case_id: int) -> Case:
    """Open the case page: the report as submitted is shown, so the view is audited."""
    case = get_case(session, user, case_id)
    audit.record(session, "case.viewed", school_id=case.school_id, actor_id=user.id,
                 case_id=case.id)
    if case.unread_reporter_messages and can_work_case(user, case):
        case.unread_reporter_messages = 0
    return case


def chronology(session: Session, user: StaffUser, case: Case) -> list[CaseEvent]:
    """Every event of the case in time order; restricted notes only for author and leads."""
    require_case_access(user, case)
    stmt = (select(CaseEvent).where(CaseEvent.case_id == case.id)
            .options(undefer(CaseEvent.body), joinedload(CaseEvent.actor))
            .order_by(CaseEvent.created_dt, CaseEvent.id))
    if not user.is_lead:
        stmt = stmt.where(or_(CaseEvent.is_restricted.is_(False), CaseEvent.actor_id == user.id))
    return list(session.execute(stmt).scalars())


def case_reports(session: Session, user: StaffUser, case: Case) -> list[Report]:
    require_case_access(user, case)
    return list(session.execute(
        select(Report).where(Report.case_id == case.id).order_by(Report.id)
        .options(undefer(Report.details), undefer(Report.involved), undefer(Report.handles))
    ).scalars())


def case_evidence(session: Session, user: StaffUser, case: Case) -> list[Evidence]:
    require_case_access(user, case)
    return list(session.execute(
        select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id)).scalars())


def reveal_identity(session: Session, user: StaffUser, case_id: int,
                    report_id: int) -> dict[str, Any]:
    """Show a confidential reporter's identity to staff on the case; audited every time."""
    case = get_case(session, user, case_id)
    report = session.get(Report, report_id)
    if report is None or report.case_id != case.id:
        raise NotFound()
    if report.is_anonymous or not report.reporter_identity:
        raise ValidationFailed("This report is anonymous: there is no identity to show.")
    audit.record(session, "case.identity_revealed", school_id=case.school_id, actor_id=user.id,
                 case_id=case.id, target=f"report:{report.id}")
    return dict(report.reporter_identity)


def open_evidence(session: Session, user: StaffUser, case_id: int,
                  evidence_id: int) -> tuple[Evidence, bytes]:
    """Return an evidence file for download; every opening is audited and on the chronology."""
    case = get_case(session, user, case_id)
    evidence = session.get(Evidence, evidence_id)
    if evidence is None or evidence.case_id != case.id:
        raise NotFound()
    data = evidence_store().get(session, evidence.storage_key)
    session.add(CaseEvent(school_id=case.school_id, case_id=case.id, actor_id=user.id,
                          kind=EventKind.EVIDENCE_VIEWED, data={"evidence_id": evidence.id}))
    audit.record(session, "evidence.opened", school_id=case.school_id, actor_id=user.id,
                 case_id=case.id, target=f"evidence:{evidence.id}")
    return evidence, data


def take_case(session: Session, user: StaffUser, case_id: int, *, version: int) -> Case:
    """Assign an unassigned case to oneself."""
    case = get_case(session, user, case_id)
    check_version(case, version)
    if case.assignee_id is not None and case.assignee_id != user.id:
        raise Conflict(f"{case.assignee.name if case.assignee else 'Someone'} has already taken "
                       "this case. Ask a safeguarding lead to reassign it.")
    require_case_work(user, case)
    case.assignee_id = user.id
    case.last_activity_dt = utcnow()
    session.add(CaseEvent(school_id=case.school_id, case_id=case.id, actor_id=user.id,
                          kind=EventKind.ASSIGNED, data={"to": user.id, "to_name": user.name}))
    audit.record(session, "case.assigned", school_id=case.school_id, actor_id=user.id,
                 case_id=case.id, detail={"to": user.id})
    return case


def check_version(case: Case, version: int | None) -> None:
    """Refuse a write made from a page that showed an older version of the case."""
    if version is not None and version != case.version:
        raise Conflict()
