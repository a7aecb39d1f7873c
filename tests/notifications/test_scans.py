"""The scans, with the clock in the test's hands: escalation ladder, stale cases, digests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.audit import services as audit
from app.audit.models import AuditEntry
from app.cases.deadlines import mark_staff_action
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.vocabulary import CaseStatus
from app.db import utcnow
from app.notifications.models import Notification
from app.notifications import scans
from app.notifications.scans import escalate_due, remind_stale, write_digests
from app.reporting.services import submit_report
from tests.factories import LeadFactory, SchoolFactory, StaffFactory, report_input
from tests.helpers import StatementCounter


def _notes(session, case_id=None, kind=None):  # noqa: ANN001
    query = select(Notification).order_by(Notification.id)
    if case_id is not None:
        query = query.where(Notification.case_id == case_id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return list(session.scalars(query))


def _events(session, case_id):  # noqa: ANN001
    return list(session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id,
                                CaseEvent.kind == EventKind.ESCALATION).order_by(CaseEvent.id)))


def _audits(session, case_id):  # noqa: ANN001
    return list(session.scalars(
        select(AuditEntry).where(AuditEntry.case_id == case_id,
                                 AuditEntry.action == "case.escalated").order_by(AuditEntry.id)))


def _critical_case(session, school, at: datetime) -> Case:  # noqa: ANN001
    return submit_report(session, school, report_input(is_danger=True), now=at).case


def test_an_untouched_critical_case_climbs_each_level_once_at_its_moment(session, staffed):
    t0 = (utcnow() - timedelta(days=10)).replace(microsecond=0)
    case = _critical_case(session, staffed.school, t0)
    counsellors = {c.id for c in staffed.counsellors}
    lead = staffed.leads[0].id

    def escalation_rows():
        return [(n.data["level"], n.recipient_staff_id)
                for n in _notes(session, case.id, "escalation")]

    # A minute before the one-hour deadline: nothing.
    escalate_due(session, now=t0 + timedelta(minutes=59))
    assert escalation_rows() == [] and case.escalation_level == 0

    # Level 1 at the deadline, to every counsellor (the case is unassigned).
    escalate_due(session, now=t0 + timedelta(hours=1))
    assert sorted(escalation_rows()) == sorted((1, c) for c in counsellors)
    assert case.escalation_level == 1
    assert case.next_escalation_dt == t0 + timedelta(hours=1, minutes=30)
    # Recorded on the chronology and in the audit log, by the system.
    [event] = _events(session, case.id)
    assert event.data["level"] == 1 and event.actor_id is None
    assert event.created_dt == t0 + timedelta(hours=1)
    [entry] = _audits(session, case.id)
    assert entry.actor_kind == "system" and entry.detail["level"] == 1

    # The same moment again (a second worker, a re-run): nothing more.
    escalate_due(session, now=t0 + timedelta(hours=1))
    escalate_due(session, now=t0 + timedelta(hours=1, minutes=29))
    assert len(escalation_rows()) == 2 and len(_events(session, case.id)) == 1

    # Level 2 half a window later, to the enabled lead only.
    escalate_due(session, now=t0 + timedelta(hours=1, minutes=30))
    assert escalation_rows()[2:] == [(2, lead)]

    # Level 3 a full window after that: every lead and the school's admin.
    escalate_due(session, now=t0 + timedelta(hours=2, minutes=29))
    assert len(escalation_rows()) == 3
    escalate_due(session, now=t0 + timedelta(hours=2, minutes=30))
    assert sorted(escalation_rows()[3:]) == sorted([(3, lead), (3, staffed.admin.id)])
    assert staffed.disabled_lead.id not in {r for _, r in escalation_rows()}

    # Then the ladder ends.
    assert case.escalation_level == 3 and case.next_escalation_dt is None
    escalate_due(session, now=t0 + timedelta(days=3))
    assert len(escalation_rows()) == 5
    assert [e.data["level"] for e in _events(session, case.id)] == [1, 2, 3]
    assert [a.detail["level"] for a in _audits(session, case.id)] == [1, 2, 3]

    # Each row is keyed by case, level, deadline and recipient, and holds no content.
    stamp = int(case.response_due_dt.timestamp())
    keys = {n.key for n in _notes(session, case.id, "escalation")}
    assert f"escalation:{case.id}:L3:{stamp}:staff:{lead}" in keys
    for note in _notes(session, case.id, "escalation"):
        assert set(note.data) == {"reference", "level"}


def test_acting_on_the_case_stops_the_ladder(session, staffed):
    t0 = (utcnow() - timedelta(days=10)).replace(microsecond=0)
    case = _critical_case(session, staffed.school, t0)
    case.assignee_id = staffed.counsellors[0].id
    session.flush()

    escalate_due(session, now=t0 + timedelta(hours=1))
    # Assigned: level 1 goes to the assignee alone.
    assert [n.recipient_staff_id for n in _notes(session, case.id, "escalation")] == \
        [staffed.counsellors[0].id]

    mark_staff_action(case, t0 + timedelta(hours=1, minutes=10))
    session.flush()
    for minutes in (90, 150, 600):
        escalate_due(session, now=t0 + timedelta(minutes=minutes))

    assert len(_notes(session, case.id, "escalation")) == 1
    assert case.escalation_level == 1 and case.next_escalation_dt is None
    assert len(_events(session, case.id)) == 1


def test_a_closed_case_is_taken_off_the_ladder_without_a_message(session, staffed):
    t0 = (utcnow() - timedelta(days=10)).replace(microsecond=0)
    case = _critical_case(session, staffed.school, t0)
    case.set_status(CaseStatus.CLOSED)
    session.flush()

    escalate_due(session, now=t0 + timedelta(hours=3))

    assert _notes(session, case.id, "escalation") == []
    assert case.next_escalation_dt is None and _events(session, case.id) == []


def test_a_risk_change_restarts_the_ladder_with_new_keys(session, staffed):
    from app.cases.deadlines import start_deadline
    from app.cases.vocabulary import Risk

    t0 = (utcnow() - timedelta(days=10)).replace(microsecond=0)
    case = _critical_case(session, staffed.school, t0)
    escalate_due(session, now=t0 + timedelta(hours=1))
    case.set_risk(Risk.CRITICAL)
    start_deadline(case, staffed.school, t0 + timedelta(hours=1, minutes=5))
    session.flush()

    escalate_due(session, now=t0 + timedelta(hours=2, minutes=5))

    levels = [n.data["level"] for n in _notes(session, case.id, "escalation")]
    assert levels == [1, 1, 1, 1]  # level 1 of the first deadline, then of the new one
    assert len({n.key for n in _notes(session, case.id, "escalation")}) == 4


def test_escalation_scan_looks_only_at_due_cases(session, staffed):
    t0 = (utcnow() - timedelta(days=10)).replace(microsecond=0)
    due = _critical_case(session, staffed.school, t0)
    later = _critical_case(session, staffed.school, t0 + timedelta(hours=5))

    seen = escalate_due(session, now=t0 + timedelta(hours=1))

    assert seen == 1
    assert _notes(session, later.id, "escalation") == []
    assert due.escalation_level == 1


def test_a_batch_of_many_cases_in_two_schools_costs_the_same_statements_as_a_few(
        session, engine, staffed):
    other = SchoolFactory()
    other_counsellor, other_lead = StaffFactory(school=other), LeadFactory(school=other)
    t0 = (utcnow() - timedelta(days=10)).replace(microsecond=0)
    assigned = staffed.counsellors[1]

    def make(n: int) -> list[Case]:
        cases = []
        for i in range(n):
            case = _critical_case(session, staffed.school if i % 2 else other, t0)
            if i == 1:
                case.assignee_id = assigned.id
            cases.append(case)
        session.flush()
        return cases

    few = make(3)
    with StatementCounter(engine) as small:
        assert escalate_due(session, now=t0 + timedelta(hours=1), limit=100) == 3
    many = make(30)
    versions = {case.id: case.version for case in few + many}
    with StatementCounter(engine) as large:
        assert escalate_due(session, now=t0 + timedelta(hours=1), limit=100) == 30

    # The batch's cost does not grow with its size: a fixed set of statements.
    assert len(large.statements) == len(small.statements)
    for case in few + many:
        session.refresh(case)
        assert case.escalation_level == 1
        assert case.version == versions[case.id]  # the ladder is not an edit
        assert case.next_escalation_dt == case.response_due_dt + timedelta(minutes=30)
        recipients = sorted(n.recipient_staff_id for n in _notes(session, case.id, "escalation"))
        if case.school_id == other.id:
            expected = [other_counsellor.id]
        elif case.assignee_id:
            expected = [assigned.id]
        else:
            expected = sorted(c.id for c in staffed.counsellors)
        assert recipients == expected, case.reference
        assert other_lead.id not in recipients
        [event] = _events(session, case.id)
        assert event.data == {"level": 1, "recipients": len(expected)}
        [entry] = _audits(session, case.id)
        assert entry.detail == event.data and entry.actor_kind == "system"
    # Each school's audit chain took its entries in order, unbroken.
    for school in (staffed.school, other):
        check = audit.verify_chain(session, school.id)
        assert check.is_intact, check
    # A second run finds nothing due and writes nothing.
    before = session.execute(select(func.count()).select_from(Notification)).scalar_one()
    assert escalate_due(session, now=t0 + timedelta(minutes=61)) == 0
    assert session.execute(select(func.count()).select_from(Notification)).scalar_one() == before


def test_bulk_outbox_rows_skip_known_keys_and_wake_one_sweep_after_commit(session, staffed):
    from app.notifications import outbox

    sent = []

    class Broker:
        def send_task(self, name, **kwargs):  # noqa: ANN001, ANN003
            sent.append((name, kwargs.get("args")))

    now = utcnow()
    row = {"kind": "escalation", "school_id": staffed.school.id, "data": {"level": 1},
           "recipient_staff_id": staffed.leads[0].id, "created_dt": now, "next_attempt_dt": now}
    assert outbox.queue_notifications(session, [row | {"key": "k:1"}, row | {"key": "k:1"},
                                                row | {"key": "k:2"}]) == 2
    assert outbox.queue_notifications(session, [row | {"key": "k:2"}, row | {"key": "k:3"}]) == 1
    assert [n.key for n in _notes(session, kind="escalation")] == ["k:1", "k:2", "k:3"]

    original = outbox._celery
    outbox._celery = lambda: Broker()
    try:
        session.commit()  # a savepoint here; the after-commit hook runs all the same
    finally:
        outbox._celery = original
    assert sent == [(outbox.DELIVER_DUE_TASK, None)]


# -- stale cases ----------------------------------------------------------------------------
def _at(day: str, hhmm: str = "10:00") -> datetime:
    """A moment in Europe/London in winter (= UTC)."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


