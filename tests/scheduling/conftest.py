"""Fixtures for follow-up sessions: a school in Europe/London, its staff and a case."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.cases.models import CaseEvent, EventKind
from app.notifications.models import Notification
from app.scheduling import services
from app.scheduling.models import FollowUpSession
from tests.factories import LeadFactory, SchoolFactory, StaffFactory, make_case

UTC = timezone.utc
#: A fixed "now" for service tests: Thursday 6 March 2025, 09:00 in London (GMT).
NOW = datetime(2025, 3, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def school(session):
    return SchoolFactory(timezone="Europe/London")


@pytest.fixture
def counsellor(session, school):
    return StaffFactory(school=school, name="Casey Counsellor")


@pytest.fixture
def lead(session, school):
    return LeadFactory(school=school, name="Lee Lead")


@pytest.fixture
def case(session, school, counsellor):
    case = make_case(session, school)
    case.assignee_id = counsellor.id
    session.flush()
    return case


def book(session, user, case, start_local: datetime, *, now: datetime = NOW,  # noqa: ANN001
         minutes: int = 60, **overrides) -> FollowUpSession:
    """Schedule through the service; ``start_local`` is London wall-clock time."""
    values = dict(start_local=start_local, kind="target_check_in", mode="in_person",
                  duration_minutes=minutes, location="Room 4")
    values.update(overrides)
    return services.schedule_session(session, user, case.id, services.ScheduleInput(**values),
                                     now=now)


def completion(outcome=(5, 6, 7, 8), rating=(9, 9, 9, 9), notes="Talked about lunchtimes.",  # noqa: ANN001
               strategies="Sit with friends; tell a teacher.") -> services.CompletionInput:
    return services.CompletionInput(outcome_scores=list(outcome), session_scores=list(rating),
                                    notes=notes, strategies=strategies)


def audit_actions(session, case_id: int | None = None) -> list[str]:  # noqa: ANN001
    stmt = select(AuditEntry.action).order_by(AuditEntry.id)
    if case_id is not None:
        stmt = stmt.where(AuditEntry.case_id == case_id)
    return list(session.execute(stmt).scalars())


def session_events(session, case_id: int) -> list[dict]:  # noqa: ANN001
    return [e.data for e in session.execute(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.SESSION)
        .order_by(CaseEvent.id)).scalars()]


def reminders(session, kind: str = "session_reminder") -> list[Notification]:  # noqa: ANN001
    session.expire_all()
    return list(session.execute(
        select(Notification).where(Notification.kind == kind)
        .order_by(Notification.next_attempt_dt, Notification.id)).scalars())


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
