"""Delivering the outbox to a real SMTP server on loopback: once, with retries, never PII."""

from __future__ import annotations

import random
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, update

from app.db import utcnow
from app.notifications import delivery
from app.notifications.delivery import (
    DeliverySettings,
    Outcome,
    backoff,
    claim_due,
    deliver_due,
    deliver_one,
)
from app.notifications.mail import Mailer, list_kept_mail, message_id_for, read_kept_mail
from app.notifications.models import Notification, NotificationStatus
from app.notifications.outbox import queue_notification
from app.reporting.services import set_reply_email, submit_report
from tests.factories import report_input
from tests.notifications.smtp_sink import SmtpSink, free_port

DETAILS = "Jordan Mackintosh keeps posting my photo in the year 9 group chat"


def _queue(session, staffed, key: str, *, kind="critical_alert", case=None,  # noqa: ANN001
           **extra):
    note = queue_notification(
        session, key=key, kind=kind, school_id=staffed.school.id,
        recipient_staff_id=extra.pop("recipient_staff_id", staffed.leads[0].id),
        case_id=case.id if case else None,
        data=extra.pop("data", {"reference": case.reference} if case else {}), **extra)
    session.flush()
    return note


@pytest.fixture
def case(session, staffed):
    return submit_report(session, staffed.school, report_input(details=DETAILS)).case


def test_due_notifications_are_sent_once_as_text_and_html_with_a_key_derived_message_id(
        app, session, staffed, case, sink, mail_config):
    note = _queue(session, staffed, f"test:{case.id}:a", case=case)
    later = _queue(session, staffed, f"test:{case.id}:later", case=case,
                   send_at=utcnow() + timedelta(hours=1))
    # The report's own critical alerts are due too: sent in the same sweep.
    alerts = list(session.scalars(select(Notification).where(
        Notification.case_id == case.id, Notification.key.like("critical_alert:%"))))

    with app.app_context():
        stats = deliver_due(session, mail_config)
        again = deliver_due(session, mail_config)

    assert stats.sent == 1 + len(alerts) and again.sent == 0
    mine = [m for m in sink.messages() if m.message_id == message_id_for(note.key)]
    assert len(mine) == 1
    assert message_id_for(note.key) == message_id_for(note.key)  # stable: a repeat is recognisable
    assert len(sink.ids()) == len(set(sink.ids())) == 1 + len(alerts)
    msg = BytesParser(policy=policy.default).parsebytes(mine[0].raw)
    assert mine[0].rcpt == (staffed.leads[0].email,)
    assert msg["From"] == "Safe Report <alerts@school.example>"
    assert case.reference in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert f"https://safe-report.example/staff/cases/{case.id}" in text
    assert f'href="https://safe-report.example/staff/cases/{case.id}"' in html
    for part in (msg["Subject"], text, html):
        assert "Jordan" not in part and "photo" not in part
    session.refresh(note)
    session.refresh(later)
    assert note.status is NotificationStatus.SENT and note.sent_dt is not None
    assert note.attempts == 1 and note.last_error is None
    assert later.status is NotificationStatus.PENDING and later.attempts == 0


def test_deliver_one_skips_a_row_already_sent_or_not_yet_due(app, session, staffed, case, sink,
                                                             mail_config):
    note = _queue(session, staffed, f"test:{case.id}:once", case=case)
    future = _queue(session, staffed, f"test:{case.id}:future", case=case,
                    send_at=utcnow() + timedelta(minutes=30))

    with app.app_context():
        first = deliver_one(session, note.id, mail_config)
        second = deliver_one(session, note.id, mail_config)
        early = deliver_one(session, future.id, mail_config)

    assert (first, second, early) == (Outcome.SENT, Outcome.SKIPPED, Outcome.SKIPPED)
    assert sink.count({message_id_for(note.key)}) == 1
    assert sink.count({message_id_for(future.key)}) == 0


def test_a_claimed_row_is_not_claimed_again_until_its_lease_runs_out(session, staffed, case):
    note = _queue(session, staffed, f"test:{case.id}:lease", case=case)
    now = utcnow()
    lease = timedelta(minutes=2)

    first = claim_due(session, now=now, lease=lease, limit=1000)
    second = claim_due(session, now=now + timedelta(seconds=119), lease=lease, limit=1000)
    after = claim_due(session, now=now + timedelta(seconds=121), lease=lease, limit=1000)

    assert note.id in first and note.id not in second and note.id in after
    session.refresh(note)
    assert note.attempts == 2