def test_a_stale_case_reminds_its_assignee_once_per_idle_period(session):
    school = SchoolFactory(stale_after_days=2)
    counsellor = StaffFactory(school=school)
    lead = LeadFactory(school=school)
    case = submit_report(session, school, report_input(), now=_at("2025-01-06")).case  # Monday
    case.assignee_id = counsellor.id
    session.flush()

    remind_stale(session, now=_at("2025-01-08", "09:59"))  # not yet two school days
    assert _notes(session, case.id, "stale_case") == []

    version = case.version
    remind_stale(session, now=_at("2025-01-08"))
    session.refresh(case)
    # Stamped, without bumping the version (a reminder is not an edit).
    assert case.stale_reminded_dt == _at("2025-01-08") and case.version == version
    # Reminded cases drop out of the scan's rows: nothing of this case is read again.
    unreminded = select(Case.id).where(scans._NOT_REMINDED)
    assert case.id not in set(session.scalars(unreminded))
    remind_stale(session, now=_at("2025-01-09"))  # still idle: no second reminder
    [note] = _notes(session, case.id, "stale_case")
    assert note.recipient_staff_id == counsellor.id
    assert note.data == {"reference": case.reference, "days": 2}
    assert note.key.startswith(f"stale:{case.id}:2025-01-06:")

    # Activity starts a new period; two school days after it (Fri, Mon), a new reminder.
    case.last_activity_dt = _at("2025-01-09", "11:00")
    session.flush()
    remind_stale(session, now=_at("2025-01-13", "10:59"))
    assert len(_notes(session, case.id, "stale_case")) == 1
    assert case.id in set(session.scalars(unreminded))
    remind_stale(session, now=_at("2025-01-13", "11:00"))
    assert len(_notes(session, case.id, "stale_case")) == 2
    assert lead.id not in {n.recipient_staff_id for n in _notes(session, case.id, "stale_case")}


