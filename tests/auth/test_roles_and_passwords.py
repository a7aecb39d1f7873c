"""Who may open which staff page, and the forced change of a temporary password."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.security import verify_password
from tests.auth.conftest import (
    audit_entries,
    error_summary,
    fresh,
    is_signed_in,
    page_csrf_token,
    page_text,
)
from tests.factories import PASSWORD, AdminFactory, LeadFactory, StaffFactory
from tests.helpers import sign_in

NEW_PASSWORD = "plum orbit lantern seventeen"
THRESHOLD = 5


# -- roles -----------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/staff/admin/staff"])
def test_counsellor_cannot_reach_admin_pages(client, session, url):
    sign_in(client, StaffFactory())
    response = client.get(url)
    assert response.status_code == 403
    assert "Only a school admin can do this." in page_text(response)


def test_counsellor_cannot_disable_a_colleague(client, session):
    counsellor = StaffFactory()
    colleague = StaffFactory(school=counsellor.school)
    sign_in(client, counsellor)
    token = page_csrf_token(client, "/staff/cases/")

    for action in ("disable", "reset"):
        response = client.post(f"/staff/admin/staff/{colleague.id}/{action}",
                               data={"csrf_token": token})
        assert response.status_code == 403, action

    colleague = fresh(session, colleague)
    assert colleague.is_enabled and verify_password(colleague.password_hash, PASSWORD)
    assert not audit_entries(session, "staff.disabled")
    assert not audit_entries(session, "staff.reset")


def test_admin_only_account_cannot_see_the_case_queue(client, session):
    sign_in(client, AdminFactory())
    response = client.get("/staff/cases/")
    assert response.status_code == 403
    assert "Only counsellors and safeguarding leads can open cases." in page_text(response)


@pytest.mark.parametrize("factory", [StaffFactory, LeadFactory])
def test_casework_staff_see_the_case_queue(client, session, factory):
    sign_in(client, factory())
    assert client.get("/staff/cases/").status_code == 200


def test_lead_who_is_also_admin_sees_both(client, session):
    sign_in(client, LeadFactory(is_admin=True))
    assert client.get("/staff/cases/").status_code == 200
    assert client.get("/staff/admin/staff").status_code == 200


def test_signed_out_visitor_is_sent_to_sign_in(client, session):
    for url in ("/staff/cases/", "/staff/admin/staff", "/staff/password", "/staff/two-factor/setup"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/staff/login" in response.headers["Location"], url


# -- forced and voluntary password change ---------------------------------------------
def _change(client, current: str, new: str, confirm: str | None = None):  # noqa: ANN202
    token = page_csrf_token(client, "/staff/password")
    return client.post("/staff/password", data={
        "csrf_token": token, "current_password": current, "password": new,
        "confirm": new if confirm is None else confirm,
    })


def test_must_change_password_forces_the_change_page(client, session):
    sign_in(client, StaffFactory(must_change_password=True))
    for url in ("/staff/cases/", "/staff/", "/staff/notifications/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/staff/password")
    page = client.get("/staff/password")
    assert page.status_code == 200
    assert "Your password was set by an admin" in page_text(page)


def test_changing_the_password_works_and_lifts_the_forced_step(client, session):
    user = StaffFactory(must_change_password=True)
    sign_in(client, user)
    old_nonce = user.session_nonce

    response = _change(client, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 302
    queue = client.get("/staff/cases/")
    assert queue.status_code == 200  # still signed in, and the forced step is lifted
    assert "Your password has been changed." in page_text(queue)
    user = fresh(session, user)
    assert not user.must_change_password
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert not verify_password(user.password_hash, PASSWORD)
    assert user.session_nonce != old_nonce  # other sessions of the account end
    [entry] = audit_entries(session, "auth.password.changed")
    assert entry.actor_id == user.id


def test_new_password_is_the_one_that_signs_in(client, other_client, session):
    user = StaffFactory()
    sign_in(client, user)
    _change(client, PASSWORD, NEW_PASSWORD)

    assert sign_in(other_client, user).status_code == 422
    assert sign_in(other_client, user, password=NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("current, new, confirm, message", [
    (PASSWORD, "short", None, "Use at least 12 characters"),
    (PASSWORD, "staff@example.org", None, None),  # replaced by the user's address below
    (PASSWORD, NEW_PASSWORD, "something else entirely", "The two new passwords are not the same."),
    ("not my password", NEW_PASSWORD, None, "Your current password is not right."),
    (PASSWORD, "", None, "Enter a new password."),
])
def test_refused_password_change_says_why_and_changes_nothing(client, session, current, new,
                                                              confirm, message):
    user = StaffFactory(must_change_password=True)
    if message is None:
        new, message = user.email.upper(), "Do not use your email address as your password."
    sign_in(client, user)
    before = (user.password_hash, user.session_nonce)

    response = _change(client, current, new, confirm)

    assert response.status_code == 422
    assert message in error_summary(response)
    user = fresh(session, user)
    assert (user.password_hash, user.session_nonce) == before
    assert user.must_change_password
    assert not audit_entries(session, "auth.password.changed")
    assert is_signed_in(client)


# -- guessing the current password -----------------------------------------------------
def test_a_wrong_current_password_is_audited_and_counted(client, session):
    user = StaffFactory()
    sign_in(client, user)

    response = _change(client, "not my password", NEW_PASSWORD)

    assert "Your current password is not right." in error_summary(response)
    user = fresh(session, user)
    assert user.failed_logins == 1
    [entry] = audit_entries(session, "auth.password.change_failed", actor_id=user.id)
    assert entry.school_id == user.school_id
    assert entry.detail == {"reason": "wrong_current_password", "failed_logins": 1,
                            "locked_minutes": 0}
    assert "not my password" not in str(entry.detail)


def test_guessing_the_current_password_locks_the_account_and_signs_out(client, other_client,
                                                                       session):
    user = StaffFactory()
    sign_in(client, user)
    sign_in(other_client, user)  # a copy of the session elsewhere ends too
    before = user.password_hash

    for _ in range(THRESHOLD - 1):
        assert "Your current password is not right." in error_summary(
            _change(client, "a wrong guess", NEW_PASSWORD))
    response = _change(client, "a wrong guess", NEW_PASSWORD)

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/login")
    assert "You have been signed out" in page_text(client.get("/staff/login"))
    assert not is_signed_in(client) and not is_signed_in(other_client)
    user = fresh(session, user)
    assert user.password_hash == before
    assert user.failed_logins == THRESHOLD and user.locked_until_dt > utcnow()
    assert len(audit_entries(session, "auth.password.change_failed", actor_id=user.id)) == THRESHOLD
    assert not audit_entries(session, "auth.password.changed")
    # Signing in again waits for the lock, even here: this browser is no longer a known one.
    assert sign_in(client, user).status_code == 422


def test_a_wrong_current_password_long_after_a_lock_starts_a_fresh_count(client, session):
    user = StaffFactory()
    sign_in(client, user)
    user = fresh(session, user)  # a lock run that ended two days ago
    user.failed_logins, user.locked_until_dt = THRESHOLD + 10, utcnow() - timedelta(days=2)
    session.flush()

    response = _change(client, "a typo", NEW_PASSWORD)

    assert "Your current password is not right." in error_summary(response)
    assert is_signed_in(client)
    user = fresh(session, user)
    assert (user.failed_logins, user.locked_until_dt) == (1, None)
