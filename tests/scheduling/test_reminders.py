"""Session reminders: outbox rows written in the same transaction as the session."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.notifications.models import NotificationStatus
from app.scheduling import services
from tests.factories import make_case
from tests.scheduling.conftest import NOW, UTC, book, hours, reminders


def test_scheduling_queues_exactly_the_24h_and_1h_reminders(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))
    start = datetime(2025, 3, 10, 14, 0, tzinfo=UTC)
    rows = reminders(session)
    assert [(r.next_attempt_dt, r.data["lead"]) for r in rows] == [
        (start - hours(24), "24h"), (start - hours(1), "1h")]
    stamp = int(start.timestamp())
    assert [r.key for r in rows] == [f"session_reminder:{fs.id}:24h:{stamp}",
                                     f"session_reminder:{fs.id}:1h:{stamp}"]
    for row in rows:
        assert row.recipient_staff_id == counsellor.id and row.case_id == case.id
        assert row.school_id == case.school_id
        assert row.status is NotificationStatus.PENDING
        assert row.data == {"reference": case.reference, "session_id": fs.id,
                            "start": start.isoformat(), "lead": row.data["lead"]}
    # No reporter gave an address: nothing for reporters.
    assert reminders(session, "session_reminder_reporter") == []


def test_reminders_whose_time_has_passed_are_skipped(session, case, counsellor):
    # Starts in 3 hours: the 24-hour reminder is already late, the 1-hour one is not.
    book(session, counsellor, case, datetime(2025, 3, 6, 12, 0))
    assert [r.data["lead"] for r in reminders(session)] == ["1h"]
    # Starts in 30 minutes: neither.
    book(session, counsellor, case, datetime(2025, 3, 6, 9, 30), minutes=15)
    assert [r.data["lead"] for r in reminders(session)] == ["1h"]


def test_reschedule_replaces_the_pending_reminders(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))
    old_keys = {r.key for r in reminders(session)}
    services.reschedule_session(session, counsellor, fs.id,
                                services.RescheduleInput(datetime(2025, 3, 12, 9, 0), 60),
                                now=NOW)
    rows = reminders(session)
    new_start = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)
    assert [r.next_attempt_dt for r in rows] == [new_start - hours(24), new_start - hours(1)]
    assert not old_keys & {r.key for r in rows}
    assert all(r.data["start"] == new_start.isoformat() for r in rows)


def test_reschedule_keeps_a_reminder_that_was_already_sent(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))
    sent = reminders(session)[0]
    sent.status = NotificationStatus.SENT
    session.flush()
    services.reschedule_session(session, counsellor, fs.id,
                                services.RescheduleInput(datetime(2025, 3, 12, 9, 0), 60),
                                now=NOW + hours(1))
    rows = reminders(session)
    assert sent.id in {r.id for r in rows}
    assert sum(r.status is NotificationStatus.PENDING for r in rows) == 2


def test_cancel_and_missed_delete_pending_reminders_of_that_session_only(session, school, case,
                                                                          counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))
    other = book(session, counsellor, make_case(session, school), datetime(2025, 3, 11, 14, 0))
    services.cancel_session(session, counsellor, fs.id, now=NOW)
    assert {r.data["session_id"] for r in reminders(session)} == {other.id}
    services.mark_missed(session, counsellor, other.id, now=other.start_dt + hours(0.25))
    assert reminders(session) == []


def test_completing_drops_a_reminder_still_waiting(session, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))
    from tests.scheduling.conftest import completion

    services.complete_session(session, counsellor, fs.id, completion(),
                              now=fs.start_dt + hours(1))
    assert reminders(session) == []


def _confidential_case(session, school, role="target", email="pupil@example.org"):  # noqa: ANN001
    from app.reporting.models import Report
    from app.reporting.services import set_reply_email, submit_report
    from tests.factories import report_input

    submitted = submit_report(session, school, report_input(
        is_anonymous=False, reporter_name="Zephyrine Quillfeather", reporter_role=role),
        now=NOW)
    if email:
        set_reply_email(session, submitted.report, email)
    session.flush()
    return submitted.case, session.get(Report, submitted.report.id)


def test_a_confidential_reporter_with_an_address_gets_a_reminder_without_details(
        session, school, counsellor):
    case, report = _confidential_case(session, school)
    case.assignee_id = counsellor.id
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 0), kind="target_check_in")
    rows = reminders(session, "session_reminder_reporter")
    assert [r.data["lead"] for r in rows] == ["24h", "1h"]
    for row in rows:
        assert row.recipient_report_id == report.id and row.recipient_staff_id is None
        assert set(row.data) == {"session_id", "start", "lead"}
        assert row.key.startswith(f"session_reminder_reporter:{fs.id}:")
    services.cancel_session(session, counsellor, fs.id, now=NOW)
    assert reminders(session, "session_reminder_reporter") == []


def test_no_reporter_reminder_for_a_session_they_would_not_attend(session, school, counsellor):
    case, _ = _confidential_case(session, school)
    case.assignee_id = counsellor.id
    book(session, counsellor, case, datetime(2025, 3, 10, 14, 0), kind="perpetrator_support")
    assert reminders(session, "session_reminder_reporter") == []
    assert len(reminders(session)) == 2


def test_no_reporter_reminder_without_an_address(session, school, counsellor):
    case, _ = _confidential_case(session, school, email=None)
    case.assignee_id = counsellor.id
    book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))
    assert reminders(session, "session_reminder_reporter") == []



def _merge(session, counsellor, case, into):  # noqa: ANN001
    from app.cases import merging

    merging.merge_cases(session, counsellor, case.id, into.reference, version=case.version)
    session.flush()
    session.expire_all()  # what comes next is another request


def test_a_merge_moves_the_reminders_with_the_session(session, school, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))
    into = make_case(session, school)
    _merge(session, counsellor, case, into)

    rows = reminders(session)
    assert fs.case_id == into.id
    assert [r.case_id for r in rows] == [into.id, into.id]


def test_rescheduling_a_merged_session_replaces_its_reminders(session, school, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))
    _merge(session, counsellor, case, make_case(session, school))

    services.reschedule_session(session, counsellor, fs.id,
                                services.RescheduleInput(datetime(2025, 3, 12, 9, 0), 60),
                                now=NOW)

    new_start = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)
    rows = reminders(session)
    assert [r.next_attempt_dt for r in rows] == [new_start - hours(24), new_start - hours(1)]
    assert all(r.data["start"] == new_start.isoformat() for r in rows)


def test_cancelling_a_merged_session_drops_its_reminders(session, school, case, counsellor):
    fs = book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))
    _merge(session, counsellor, case, make_case(session, school))

    services.cancel_session(session, counsellor, fs.id, now=NOW)

    assert reminders(session) == []


def _second_report(session, school, case, *, role="target", anonymous=False,  # noqa: ANN001
                   email="other.pupil@example.org"):
    """Another student's report linked into ``case`` (as a lead or counsellor does)."""
    from app.cases import merging
    from app.reporting.models import Report
    from app.reporting.services import set_reply_email, submit_report
    from tests.factories import report_input

    submitted = submit_report(session, school, report_input(
        is_anonymous=anonymous, reporter_name=None if anonymous else "Ottoline Marsh",
        reporter_role=role), now=NOW)
    if email:
        set_reply_email(session, submitted.report, email)
    session.flush()
    other = submitted.case
    merging.merge_cases(session, case.assignee, other.id, case.reference, version=other.version)
    session.flush()
    session.expire_all()
    return session.get(Report, submitted.report_id)