def test_smtp_errors_back_off_exponentially_and_record_why(app, session, staffed, case,
                                                         mail_config):
    config = {**mail_config, "MAIL_PORT": free_port()}  # nobody listens: connection refused
    note = _queue(session, staffed, f"test:{case.id}:down", case=case)
    session.execute(update(Notification).where(Notification.id != note.id)
                    .values(status=NotificationStatus.SENT))
    waits = []
    with app.app_context():
        for _ in range(3):
            before = utcnow()
            stats = deliver_due(session, config)
            session.refresh(note)
            waits.append((note.next_attempt_dt - before).total_seconds())
            # Make it due again, as time passing would.
            note.next_attempt_dt = utcnow() - timedelta(seconds=1)
            session.flush()

    assert stats.counts[Outcome.RETRY] == 1
    # Base 10 s, doubled each try, half of it jittered: [5, 10], [10, 20], [20, 40].
    assert 5 <= waits[0] <= 10.5 and 10 <= waits[1] <= 20.5 and 20 <= waits[2] <= 40.5
    session.refresh(note)
    assert note.status is NotificationStatus.PENDING and note.attempts == 3
    assert note.last_error == "ConnectionRefusedError: could not reach the mail server"
    assert note.data == {"reference": case.reference,
                         delivery.FAILING_SINCE: note.data[delivery.FAILING_SINCE]}


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(5)
    base = timedelta(seconds=30)

    waits = [backoff(n, base, rng=rng).total_seconds() for n in range(1, 12)]

    for n, wait in enumerate(waits, start=1):
        full = min(3600, 30 * 2 ** (n - 1))
        assert full / 2 <= wait <= full
    assert len(set(waits)) == len(waits)  # jittered: retries after an outage spread out


def test_a_disabled_or_deleted_recipient_fails_at_once_with_a_reason(app, session, staffed, case,
                                                                    sink, mail_config):
    staffed.counsellors[0].is_enabled = False
    to_disabled = _queue(session, staffed, f"test:{case.id}:disabled", case=case,
                         recipient_staff_id=staffed.counsellors[0].id)
    report = case.reports[0]
    reply = queue_notification(session, key=f"test:{case.id}:reply", kind="reply_available",
                               school_id=staffed.school.id, recipient_report_id=report.id,
                               case_id=case.id)
    session.flush()

    with app.app_context():
        deliver_due(session, mail_config)

    session.refresh(to_disabled)
    session.refresh(reply)
    assert (to_disabled.status, to_disabled.last_error) == (NotificationStatus.FAILED,
                                                            "staff account disabled")
    assert (reply.status, reply.last_error) == (NotificationStatus.FAILED, "reply address deleted")
    assert to_disabled.attempts == 1
    assert sink.count({message_id_for(to_disabled.key), message_id_for(reply.key)}) == 0


def test_a_reporter_hears_only_that_a_reply_is_waiting(app, session, staffed, sink, mail_config):
    submitted = submit_report(session, staffed.school, report_input(
        details=DETAILS, is_anonymous=False, reporter_name="Priya Okonkwo", year_group=9,
        contact="form 9B"))
    set_reply_email(session, submitted.report, "priya.reporter@example.net")
    note = queue_notification(session, key="test:reply:1", kind="reply_available",
                              school_id=staffed.school.id,
                              recipient_report_id=submitted.report.id,
                              case_id=submitted.case.id)
    session.flush()

    with app.app_context():
        assert deliver_one(session, note.id, mail_config) == Outcome.SENT

    [received] = [m for m in sink.messages() if m.message_id == message_id_for(note.key)]
    assert received.rcpt == ("priya.reporter@example.net",)
    msg = received.message
    assert msg["Subject"] == "You have a reply"
    everything = "\n".join(received.texts())
    for secret in ("Priya", "Okonkwo", "Jordan", "photo", submitted.case.reference,
                   staffed.school.name, submitted.case_key):
        assert secret not in everything
    assert f"https://safe-report.example/s/{staffed.school.slug}/check" in everything


def test_without_a_mail_server_mail_is_kept_as_eml_files(app, session, staffed, case, tmp_path,
                                                         mail_config):
    config = {**mail_config, "MAIL_SERVER": None, "MAIL_OUTBOX_DIR": tmp_path}
    note = _queue(session, staffed, f"test:{case.id}:kept", case=case)

    with app.app_context():
        deliver_one(session, note.id, config)

    [kept] = list_kept_mail(tmp_path)
    assert kept.message_id == message_id_for(note.key)
    assert kept.to == staffed.leads[0].email and case.reference in kept.subject
    found = read_kept_mail(tmp_path, kept.name)
    assert found is not None and f"/staff/cases/{case.id}" in found[1]
    assert read_kept_mail(tmp_path, "../" + kept.name) is None
    session.refresh(note)
    assert note.status is NotificationStatus.SENT