def test_an_unassigned_stale_case_reminds_the_leads_and_closed_cases_are_left_alone(session):
    school = SchoolFactory(stale_after_days=1)
    lead = LeadFactory(school=school)
    open_case = submit_report(session, school, report_input(), now=_at("2025-01-06")).case
    closed = submit_report(session, school, report_input(), now=_at("2025-01-06")).case
    closed.set_status(CaseStatus.CLOSED)
    session.flush()

    remind_stale(session, now=_at("2025-01-10"))

    assert [n.recipient_staff_id for n in _notes(session, open_case.id, "stale_case")] == [lead.id]
    assert _notes(session, closed.id, "stale_case") == []


# -- the morning digest -------------------------------------------------------------------
def test_each_lead_gets_one_digest_per_school_day_after_seven_school_time(session):
    london = SchoolFactory(timezone="Europe/London")
    new_york = SchoolFactory(timezone="America/New_York")
    lead_l, lead_l2 = LeadFactory(school=london), LeadFactory(school=london)
    lead_ny = LeadFactory(school=new_york)
    StaffFactory(school=london)  # counsellors get no digest
    now = datetime(2025, 6, 10, 10, 30, tzinfo=timezone.utc)  # London 11:30, New York 06:30
    # What the London leads should read: 3 new (one critical, and two overdue with one of
    # those escalated), and one case in progress that is fine.
    critical = submit_report(session, london, report_input(is_danger=True),
                             now=now - timedelta(minutes=20)).case
    overdue = submit_report(session, london, report_input(), now=now - timedelta(days=8)).case
    escalated = submit_report(session, london, report_input(), now=now - timedelta(days=9)).case
    escalated.escalation_level = 1
    fine = submit_report(session, london, report_input(), now=now - timedelta(days=1)).case
    fine.set_status(CaseStatus.IN_PROGRESS)
    mark_staff_action(fine, now - timedelta(hours=2))
    session.flush()

    def digests(school):  # noqa: ANN001, ANN202
        return [n for n in _notes(session, kind="digest") if n.school_id == school.id]

    write_digests(session, now=now)
    write_digests(session, now=now + timedelta(minutes=5))

    assert sorted(n.recipient_staff_id for n in digests(london)) == sorted([lead_l.id, lead_l2.id])
    assert digests(new_york) == []
    data = digests(london)[0].data
    assert data == {"new": 3, "critical": 1, "overdue": 2, "escalated": 1, "date": "2025-06-10"}
    assert digests(london)[0].key == f"digest:{london.id}:2025-06-10:staff:{lead_l.id}"
    assert critical.id and overdue.id

    # 07:05 in New York: its lead's digest; London's are not written again.
    write_digests(session, now=datetime(2025, 6, 10, 11, 5, tzinfo=timezone.utc))
    assert [n.recipient_staff_id for n in digests(new_york)] == [lead_ny.id]
    assert len(digests(london)) == 2

    # The next morning, a new one each.
    write_digests(session, now=datetime(2025, 6, 11, 6, 5, tzinfo=timezone.utc))  # London 07:05
    assert len(digests(london)) == 4 and len(digests(new_york)) == 1


