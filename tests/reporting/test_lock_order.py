"""Staff rows are locked before a school's audit chain, by every writer (PostgreSQL).

A writer that locks a staff row and then appends to the chain (a calendar feed made,
a session booked) used to deadlock with a critical report or a reporter's message:
those took the chain lock, then wrote a notification naming that staff member, whose
foreign-key check waits for the staff row. One of the two was lost with a 500.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.auth.models import CaseRole, StaffUser
from app.cases import workflow
from app.cases.models import Case
from app.extensions import db
from app.notifications.models import Notification
from app.reporting import services as reporting
from app.reporting.models import Report
from app.schools.models import School
from tests.conftest import throwaway_app
from tests.factories import _password_hash, report_input


def _critical_report(s: Session, school_id: int, staff_id: int) -> None:  # noqa: ARG001
    reporting.submit_report(s, s.get(School, school_id), report_input(is_danger=True))


def _reporter_message(s: Session, school_id: int, staff_id: int) -> None:  # noqa: ARG001
    report = s.scalars(select(Report).where(Report.school_id == school_id)).first()
    reporting.send_reporter_message(s, report, "Is anyone there?")


def _risk_raised_to_critical(s: Session, school_id: int, staff_id: int) -> None:  # noqa: ARG001
    # Another lead acts: the alert is the only row naming the lead whose row is locked.
    actor = s.scalars(select(StaffUser).where(StaffUser.email == "other@example.org")).one()
    case = s.scalars(select(Case).where(Case.school_id == school_id)).first()
    workflow.set_risk(s, actor, case.id, "critical",
                      reason="They said they are not safe at home.", version=case.version)


def _school_with_lead(engine, slug: str) -> tuple[int, int]:  # noqa: ANN001
    """A committed school with one lead (lead@example.org); their ids."""
    with Session(engine) as s:
        school = School(slug=slug, name=f"{slug.title()} Academy")
        s.add(school)
        s.flush()
        lead = StaffUser(school_id=school.id, email="lead@example.org", name="Lead",
                         password_hash=_password_hash(), case_role=CaseRole.LEAD)
        s.add(lead)
        s.commit()
        return school.id, lead.id


@pytest.mark.parametrize("write", [_critical_report, _reporter_message, _risk_raised_to_critical])
def test_a_writer_holding_a_staff_row_and_a_notification_for_that_person_both_finish(
        backends, write):
    if not backends.has_postgres:
        pytest.skip("the row locks that could deadlock here are PostgreSQL's")
    with throwaway_app(backends, f"lock_order_{write.__name__.strip('_')}"):
        engine = db.engine
        school_id, lead_id = _school_with_lead(engine, "locks")
        with Session(engine) as s:
            school = s.get(School, school_id)
            s.add(StaffUser(school_id=school_id, email="other@example.org", name="Other lead",
                            password_hash=_password_hash(), case_role=CaseRole.LEAD))
            first = reporting.submit_report(s, school, report_input())
            s.get(Case, first.case_id).assignee_id = lead_id
            s.commit()
        outcome: dict[str, str] = {}
        row_locked = threading.Event()

        def make_feed() -> None:
            # As scheduling.feed.create_feed: the token column changes (a strong row lock),
            # then the chain; the pause lets the other writer take the chain lock first.
            try:
                with Session(engine) as s:
                    s.get(StaffUser, lead_id).ical_token_digest = "f" * 64
                    s.flush()
                    row_locked.set()
                    time.sleep(0.5)
                    audit.record(s, "calendar.feed_created", school_id=school_id,
                                 actor_id=lead_id, target=f"staff:{lead_id}")
                    s.commit()
                    outcome["feed"] = "ok"
            except Exception as exc:  # noqa: BLE001
                outcome["feed"] = type(exc).__name__

        def notify() -> None:
            row_locked.wait(10)
            try:
                with Session(engine) as s:
                    write(s, school_id, lead_id)
                    s.commit()
                    outcome["notify"] = "ok"
            except Exception as exc:  # noqa: BLE001
                outcome["notify"] = type(exc).__name__

        threads = [threading.Thread(target=make_feed), threading.Thread(target=notify)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

        assert outcome == {"feed": "ok", "notify": "ok"}
        with Session(engine) as s:
            assert s.scalar(select(Notification.id).where(
                Notification.recipient_staff_id == lead_id)) is not None
            assert audit.verify_chain(s, school_id).is_intact


def test_a_critical_report_does_not_wait_for_a_session_being_booked_with_its_lead(backends):
    """The leads' rows are held as the alerts' foreign keys will (FOR KEY SHARE), no more:
    booking a session locks the counsellor FOR NO KEY UPDATE, which must not hold up a
    report (nor a lead's sign-in, which updates the row) for the length of a booking."""
    if not backends.has_postgres:
        pytest.skip("the row locks compared here are PostgreSQL's")
    with throwaway_app(backends, "lock_strength"):
        engine = db.engine
        school_id, lead_id = _school_with_lead(engine, "strength")
        booking = Session(engine)
        booking.execute(select(StaffUser.id).where(StaffUser.id == lead_id)
                        .with_for_update(key_share=True))  # as scheduling's _check_free
        outcome: dict[str, str] = {}

        def report() -> None:
            with Session(engine) as s:
                _critical_report(s, school_id, lead_id)
                s.commit()
                outcome["report"] = "ok"

        thread = threading.Thread(target=report)
        thread.start()
        thread.join(10)
        stored_while_booking = outcome.get("report")
        booking.rollback()
        booking.close()
        thread.join(10)

        assert stored_while_booking == "ok"
        with Session(engine) as s:
            assert s.scalar(select(Notification.recipient_staff_id).where(
                Notification.kind == "critical_alert")) == lead_id
