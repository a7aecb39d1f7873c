"""What staff see: the unread count, the list, the workers page, the kept-mail page, the CLI."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.db import utcnow
from app.notifications.delivery import FAILING_SINCE
from app.notifications.mail import Mailer, Rendered, build_message
from app.notifications.models import Notification, NotificationStatus
from app.notifications.outbox import queue_notification
from app.reporting.services import submit_report
from tests.factories import AdminFactory, SchoolFactory, StaffFactory, report_input
from tests.helpers import csrf_token, sign_in

_UNREAD = re.compile(r'id="unread-count"[^>]*>(\d+)<')


def _unread_in_header(client) -> int:  # noqa: ANN001
    page = client.get("/staff/cases/").get_data(as_text=True)
    assert 'id="notifications-link"' in page
    match = _UNREAD.search(page)
    return int(match.group(1)) if match else 0


def _notify(session, user, key, **extra):  # noqa: ANN001
    note = queue_notification(session, key=key, kind=extra.pop("kind", "escalation"),
                              school_id=user.school_id, recipient_staff_id=user.id, **extra)
    session.flush()
    return note


def test_the_header_counts_unread_notifications_and_the_list_marks_them_read(session, client,
                                                                             staffed):
    me = staffed.counsellors[0]
    case = submit_report(session, staffed.school, report_input()).case
    _notify(session, me, "t:1", case_id=case.id, data={"reference": case.reference, "level": 2})
    _notify(session, me, "t:2", kind="digest", data={"new": 4, "critical": 1, "overdue": 0,
                                                      "escalated": 0})
    _notify(session, staffed.counsellors[1], "t:other")  # someone else's
    sign_in(client, me)

    assert _unread_in_header(client) == 2

    page = client.get("/staff/notifications/").get_data(as_text=True)
    assert page.count("notification--unread") == 2
    assert f"case {case.reference}" in page and "(level 2)" in page
    assert f'href="/staff/cases/{case.id}"' in page
    assert "4 new, 1 critical" in page
    assert "t:other" not in page
    assert _unread_in_header(client) == 0
    again = client.get("/staff/notifications/").get_data(as_text=True)
    assert "notification--unread" not in again and f"case {case.reference}" in again
    other = session.scalars(select(Notification).where(Notification.key == "t:other")).one()
    assert other.is_read is False


def _failed(session, staffed, case):  # noqa: ANN001
    note = _notify(session, staffed.leads[0], f"t:failed:{case.id}", kind="critical_alert",
                   case_id=case.id, data={"reference": case.reference})
    note.status = NotificationStatus.FAILED
    note.attempts = 8
    note.last_error = "ConnectionRefusedError: could not reach the mail server"
    note.data = {**note.data, FAILING_SINCE: (utcnow() - timedelta(hours=25)).isoformat()}
    session.flush()
    return note


def test_admins_see_the_outbox_and_can_retry_a_failed_notification(session, client, staffed):
    case = submit_report(session, staffed.school, report_input()).case
    note = _failed(session, staffed, case)
    _notify(session, staffed.leads[0], "t:due")
    elsewhere = SchoolFactory()
    _failed(session, type(staffed)(elsewhere, [], [StaffFactory(school=elsewhere)], None, None),
            submit_report(session, elsewhere, report_input()).case)
    sign_in(client, staffed.admin)

    page = client.get("/staff/admin/workers").get_data(as_text=True)

    assert f'data-notification-id="{note.id}"' in page
    assert "could not reach the mail server" in page and case.reference in page
    assert page.count("data-notification-id=") == 1  # not the other school's
    assert re.search(r'id="outbox-failed">1<', page)
    assert re.search(r'id="outbox-due">\d+', page)
    assert 'id="last-beat"' in page and 'id="queue-depth"' in page

    token = csrf_token(client, "/staff/admin/workers")
    response = client.post(f"/staff/admin/workers/notifications/{note.id}/retry",
                           data={"csrf_token": token})

    assert response.status_code == 302
    session.refresh(note)
    assert note.status is NotificationStatus.PENDING and note.attempts == 0
    assert note.data == {"reference": case.reference}  # a fresh retry period
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "notification.retried",
        AuditEntry.target == f"notification:{note.id}")).one()
    assert entry.actor_id == staffed.admin.id
    assert "no-failures" in client.get("/staff/admin/workers").get_data(as_text=True)


def test_retrying_something_that_has_not_failed_changes_nothing(session, client, staffed):
    note = _notify(session, staffed.leads[0], "t:pending")
    sign_in(client, staffed.admin)
    token = csrf_token(client, "/staff/password")

    response = client.post(f"/staff/admin/workers/notifications/{note.id}/retry",
                           data={"csrf_token": token}, follow_redirects=True)

    assert "has not failed" in response.get_data(as_text=True)
    session.refresh(note)
    assert note.status is NotificationStatus.PENDING
    assert session.scalars(select(AuditEntry).where(
        AuditEntry.action == "notification.retried")).all() == []


def test_only_admins_open_the_workers_page_or_retry(session, client, staffed):
    case = submit_report(session, staffed.school, report_input()).case
    note = _failed(session, staffed, case)
    sign_in(client, staffed.leads[0])

    assert client.get("/staff/admin/workers").status_code == 403
    token = csrf_token(client, "/staff/password")
    assert client.post(f"/staff/admin/workers/notifications/{note.id}/retry",
                       data={"csrf_token": token}).status_code == 403
    session.refresh(note)
    assert note.status is NotificationStatus.FAILED


def test_an_admin_cannot_retry_another_schools_notification(session, client, staffed):
    elsewhere = SchoolFactory()
    other_lead = StaffFactory(school=elsewhere)
    note = _notify(session, other_lead, "t:elsewhere")
    note.status = NotificationStatus.FAILED
    session.flush()
    sign_in(client, staffed.admin)
    token = csrf_token(client, "/staff/password")

    response = client.post(f"/staff/admin/workers/notifications/{note.id}/retry",
                           data={"csrf_token": token})

    assert response.status_code == 404
    session.refresh(note)
    assert note.status is NotificationStatus.FAILED


def _keep_mail(folder, subject: str) -> None:  # noqa: ANN001
    with Mailer({"MAIL_OUTBOX_DIR": folder}) as mailer:
        mailer.send(build_message(sender="Safe Report <a@b.example>", to="lead@school.example",
                                  rendered=Rendered(subject, "Plain words here", "<p>Hi</p>"),
                                  message_id="<abc@safe-report>"))


def test_the_dev_mail_page_lists_kept_mail_for_leads_and_admins(app, session, client, staffed,
                                                                 tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_OUTBOX_DIR", tmp_path)
    _keep_mail(tmp_path, "Case ABC-123 needs attention")
    sign_in(client, staffed.leads[0])

    page = client.get("/staff/dev/mail").get_data(as_text=True)

    assert "Case ABC-123 needs attention" in page and "lead@school.example" in page
    name = re.search(r'href="/staff/dev/mail/([^"]+)"', page).group(1)
    message = client.get(f"/staff/dev/mail/{name}").get_data(as_text=True)
    assert "Plain words here" in message and "&lt;abc@safe-report&gt;" in message
    assert client.get("/staff/dev/mail/..%2Fsecrets.eml").status_code == 404
    assert client.get("/staff/dev/mail/not-a-mail.eml").status_code == 404


def test_the_dev_mail_page_is_refused_to_counsellors_and_absent_in_production(
        app, session, client, staffed, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_OUTBOX_DIR", tmp_path)
    _keep_mail(tmp_path, "Kept")
    sign_in(client, staffed.counsellors[0])
    assert client.get("/staff/dev/mail").status_code == 403

    admin = AdminFactory(school=staffed.school)
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/password")})
    sign_in(client, admin)
    assert client.get("/staff/dev/mail").status_code == 200
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    assert client.get("/staff/dev/mail").status_code == 404
    monkeypatch.setitem(app.config, "ENV_NAME", "testing")
    monkeypatch.setitem(app.config, "MAIL_OUTBOX_DIR", None)
    assert client.get("/staff/dev/mail").status_code == 404


def test_workers_status_shows_the_outbox_backlog_failures_and_queue(app, session, staffed):
    case = submit_report(session, staffed.school, report_input()).case
    note = _failed(session, staffed, case)

    result = app.test_cli_runner().invoke(args=["workers-status"])

    assert result.exit_code == 0, result.output
    assert re.search(r"outbox: +\d+ due now", result.output)
    assert re.search(r"\d+ failed", result.output)
    assert (f"failed #{note.id} critical_alert to staff case {case.reference}: 8 attempts, "
            "ConnectionRefusedError: could not reach the mail server") in result.output
    assert "queue:" in result.output
