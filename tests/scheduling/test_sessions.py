"""Scheduling and the moves of a session, through the service layer."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select, text

from app.audit.models import AuditEntry
from app.audit.services import verify_chain
from app.cases.models import CaseEvent
from app.cases.vocabulary import CaseStatus
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.scheduling import services
from app.scheduling.models import FollowUpSession, SessionKind, SessionMode, SessionStatus
from tests.factories import AdminFactory, SchoolFactory, StaffFactory, make_case
from tests.scheduling.conftest import (NOW, UTC, audit_actions, book, completion, hours,
                                       session_events)


def _count(session, model) -> int:  # noqa: ANN001
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_schedule_stores_utc_and_records_event_audit_and_activity(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 30), minutes=45,
              kind="restorative", mode="video", location="  Library  ")
    session.expire_all()
    stored = session.get(FollowUpSession, fs.id)
    # 10 March is GMT: wall clock equals UTC.
    assert stored.start_dt == datetime(2025, 3, 10, 14, 30, tzinfo=UTC)
    assert stored.end_dt == datetime(2025, 3, 10, 15, 15, tzinfo=UTC)
    assert stored.duration_minutes == 45
    assert (stored.kind, stored.mode) == (SessionKind.RESTORATIVE, SessionMode.VIDEO)
    assert stored.location == "Library"
    assert stored.status is SessionStatus.SCHEDULED
    assert stored.counsellor_id == counsellor.id
    assert session_events(session, case.id) == [
        {"session_id": fs.id, "action": "scheduled", "start": "2025-03-10T14:30:00+00:00"}]
    assert audit_actions(session, case.id)[-1] == "session.scheduled"
    assert stored.case.last_activity_dt == NOW
    assert stored.case.first_response_dt is not None
    assert verify_chain(session, case.school_id).is_intact


def test_summer_time_start_is_stored_an_hour_earlier_in_utc(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 4, 2, 10, 0))
    assert fs.start_dt == datetime(2025, 4, 2, 9, 0, tzinfo=UTC)


def test_session_across_the_spring_clock_change(session, case, counsellor):
    # 23:30 GMT on Saturday 29 March; the clocks go forward at 01:00 UTC that night.
    fs = book(session, counsellor, case, datetime(2025, 3, 29, 23, 30), minutes=120)
    session.expire_all()
    stored = session.get(FollowUpSession, fs.id)
    assert stored.start_dt == datetime(2025, 3, 29, 23, 30, tzinfo=UTC)
    assert stored.end_dt == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    # Two hours of real time: it ends at 02:30 on the London clock, not 01:30.
    assert stored.end_dt.astimezone(case_tz(session, case)).strftime("%H:%M") == "02:30"


def test_session_across_the_autumn_clock_change(session, case, counsellor):
    # 00:30 BST on Sunday 26 October = 23:30 UTC on the 25th; clocks go back at 01:00 UTC.
    fs = book(session, counsellor, case, datetime(2025, 10, 26, 0, 30), minutes=120)
    assert fs.start_dt == datetime(2025, 10, 25, 23, 30, tzinfo=UTC)
    assert fs.end_dt == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert fs.end_dt.astimezone(case_tz(session, case)).strftime("%H:%M") == "01:30"


@pytest.mark.parametrize("local, words", [
    (datetime(2025, 3, 30, 1, 30), "does not exist"),
    (datetime(2025, 10, 26, 1, 30), "happens twice"),
])
def test_times_skipped_or_repeated_by_a_clock_change_are_refused(session, case, counsellor,
                                                                 local, words):
    with pytest.raises(ValidationFailed) as err:
        book(session, counsellor, case, local)
    assert words in err.value.message and err.value.field == "start"
    assert _count(session, FollowUpSession) == 0


def case_tz(session, case):  # noqa: ANN001, ANN201
    from app.schools.models import School

    return session.get(School, case.school_id).tz


def test_past_start_is_refused_and_nothing_is_written(session, case, counsellor):
    before = audit_actions(session)
    with pytest.raises(ValidationFailed) as err:
        book(session, counsellor, case, datetime(2025, 3, 6, 8, 59))
    assert "past" in err.value.message
    assert _count(session, FollowUpSession) == 0
    assert session_events(session, case.id) == []
    assert audit_actions(session) == before


@pytest.mark.parametrize("timezone", ["Europe/London", "Asia/Tokyo", "Pacific/Niue"])
@pytest.mark.parametrize("start,words", [
    (datetime(9999, 12, 31, 23, 30), "two years ahead"),
    (datetime(2100, 1, 1, 10, 0), "two years ahead"),
    (datetime(2027, 3, 8, 10, 0), "two years ahead"),  # NOW is 6 March 2025
    (datetime(1, 1, 1, 0, 30), "past"),
    (datetime(1999, 12, 31, 10, 0), "past"),
])
def test_a_start_years_away_is_refused_and_nothing_is_written(session, school, case, counsellor,
                                                              timezone, start, words):
    school.timezone = timezone  # ahead of and behind UTC: year 1 and year 9999 overflow
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    before = (_count(session, FollowUpSession), session_events(session, case.id),
              audit_actions(session), fs.start_dt)
    for attempt in (lambda: book(session, counsellor, case, start),
                    lambda: services.reschedule_session(
                        session, counsellor, fs.id, services.RescheduleInput(start, 60),
                        now=NOW)):
        with pytest.raises(ValidationFailed, match=words) as err:
            attempt()
        assert err.value.field == "start"
    assert (_count(session, FollowUpSession), session_events(session, case.id),
            audit_actions(session), fs.start_dt) == before


def test_a_session_may_be_booked_up_to_two_years_ahead(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2027, 3, 5, 10, 0))
    assert fs.start_dt == datetime(2027, 3, 5, 10, 0, tzinfo=UTC)


def test_overlap_with_the_same_counsellor_is_refused_but_adjacent_is_allowed(
        session, school, case, counsellor):
    first = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    other_case = make_case(session, school)
    with pytest.raises(ValidationFailed) as err:
        book(session, counsellor, other_case, datetime(2025, 3, 10, 10, 59))
    assert "overlaps" in err.value.message and case.reference in err.value.message
    with pytest.raises(ValidationFailed):
        book(session, counsellor, case, datetime(2025, 3, 10, 9, 30), minutes=31)
    with pytest.raises(ValidationFailed):  # wholly containing it
        book(session, counsellor, case, datetime(2025, 3, 10, 9, 0), minutes=180)
    # Half-open intervals: ending at 10:00 or starting at 11:00 touches but does not overlap.
    before = book(session, counsellor, case, datetime(2025, 3, 10, 9, 0))
    after = book(session, counsellor, other_case, datetime(2025, 3, 10, 11, 0))
    assert {first.id, before.id, after.id} == set(session.execute(
        select(FollowUpSession.id)).scalars())


def test_another_counsellor_may_have_the_same_hour(session, school, case, counsellor, lead):
    book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    theirs = book(session, lead, case, datetime(2025, 3, 10, 10, 0))
    assert theirs.counsellor_id == lead.id


def test_a_cancelled_session_frees_its_time(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    services.cancel_session(session, counsellor, fs.id, now=NOW)
    again = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    assert again.id != fs.id


@pytest.mark.parametrize("field, value, words", [
    ("duration_minutes", 14, "between 15 and 240"),
    ("duration_minutes", 241, "between 15 and 240"),
    ("duration_minutes", "an hour", "whole number of minutes"),
    ("kind", "therapy", "kind of session"),
    ("mode", "carrier pigeon", "way of meeting"),
    ("location", "x" * 121, "under 120"),
    ("start_local", None, "Choose the date and time"),
])
def test_bad_input_is_refused_with_a_message(session, case, counsellor, field, value, words):
    values = {"start_local": datetime(2025, 3, 10, 10, 0), field: value}
    with pytest.raises(ValidationFailed) as err:
        book(session, counsellor, case, **values)
    assert words in err.value.message
    assert _count(session, FollowUpSession) == 0


def test_a_closed_case_cannot_get_new_sessions(session, case, counsellor):
    case.set_status(CaseStatus.RESOLVED)
    with pytest.raises(ValidationFailed) as err:
        book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    assert "resolved" in err.value.message
    assert _count(session, FollowUpSession) == 0


def test_reschedule_moves_the_session_and_excludes_itself_from_the_overlap_check(
        session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    # Thirty minutes later overlaps only itself: allowed.
    services.reschedule_session(
        session, counsellor, fs.id,
        services.RescheduleInput(datetime(2025, 3, 10, 10, 30), 90, "Room 9"), now=NOW)
    assert (fs.start_dt, fs.end_dt) == (datetime(2025, 3, 10, 10, 30, tzinfo=UTC),
                                        datetime(2025, 3, 10, 12, 0, tzinfo=UTC))
    assert fs.location == "Room 9" and fs.status is SessionStatus.SCHEDULED
    assert [e["action"] for e in session_events(session, case.id)] == ["scheduled", "rescheduled"]
    assert audit_actions(session, case.id)[-1] == "session.rescheduled"
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "session.rescheduled")
                            ).scalar_one()
    assert entry.detail["from"] == "2025-03-10T10:00:00+00:00"


def test_reschedule_refuses_overlap_and_past_and_changes_nothing(session, case, counsellor):
    busy = book(session, counsellor, case, datetime(2025, 3, 11, 10, 0))
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    for start in (datetime(2025, 3, 11, 10, 30), datetime(2025, 3, 5, 10, 0)):
        with pytest.raises(ValidationFailed):
            services.reschedule_session(session, counsellor, fs.id,
                                        services.RescheduleInput(start, 60), now=NOW)
    assert fs.start_dt == datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
    assert busy.start_dt == datetime(2025, 3, 11, 10, 0, tzinfo=UTC)
    assert "session.rescheduled" not in audit_actions(session)


def test_cancel_keeps_the_reason_on_the_chronology(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    services.cancel_session(session, counsellor, fs.id, reason="Student is on a trip.",
                            now=NOW + hours(1))
    assert fs.status is SessionStatus.CANCELLED
    event = session.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)
                            .order_by(CaseEvent.id.desc()).limit(1)).scalar_one()
    assert event.data["action"] == "cancelled" and event.body == "Student is on a trip."
    assert audit_actions(session, case.id)[-1] == "session.cancelled"
    assert case.last_activity_dt == NOW + hours(1)


def test_missed_only_after_the_start(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    with pytest.raises(ValidationFailed) as err:
        services.mark_missed(session, counsellor, fs.id, now=NOW)
    assert "not started" in err.value.message and fs.status is SessionStatus.SCHEDULED
    services.mark_missed(session, counsellor, fs.id, now=fs.start_dt + hours(0.5))
    assert fs.status is SessionStatus.MISSED
    assert [e["action"] for e in session_events(session, case.id)] == ["scheduled", "missed"]
    assert audit_actions(session, case.id)[-1] == "session.missed"


def test_complete_records_notes_scores_and_totals(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    done_at = fs.start_dt + hours(1)
    services.complete_session(session, counsellor, fs.id,
                              completion(outcome=(0, 10, "7", " 3 "), rating=(10, 9, 8, 7)),
                              now=done_at)
    session.expire_all()
    stored = services.get_session(session, counsellor, fs.id, with_notes=True)
    assert stored.status is SessionStatus.COMPLETED and stored.completed_dt == done_at
    assert stored.outcome_scores == [0, 10, 7, 3] and stored.outcome_total == 20
    assert stored.session_scores == [10, 9, 8, 7] and stored.session_total == 34
    assert stored.notes == "Talked about lunchtimes."
    assert stored.strategies == "Sit with friends; tell a teacher."
    assert audit_actions(session, case.id)[-1] == "session.completed"
    # Notes are encrypted at rest: the raw column holds no plain text.
    raw = session.execute(text("SELECT notes FROM follow_up_session WHERE id = :id"),
                          {"id": fs.id}).scalar_one()
    assert b"lunchtimes" not in bytes(raw)


def test_complete_before_the_start_is_refused(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    with pytest.raises(ValidationFailed) as err:
        services.complete_session(session, counsellor, fs.id, completion(),
                                  now=fs.start_dt - hours(0.1))
    assert "not started" in err.value.message
    assert fs.status is SessionStatus.SCHEDULED


@pytest.mark.parametrize("outcome, rating, field, words", [
    ((-1, 5, 5, 5), (5, 5, 5, 5), "outcome_1", "from 0 to 10"),
    ((5, 5, 5, 5), (5, 11, 5, 5), "session_2", "from 0 to 10"),
    ((5, 5, 5.5, 5), (5, 5, 5, 5), "outcome_3", "whole number"),
    ((5, 5, 5, "seven"), (5, 5, 5, 5), "outcome_4", "whole number"),
    ((5, 5, 5, "-1"), (5, 5, 5, 5), "outcome_4", "whole number"),
    ((5, 5, 5), (5, 5, 5, 5), "outcome_4", "give a rating"),
    ((5, 5, 5, 5), (5, "", 5, 5), "session_2", "give a rating"),
    ((5, 5, 5, 5), (5, 5, 5, 5, 5), "session_1", "exactly 4"),
    ((True, 5, 5, 5), (5, 5, 5, 5), "outcome_1", "whole number"),
])
def test_scores_out_of_range_or_missing_are_refused_and_nothing_changes(
        session, case, counsellor, outcome, rating, field, words):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    audit_before = audit_actions(session)
    with pytest.raises(ValidationFailed) as err:
        services.complete_session(session, counsellor, fs.id,
                                  completion(outcome=outcome, rating=rating),
                                  now=fs.start_dt + hours(1))
    assert err.value.field == field and words in err.value.message
    assert fs.status is SessionStatus.SCHEDULED
    assert fs.outcome_scores is None and fs.outcome_total is None and fs.completed_dt is None
    session.flush()
    assert session.execute(select(FollowUpSession.status).where(FollowUpSession.id == fs.id)
                           ).scalar_one() is SessionStatus.SCHEDULED
    assert audit_actions(session) == audit_before


def test_the_error_names_the_item_by_the_schools_label(session, school, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    with pytest.raises(ValidationFailed) as err:
        services.complete_session(session, counsellor, fs.id, completion(outcome=(5, 12, 5, 5)),
                                  now=fs.start_dt + hours(1))
    assert school.outcome_labels[1] in err.value.message


def test_notes_are_required_to_complete(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    with pytest.raises(ValidationFailed) as err:
        services.complete_session(session, counsellor, fs.id, completion(notes="  "),
                                  now=fs.start_dt + hours(1))
    assert err.value.field == "notes"


@pytest.mark.parametrize("finish", ["complete", "cancel", "missed"])
def test_a_finished_session_cannot_change_status_again(session, case, counsellor, finish):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    later = fs.start_dt + hours(2)
    moves = {
        "complete": lambda: services.complete_session(session, counsellor, fs.id, completion(),
                                                      now=later),
        "cancel": lambda: services.cancel_session(session, counsellor, fs.id, now=later),
        "missed": lambda: services.mark_missed(session, counsellor, fs.id, now=later),
        "reschedule": lambda: services.reschedule_session(
            session, counsellor, fs.id, services.RescheduleInput(datetime(2025, 3, 20, 10), 60),
            now=later),
    }
    moves[finish]()
    final = fs.status
    for name, move in moves.items():
        with pytest.raises(Conflict) as err:
            move()
        assert "already" in err.value.message and final.label.lower() in err.value.message
    assert fs.status is final
    assert len(session_events(session, case.id)) == 2


# -- who may -----------------------------------------------------------------------------
def test_admin_without_casework_role_is_forbidden(session, school, case):
    admin = AdminFactory(school=school)
    with pytest.raises(Forbidden):
        book(session, admin, case, datetime(2025, 3, 10, 10, 0))
    with pytest.raises(Forbidden):
        services.my_week(session, admin, None, now=NOW)


def test_another_schools_case_or_session_is_not_found(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    outsider = StaffFactory(school=SchoolFactory())
    with pytest.raises(NotFound):
        book(session, outsider, case, datetime(2025, 3, 10, 12, 0))
    with pytest.raises(NotFound):
        services.cancel_session(session, outsider, fs.id, now=NOW)
    with pytest.raises(NotFound):
        services.get_session(session, outsider, fs.id)
    assert fs.status is SessionStatus.SCHEDULED


def test_counsellor_cannot_schedule_on_a_case_assigned_to_someone_else(session, school, case):
    colleague = StaffFactory(school=school)
    with pytest.raises(Forbidden) as err:
        book(session, colleague, case, datetime(2025, 3, 10, 10, 0))
    assert "assigned to someone else" in err.value.message
    assert _count(session, FollowUpSession) == 0


def test_counsellor_cannot_move_a_session_on_someone_elses_case(session, school, case,
                                                                 counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 10, 0))
    colleague = StaffFactory(school=school)
    with pytest.raises(Forbidden):
        services.cancel_session(session, colleague, fs.id, now=NOW)
    assert fs.status is SessionStatus.SCHEDULED


def test_lead_may_schedule_for_another_counsellor_but_a_counsellor_may_not(
        session, school, case, counsellor, lead):
    colleague = StaffFactory(school=school)
    fs = book(session, lead, case, datetime(2025, 3, 10, 10, 0), counsellor_id=counsellor.id)
    assert fs.counsellor_id == counsellor.id
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "session.scheduled")
                            ).scalar_one()
    assert entry.actor_id == lead.id and entry.detail["counsellor_id"] == counsellor.id
    # The counsellor's own time is now taken, whoever booked it.
    with pytest.raises(ValidationFailed):
        book(session, counsellor, case, datetime(2025, 3, 10, 10, 30))
    with pytest.raises(Forbidden):
        book(session, counsellor, case, datetime(2025, 3, 10, 12, 0), counsellor_id=colleague.id)
    outsider = StaffFactory(school=SchoolFactory())
    with pytest.raises(ValidationFailed) as err:
        book(session, lead, case, datetime(2025, 3, 10, 12, 0), counsellor_id=outsider.id)
    assert err.value.field == "counsellor_id"


def test_the_sessions_own_counsellor_may_record_it_on_a_case_assigned_to_another(
        session, school, case, counsellor, lead):
    colleague = StaffFactory(school=school)
    fs = book(session, lead, case, datetime(2025, 3, 10, 10, 0), counsellor_id=colleague.id)
    services.complete_session(session, colleague, fs.id, completion(),
                              now=fs.start_dt + hours(1))
    assert fs.status is SessionStatus.COMPLETED

