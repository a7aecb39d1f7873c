"""Figures for leads, computed by aggregate queries on indexed columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import StaffUser
from app.cases.models import Case
from app.cases.vocabulary import CaseStatus, Risk
from app.db import utcnow
from app.policy import require_lead


@dataclass(frozen=True)
class NowFigures:
    open_by_risk: dict[Risk, int]
    open_by_status: dict[CaseStatus, int]
    overdue: int
    unassigned_urgent: int
    unread_messages: int


def now_figures(session: Session, user: StaffUser, *, now: datetime | None = None) -> NowFigures:
    require_lead(user)
    now = now or utcnow()
    open_cases = (Case.school_id == user.school_id, Case.is_open.is_(True))
    by_risk = dict.fromkeys(Risk, 0)
    by_status = {s: 0 for s in CaseStatus if s.is_open}
    rows = session.execute(
        select(Case.risk, Case.status, func.count()).where(*open_cases).group_by(Case.risk, Case.status)
    )
    for risk, status, count in rows:
        by_risk[risk] += count
        by_status[status] += count
    overdue = session.execute(
        select(func.count()).select_from(Case).where(
            *open_cases, Case.first_response_dt.is_(None), Case.response_due_dt < now)
    ).scalar_one()
    unassigned = session.execute(
        select(func.count()).select_from(Case).where(
            *open_cases, Case.assignee_id.is_(None), Case.risk_rank <= Risk.HIGH.rank)
    ).scalar_one()
    unread = session.execute(
        select(func.coalesce(func.sum(Case.unread_reporter_messages), 0)).where(*open_cases)
    ).scalar_one()
    return NowFigures(by_risk, by_status, overdue, unassigned, int(unread))
