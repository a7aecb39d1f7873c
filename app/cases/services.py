"""Reading and working cases. Every function takes the acting user and checks policy."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, joinedload

from app.auth.models import StaffUser
from app.cases.models import Case
from app.cases.vocabulary import CaseStatus, Risk
from app.errors import ValidationFailed
from app.policy import require_casework

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
