"""The case status machine: any sequence of attempted moves keeps its invariants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_reached
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from app.audit.models import AuditEntry
from app.cases import workflow
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.vocabulary import CaseStatus
from app.db import utcnow
from app.errors import Conflict, ValidationFailed
from app.scheduling.models import FollowUpSession, SessionKind, SessionMode, SessionStatus
from tests.factories import make_case

#: DOMAIN.md, written out again here so the test does not trust the code's own table.
SPEC = {
    "new": {"triaged"},
    "triaged": {"in_progress"},
    "in_progress": {"awaiting_follow_up"},
    "awaiting_follow_up": {"in_progress", "resolved"},
    "resolved": {"closed", "in_progress"},
    "closed": {"in_progress"},
}
STATUSES = [s.value for s in CaseStatus]

#: What to try next: mostly a move the spec allows (so deep states are reached), often
#: any status or a nonsense one, sometimes a stale page or a change to the sessions.
ATTEMPTS = ["legal"] * 6 + ["any", "any", "stale", "schedule", "cancel_sessions"]


def _schedule(session, case, counsellor) -> None:  # noqa: ANN001
    session_row = FollowUpSession(school_id=case.school_id, case_id=case.id,
                                  counsellor_id=counsellor.id, kind=SessionKind.TARGET_CHECK_IN,
                                  mode=SessionMode.IN_PERSON)
    session_row.set_time(utcnow() + timedelta(days=2), 60)
    session.add(session_row)
    session.flush()


def _counts(session, case_id: int) -> tuple[int, int]:  # noqa: ANN001
    """Chronology entries and audit entries of the case, in one round trip."""
    events = select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
    audits = select(func.count()).select_from(AuditEntry).where(AuditEntry.case_id == case_id)
    return tuple(session.execute(select(events.scalar_subquery(),
                                        audits.scalar_subquery())).one())


def _state(case) -> tuple:  # noqa: ANN001
    return (case.status, case.is_open, case.resolved_dt, case.closed_dt, case.version,
            case.first_response_dt)


def _check_invariants(case: Case, *, resolved_since_reopen: bool) -> None:
    assert case.is_open == case.status.is_open
    assert (case.resolved_dt is not None) == (case.status in (CaseStatus.RESOLVED,
                                                              CaseStatus.CLOSED))
    assert (case.closed_dt is not None) == (case.status is CaseStatus.CLOSED)
    # closed is only reached through resolved
    if case.status is CaseStatus.CLOSED:
        assert resolved_since_reopen


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_sequence_of_moves_keeps_the_invariants(session, world, data):
    savepoint = session.begin_nested()
    try:
        case = make_case(session, world.school)
        session.flush()
        user = world.counsellor
        resolved_since_reopen = False
        scheduled = 0  # the model's own count of sessions still scheduled
        events, audits = _counts(session, case.id)
        for _ in range(data.draw(st.integers(0, 20), label="length")):
            kind = data.draw(st.sampled_from(ATTEMPTS), label="attempt")
            if kind == "schedule":
                _schedule(session, case, user)
                scheduled += 1
                continue
            if kind == "cancel_sessions":
                session.execute(update(FollowUpSession).where(FollowUpSession.case_id == case.id)
                                .values(status=SessionStatus.CANCELLED))
                scheduled = 0
                continue
            current = case.status.value
            choices = sorted(SPEC[current]) if kind == "legal" else STATUSES + ["archived", ""]
            to = data.draw(st.sampled_from(choices), label="to")
            with_reason = data.draw(st.sampled_from([True, True, True, False]), label="reason")
            before = _state(case)
            expected = (kind != "stale" and to in SPEC[current]
                        and (to != "resolved" or (with_reason and scheduled == 0)))
            version = case.version - 1 if kind == "stale" else case.version
            reason = "What was done and how things are now." if with_reason else "  "
            if expected:
                entry = workflow.move_status(session, user, case.id, to, reason=reason,
                                             version=version)
                assert case.status.value == to
                assert entry.kind is EventKind.STATUS_CHANGED and entry.actor_id == user.id
                assert entry.data["from"] == current and entry.data["to"] == to
                # exactly one chronology entry and one audit entry per move
                assert _counts(session, case.id) == (events + 1, audits + 1)
                events, audits = events + 1, audits + 1
                is_reopen = current in ("resolved", "closed") and to == "in_progress"
                last = session.scalars(select(AuditEntry).where(AuditEntry.case_id == case.id)
                                       .order_by(AuditEntry.id.desc()).limit(1)).one()
                assert last.action == ("case.reopened" if is_reopen else "case.status_changed")
                assert last.actor_id == user.id and last.detail == {"from": current, "to": to}
                assert case.version > before[4]
                assert case.first_response_dt is not None
                if to == "resolved":
                    assert entry.body == reason
                    resolved_since_reopen = True
                if is_reopen:
                    resolved_since_reopen = False
            else:
                with pytest.raises(Conflict if kind == "stale" else ValidationFailed) as refused:
                    workflow.move_status(session, user, case.id, to, reason=reason,
                                         version=version)
                assert refused.value.message
                session.flush()
                session.refresh(case)
                assert _state(case) == before
                assert _counts(session, case.id) == (events, audits)
            _check_invariants(case, resolved_since_reopen=resolved_since_reopen)
            note_reached(f"reached {case.status.value}")
    finally:
        savepoint.rollback()


def _walk(session, user, case, *path: str) -> None:  # noqa: ANN001
    for to in path:
        workflow.move_status(session, user, case.id, to, reason="Summary of what was done.",
                             version=case.version)


def test_an_illegal_move_names_the_allowed_ones(session, world):
    case = make_case(session, world.school)
    with pytest.raises(ValidationFailed) as refused:
        workflow.move_status(session, world.counsellor, case.id, "resolved", reason="done",
                             version=case.version)
    assert refused.value.message == "A case that is New can only move to: Triaged."
    _walk(session, world.counsellor, case, "triaged", "in_progress", "awaiting_follow_up",
          "resolved")
    with pytest.raises(ValidationFailed) as refused:
        workflow.move_status(session, world.counsellor, case.id, "triaged", reason=None,
                             version=case.version)
    assert refused.value.message == ("A case that is Resolved can only move to: Closed or "
                                     "Reopen (back to In progress).")


def test_resolving_needs_a_summary_and_no_scheduled_session(session, world):
    case = make_case(session, world.school)
    _walk(session, world.counsellor, case, "triaged", "in_progress", "awaiting_follow_up")
    with pytest.raises(ValidationFailed, match="resolution summary") as refused:
        workflow.move_status(session, world.counsellor, case.id, "resolved", reason="",
                             version=case.version)
    assert refused.value.field == "reason"
    _schedule(session, case, world.counsellor)
    with pytest.raises(ValidationFailed, match="1 follow-up session scheduled"):
        workflow.move_status(session, world.counsellor, case.id, "resolved", reason="Sorted.",
                             version=case.version)
    assert case.status is CaseStatus.AWAITING_FOLLOW_UP and case.resolved_dt is None


def test_resolve_close_and_reopen_set_and_clear_the_dates(session, world):
    case = make_case(session, world.school)
    _walk(session, world.counsellor, case, "triaged", "in_progress", "awaiting_follow_up",
          "resolved")
    resolved_event = session.scalars(select(CaseEvent).where(
        CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())).first()
    assert resolved_event.body == "Summary of what was done."
    # the summary is stored encrypted, not as plain text in the row
    raw = session.execute(text("SELECT body FROM case_event WHERE id = :id"),
                          {"id": resolved_event.id}).scalar_one()
    assert b"Summary of what was done." not in bytes(raw)
    assert case.resolved_dt is not None and not case.is_open
    _walk(session, world.counsellor, case, "closed")
    assert case.closed_dt is not None and case.resolved_dt is not None
    workflow.move_status(session, world.lead, case.id, "in_progress", reason="It started again",
                         version=case.version)
    assert case.status is CaseStatus.IN_PROGRESS and case.is_open
    assert case.resolved_dt is None and case.closed_dt is None
    entry = session.scalars(select(AuditEntry).where(AuditEntry.case_id == case.id)
                            .order_by(AuditEntry.id.desc())).first()
    assert entry.action == "case.reopened" and entry.actor_id == world.lead.id
    assert entry.detail == {"from": "closed", "to": "in_progress"}