@pytest.mark.parametrize("hour", [0, 5, 6])
def test_no_digest_before_seven_school_time(session, hour):
    school = SchoolFactory(timezone="Europe/London")
    LeadFactory(school=school)

    write_digests(session, now=datetime(2025, 1, 15, hour, 59, tzinfo=timezone.utc))

    assert session.execute(select(func.count()).select_from(Notification).where(
        Notification.school_id == school.id)).scalar_one() == 0


def _climb_to_level_3(session, school):  # noqa: ANN001
    t0 = (utcnow() - timedelta(days=10)).replace(microsecond=0)
    case = _critical_case(session, school, t0)
    for minutes in (60, 90, 150):
        escalate_due(session, now=t0 + timedelta(minutes=minutes))
    assert case.escalation_level == 3
    return case, t0


def test_level_3_also_goes_to_the_schools_admin_contact_once(session, staffed):
    staffed.school.admin_contact_email = "head.teacher@school.example"
    case, t0 = _climb_to_level_3(session, staffed.school)
    escalate_due(session, now=t0 + timedelta(days=3))  # again: nothing more

    level_3 = [n for n in _notes(session, case.id, "escalation") if n.data["level"] == 3]
    [contact] = [n for n in level_3 if n.recipient_staff_id is None]
    assert contact.recipient_report_id is None and contact.case_id == case.id
    # The row says where the address is, not the address: it is read when the mail goes.
    assert contact.data == {"reference": case.reference, "level": 3, "to": "admin_contact"}
    assert "head.teacher" not in contact.key
    stamp = int(case.response_due_dt.timestamp())
    assert contact.key == f"escalation:{case.id}:L3:{stamp}:admin_contact"
    assert sorted(n.recipient_staff_id for n in level_3 if n.recipient_staff_id) == sorted(
        [staffed.leads[0].id, staffed.admin.id])
    [event] = [e for e in _events(session, case.id) if e.data["level"] == 3]
    assert event.data["recipients"] == 3
    # Levels 1 and 2 are not the admin contact's.
    assert all(n.recipient_staff_id for n in _notes(session, case.id, "escalation")
               if n.data["level"] < 3)


def test_no_second_level_3_mail_when_the_admin_contact_is_already_a_recipient(session, staffed):
    staffed.school.admin_contact_email = staffed.admin.email.upper()
    case, _ = _climb_to_level_3(session, staffed.school)

    level_3 = [n for n in _notes(session, case.id, "escalation") if n.data["level"] == 3]
    assert sorted(n.recipient_staff_id for n in level_3) == sorted(
        [staffed.leads[0].id, staffed.admin.id])