def test_settings_come_from_the_config():
    settings = DeliverySettings.from_config({"NOTIFICATION_RETRY_HOURS": 5,
                                             "NOTIFICATION_LEASE_SECONDS": 7,
                                             "NOTIFICATION_RETRY_BASE_SECONDS": 2,
                                             "NOTIFICATION_BATCH_SIZE": 3})

    assert settings == DeliverySettings(timedelta(hours=5), timedelta(seconds=7),
                                        timedelta(seconds=2), 3)
    assert delivery.DeliverySettings.from_config({}).retry_for == timedelta(hours=24)


def test_a_row_that_breaks_while_sending_is_retried_later_and_does_not_stop_the_others(
        app, session, staffed, case, sink, mail_config, monkeypatch):
    broken = _queue(session, staffed, f"test:{case.id}:broken", case=case, kind="digest")
    fine = _queue(session, staffed, f"test:{case.id}:fine", case=case)
    real_compose = delivery.compose

    def compose(session_, row, config, *, now):  # noqa: ANN001, ANN202
        if row.note.id == broken.id:
            raise KeyError("new")
        return real_compose(session_, row, config, now=now)

    monkeypatch.setattr(delivery, "compose", compose)
    with app.app_context():
        stats = deliver_due(session, mail_config)

    assert stats.counts[Outcome.RETRY] == 1
    assert sink.count({message_id_for(fine.key)}) == 1
    session.refresh(broken)
    assert broken.status is NotificationStatus.PENDING
    assert broken.last_error == "KeyError: unexpected error while sending"
    assert broken.next_attempt_dt > utcnow()


def test_a_level_3_escalation_reaches_the_admin_contact_address_read_at_sending(
        app, session, staffed, case, sink, mail_config):
    staffed.school.admin_contact_email = "old.head@school.example"
    note = queue_notification(session, key=f"test:{case.id}:admin_contact", kind="escalation",
                              school_id=staffed.school.id, case_id=case.id,
                              data={"reference": case.reference, "level": 3,
                                    "to": "admin_contact"})
    staffed.school.admin_contact_email = "head@school.example"  # changed before sending
    session.flush()

    with app.app_context():
        assert deliver_one(session, note.id, mail_config) == Outcome.SENT

    [received] = [m for m in sink.messages() if m.message_id == message_id_for(note.key)]
    assert received.rcpt == ("head@school.example",)
    assert received.message["Subject"].startswith(f"Level 3: case {case.reference}")
    everything = "\n".join(received.texts())
    assert "Jordan" not in everything and "photo" not in everything


def test_an_admin_contact_mail_fails_with_a_reason_once_the_address_is_removed(
        app, session, staffed, case, sink, mail_config):
    note = queue_notification(session, key=f"test:{case.id}:no_contact", kind="escalation",
                              school_id=staffed.school.id, case_id=case.id,
                              data={"reference": case.reference, "level": 3,
                                    "to": "admin_contact"})
    session.flush()

    with app.app_context():
        assert deliver_one(session, note.id, mail_config) == Outcome.FAILED

    session.refresh(note)
    assert note.last_error == "admin contact address removed"
    assert sink.count({message_id_for(note.key)}) == 0