@pytest.mark.parametrize("kind", ["target_check_in", "restorative"])
def test_with_two_targets_reporting_neither_is_reminded_of_a_session_that_names_neither(
        session, school, counsellor, kind):
    case, first = _confidential_case(session, school)
    case.assignee_id = counsellor.id
    second = _second_report(session, school, case)
    assert {r.case_id for r in (first, second)} == {case.id}

    book(session, counsellor, case, datetime(2025, 3, 10, 14, 0), kind=kind)

    # A session names no reporter: a reminder could tell one student of another's meeting.
    assert reminders(session, "session_reminder_reporter") == []
    assert len(reminders(session)) == 2  # the counsellor is still reminded


def test_an_anonymous_second_target_makes_the_session_just_as_uncertain(session, school,
                                                                          counsellor):
    case, _ = _confidential_case(session, school)
    case.assignee_id = counsellor.id
    _second_report(session, school, case, anonymous=True, email=None)

    book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))

    assert reminders(session, "session_reminder_reporter") == []


def test_a_bystanders_report_leaves_the_target_the_only_one_a_check_in_can_be_with(
        session, school, counsellor):
    case, target = _confidential_case(session, school)
    case.assignee_id = counsellor.id
    _second_report(session, school, case, role="bystander")

    book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))

    assert {r.recipient_report_id for r in reminders(session, "session_reminder_reporter")} == {
        target.id}


def test_no_reporter_reminder_when_the_case_records_several_targets(session, school, counsellor):
    from app.cases.people import PersonInput, record_person

    case, _ = _confidential_case(session, school)
    case.assignee_id = counsellor.id
    session.flush()
    for name in ("Zephyrine Quillfeather", "Bartholomew Nightingale"):
        record_person(session, counsellor, case.id,
                      PersonInput(kind="student", role="target", name=name),
                      version=case.version, now=NOW)

    book(session, counsellor, case, datetime(2025, 3, 10, 14, 0))

    assert reminders(session, "session_reminder_reporter") == []