def _booked(session, staffed, case):  # noqa: ANN001
    """A session three days from now on ``case``, booked through the service, with reminders."""
    from zoneinfo import ZoneInfo

    from app.scheduling import services as scheduling

    start = (utcnow() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    local = start.astimezone(ZoneInfo(staffed.school.timezone)).replace(tzinfo=None)
    fs = scheduling.schedule_session(session, staffed.counsellors[0], case.id,
                                     scheduling.ScheduleInput(local, "target_check_in",
                                                              "in_person"), now=utcnow())
    session.flush()
    reminder = session.scalars(select(Notification).where(
        Notification.kind == "session_reminder", Notification.key.like(f"%:{fs.id}:24h:%"))).one()
    reminder.next_attempt_dt = utcnow() - timedelta(seconds=1)  # its time has come
    session.flush()
    return fs, reminder


def test_a_reminder_planned_for_another_start_is_refused(app, session, staffed, case, sink,
                                                         mail_config):
    fs, reminder = _booked(session, staffed, case)
    # Moved without its reminders being replaced (as a merge used to leave them).
    fs.set_time(fs.start_dt + timedelta(hours=5), 60)
    session.flush()

    with app.app_context():
        assert deliver_one(session, reminder.id, mail_config) == Outcome.FAILED

    session.refresh(reminder)
    assert reminder.last_error == "session moved since the reminder was planned"
    assert sink.count({message_id_for(reminder.key)}) == 0


def test_a_reminder_links_to_the_case_its_session_is_on_now(app, session, staffed, case, sink,
                                                            mail_config):
    from app.scheduling.models import FollowUpSession

    other = submit_report(session, staffed.school, report_input()).case
    fs, reminder = _booked(session, staffed, case)
    # The session went to another case, its reminder did not (a merge before the fix).
    session.execute(update(FollowUpSession).where(FollowUpSession.id == fs.id)
                    .values(case_id=other.id))
    session.flush()

    with app.app_context():
        assert deliver_one(session, reminder.id, mail_config) == Outcome.SENT

    [received] = [m for m in sink.messages() if m.message_id == message_id_for(reminder.key)]
    everything = "\n".join(received.texts())
    assert f"https://safe-report.example/staff/cases/{other.id}" in everything
    assert other.reference in received.message["Subject"]
    assert case.reference not in everything


# -- a mail outage: retried for a period, not a count -------------------------------------
class _Clock:
    """The delivery module's idea of now, moved on by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):  # noqa: ANN204
        return self.now


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(delivery, "utcnow", clock)
    return clock


def _only_pending(session, *notes) -> None:  # noqa: ANN001
    """Mark every other row sent, so a sweep touches only ``notes``."""
    session.execute(update(Notification)
                    .where(Notification.id.not_in([n.id for n in notes]))
                    .values(status=NotificationStatus.SENT))


def _sweep_until(session, config, clock, note, until) -> list[float]:  # noqa: ANN001
    """Sweep at each retry time of ``note`` until ``until``; return the waits (seconds)."""
    waits = []
    while clock.now < until:
        deliver_due(session, config)
        session.refresh(note)
        if note.status is not NotificationStatus.PENDING:
            break
        waits.append((note.next_attempt_dt - clock.now).total_seconds())
        clock.now = note.next_attempt_dt
    return waits


def test_a_mail_outage_of_hours_delays_mail_but_loses_none(app, session, staffed, case,
                                                           mail_config, clock):
    server = SmtpSink()  # not started yet: the port refuses connections
    config = {**mail_config, "MAIL_PORT": server.port, "NOTIFICATION_RETRY_BASE_SECONDS": 30}
    note = _queue(session, staffed, f"test:{case.id}:outage", case=case)
    _only_pending(session, note)
    clock.now = utcnow()

    with app.app_context():
        waits = _sweep_until(session, config, clock, note, clock.now + timedelta(hours=20))
        server.start()
        try:
            stats = deliver_due(session, config)
        finally:
            server.stop()

    assert stats.sent == 1 and server.count({message_id_for(note.key)}) == 1
    session.refresh(note)
    assert note.status is NotificationStatus.SENT and note.attempts == len(waits) + 1
    assert len(waits) > 8  # the old limit: every message failed after about 32 minutes
    assert max(waits) <= 3600  # the backoff reaches its one-hour cap and stays there
    assert min(waits[-5:]) >= 1800  # half the cap, at least: jittered, never sooner


def test_temporary_errors_fail_only_after_the_retry_period_and_record_why(
        app, session, staffed, case, mail_config, clock):
    config = {**mail_config, "MAIL_PORT": free_port(), "NOTIFICATION_RETRY_HOURS": 3}
    note = _queue(session, staffed, f"test:{case.id}:long-outage", case=case)
    _only_pending(session, note)
    clock.now = first_try = utcnow()

    with app.app_context():
        _sweep_until(session, config, clock, note, first_try + timedelta(hours=10))

    session.refresh(note)
    assert note.status is NotificationStatus.FAILED
    assert note.last_error == "ConnectionRefusedError: could not reach the mail server"
    # Tried until the period was over, never for more than one backoff step longer.
    assert timedelta(hours=3) <= clock.now - first_try <= timedelta(hours=4)


def test_a_refused_recipient_fails_at_once_without_retries(app, session, staffed, case, sink,
                                                           mail_config):
    sink.refuse[staffed.leads[0].email] = "550 5.1.1 No such user"
    note = _queue(session, staffed, f"test:{case.id}:refused", case=case)
    _only_pending(session, note)

    with app.app_context():
        outcome = deliver_one(session, note.id, mail_config)

    assert outcome == Outcome.FAILED
    session.refresh(note)
    assert (note.status, note.attempts, note.last_error) == (
        NotificationStatus.FAILED, 1, "recipient refused (550)")
    assert sink.count({message_id_for(note.key)}) == 0


def _book(session, staffed, case, start):  # noqa: ANN001
    from app.scheduling.services import ScheduleInput, schedule_session

    local = start.astimezone(ZoneInfo(staffed.school.timezone)).replace(tzinfo=None)
    return schedule_session(session, staffed.leads[0], case.id, ScheduleInput(
        start_local=local, kind="target_check_in", mode="in_person", duration_minutes=60),
        now=start - timedelta(days=2))


def _reminders(session, case):  # noqa: ANN001
    """The staff reminders of the one session on ``case``, by lead."""
    return {n.data["lead"]: n for n in session.scalars(select(Notification).where(
        Notification.kind == "session_reminder", Notification.case_id == case.id))}


def test_a_reminder_still_failing_when_the_next_one_is_due_gives_way_to_it(
        app, session, staffed, case, mail_config, clock):
    start = utcnow().replace(microsecond=0) + timedelta(days=3)
    _book(session, staffed, case, start)
    rows = _reminders(session, case)
    _only_pending(session, *rows.values())
    server = SmtpSink()
    config = {**mail_config, "MAIL_PORT": server.port}
    clock.now = start - timedelta(hours=24)

    with app.app_context():
        _sweep_until(session, config, clock, rows["24h"], start - timedelta(hours=1))
        # Both are due now (the last wait may have gone past the hour-before mark).
        clock.now = max(clock.now, start - timedelta(minutes=59))
        assert clock.now < start
        server.start()
        try:
            deliver_due(session, config)
        finally:
            server.stop()

    session.refresh(rows["24h"])
    session.refresh(rows["1h"])
    assert (rows["24h"].status, rows["24h"].last_error) == (
        NotificationStatus.FAILED, "a later reminder replaces it")
    assert rows["1h"].status is NotificationStatus.SENT
    assert server.ids() == [message_id_for(rows["1h"].key)]  # one reminder, not two at once


def test_a_reminder_still_failing_when_its_session_starts_is_never_sent(
        app, session, staffed, case, mail_config, clock):
    start = utcnow().replace(microsecond=0) + timedelta(days=3)
    _book(session, staffed, case, start)
    rows = _reminders(session, case)
    _only_pending(session, *rows.values())
    rows["24h"].status = NotificationStatus.SENT
    session.flush()
    server = SmtpSink()
    config = {**mail_config, "MAIL_PORT": server.port}
    clock.now = start - timedelta(hours=1)

    with app.app_context():
        _sweep_until(session, config, clock, rows["1h"], start)
        clock.now = max(clock.now, start)
        server.start()
        try:
            deliver_due(session, config)
        finally:
            server.stop()

    session.refresh(rows["1h"])
    assert (rows["1h"].status, rows["1h"].last_error) == (
        NotificationStatus.FAILED, "session already started")
    assert server.ids() == []


# -- a row deleted while it is being sent ------------------------------------------------
def _delete_while_sending(monkeypatch, session, note) -> None:  # noqa: ANN001
    """Delete ``note`` mid-send, as cancelling its session in another process would.

    (Here on the test's own connection, so the worker's rollback brings the row
    back; in production the delete is committed and the row stays gone.)
    """
    real_send = Mailer.send

    def send(self, msg):  # noqa: ANN001, ANN202
        real_send(self, msg)
        if msg["Message-ID"] == message_id_for(note.key):
            table = Notification.__table__
            session.connection().execute(delete(table).where(table.c.id == note.id))

    monkeypatch.setattr(Mailer, "send", send)


def test_a_row_deleted_while_it_is_sent_does_not_stop_the_sweep(app, session, staffed, case,
                                                               sink, mail_config, monkeypatch):
    gone = _queue(session, staffed, f"test:{case.id}:gone", case=case)
    rest = [_queue(session, staffed, f"test:{case.id}:rest{i}", case=case) for i in range(2)]
    _only_pending(session, gone, *rest)
    _delete_while_sending(monkeypatch, session, gone)

    with app.app_context():
        stats = deliver_due(session, mail_config)

    assert stats.as_dict() == {Outcome.SKIPPED: 1, Outcome.SENT: 2}
    assert sink.count({message_id_for(n.key) for n in rest}) == 2
    for note in rest:
        session.refresh(note)
        assert note.status is NotificationStatus.SENT


def test_a_row_deleted_while_deliver_one_sends_it_is_skipped(app, session, staffed, case, sink,
                                                            mail_config, monkeypatch):
    gone = _queue(session, staffed, f"test:{case.id}:gone-one", case=case)
    _delete_while_sending(monkeypatch, session, gone)

    with app.app_context():
        outcome = deliver_one(session, gone.id, mail_config)

    assert outcome == Outcome.SKIPPED
    assert sink.count({message_id_for(gone.key)}) == 1
