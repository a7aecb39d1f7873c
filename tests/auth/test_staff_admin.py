"""Admins create, disable, enable and reset the staff accounts of their own school only."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from app.admin import services as admin_services
from app.auth.models import CaseRole, StaffUser
from app.db import utcnow
from app.errors import NotFound
from app.scheduling import feed
from app.security import verify_password
from tests.auth.conftest import (
    audit_entries,
    error_summary,
    fresh,
    is_signed_in,
    page_csrf_token,
    page_text,
)
from tests.factories import PASSWORD, AdminFactory, SchoolFactory, StaffFactory
from tests.helpers import sign_in

STAFF = "/staff/admin/staff"
_TEMP_PASSWORD = re.compile(r'<p class="case-key"[^>]*>([^<]+)</p>')


def _post(client, url: str, data: dict | None = None):  # noqa: ANN202
    token = page_csrf_token(client, STAFF)
    return client.post(url, data={"csrf_token": token, **(data or {})})


def _staff_count(session) -> int:  # noqa: ANN001
    return session.execute(select(func.count()).select_from(StaffUser)).scalar_one()


def _by_email(session, email: str) -> StaffUser | None:  # noqa: ANN001
    session.expire_all()
    return session.execute(select(StaffUser).where(StaffUser.email == email)).scalar_one_or_none()


@pytest.fixture
def admin(client, session):
    user = AdminFactory()
    sign_in(client, user)
    return user


# -- create ----------------------------------------------------------------------------
def test_admin_creates_staff_with_a_temporary_password_shown_once(client, other_client,
                                                                  session, admin):
    response = _post(client, STAFF, {"name": "Ada Lovelace", "email": "Ada@Example.org",
                                     "role": "lead"})

    assert response.status_code == 200
    [password] = _TEMP_PASSWORD.findall(response.get_data(as_text=True))
    user = _by_email(session, "ada@example.org")
    assert user is not None
    assert (user.school_id, user.name, user.case_role, user.is_admin) == (
        admin.school_id, "Ada Lovelace", CaseRole.LEAD, False)
    assert user.must_change_password and user.is_enabled and not user.is_totp_enabled
    assert verify_password(user.password_hash, password)
    [entry] = audit_entries(session, "staff.created")
    assert (entry.actor_id, entry.school_id, entry.target) == (
        admin.id, admin.school_id, f"staff_user:{user.id}")
    # shown once: the list does not show it again
    again = client.get(STAFF)
    assert password not in again.get_data(as_text=True)
    assert "ada@example.org" in page_text(again)

    # the new member signs in with it and is made to choose their own
    assert sign_in(other_client, user, password=password).status_code == 302
    assert other_client.get("/staff/cases/").headers["Location"].endswith("/staff/password")


@pytest.mark.parametrize("role, case_role, is_admin", [
    ("counsellor", CaseRole.COUNSELLOR, False),
    ("admin", None, True),
    ("lead_admin", CaseRole.LEAD, True),
])
def test_each_role_choice_makes_the_right_account(client, session, admin, role, case_role,
                                                  is_admin):
    _post(client, STAFF, {"name": "New Person", "email": f"{role}@example.org", "role": role})
    user = _by_email(session, f"{role}@example.org")
    assert (user.case_role, user.is_admin) == (case_role, is_admin)


@pytest.mark.parametrize("data, message", [
    ({"name": "", "email": "x@example.org", "role": "counsellor"}, "Enter the person's name."),
    ({"name": "X", "email": "", "role": "counsellor"}, "Enter an email address."),
    ({"name": "X", "email": "no-at-sign", "role": "counsellor"}, "Enter an email address."),
    ({"name": "X", "email": "x@example.org", "role": "headteacher"}, "Not a valid choice"),
])
def test_bad_new_staff_forms_say_why_and_create_nothing(client, session, admin, data, message):
    before = _staff_count(session)
    response = _post(client, STAFF, data)
    assert response.status_code == 422
    assert message in error_summary(response)
    assert _staff_count(session) == before
    assert not audit_entries(session, "staff.created")


@pytest.mark.parametrize("same_school", [True, False])
def test_duplicate_email_is_refused_clearly(client, session, admin, same_school):
    existing = StaffFactory(school=admin.school if same_school else SchoolFactory())
    before = _staff_count(session)

    response = _post(client, STAFF, {"name": "Copy", "email": existing.email.upper(),
                                     "role": "counsellor"})

    assert response.status_code == 422
    assert error_summary(response) == "An account with this email address already exists."
    assert _staff_count(session) == before
    assert not audit_entries(session, "staff.created")
    assert fresh(session, existing).name != "Copy"


def test_list_shows_only_the_admins_school(client, session, admin):
    colleague = StaffFactory(school=admin.school)
    stranger = StaffFactory()
    page = page_text(client.get(STAFF))
    assert colleague.email in page
    assert stranger.email not in page


# -- disable / enable ------------------------------------------------------------------
def test_disable_and_enable_are_audited(client, other_client, session, admin):
    user = StaffFactory(school=admin.school)

    response = _post(client, f"{STAFF}/{user.id}/disable")

    assert response.status_code == 302
    assert f"{user.name} is now disabled." in page_text(client.get(STAFF))
    assert not fresh(session, user).is_enabled
    [entry] = audit_entries(session, "staff.disabled")
    assert (entry.actor_id, entry.target) == (admin.id, f"staff_user:{user.id}")
    assert sign_in(other_client, user).status_code == 422

    _post(client, f"{STAFF}/{user.id}/enable")

    assert fresh(session, user).is_enabled
    [entry] = audit_entries(session, "staff.enabled")
    assert entry.target == f"staff_user:{user.id}"
    assert sign_in(other_client, user).status_code == 302


def test_admin_cannot_disable_their_own_account(client, session, admin):
    response = _post(client, f"{STAFF}/{admin.id}/disable")

    assert response.status_code == 302
    assert "You cannot disable your own account." in page_text(client.get(STAFF))
    assert fresh(session, admin).is_enabled
    assert not audit_entries(session, "staff.disabled")
    assert is_signed_in(client)


# -- reset -----------------------------------------------------------------------------
def test_reset_gives_a_new_password_and_clears_two_factor_and_lock(client, other_client,
                                                                    session, admin):
    user = StaffFactory(school=admin.school, totp_secret=pyotp.random_base32(),
                        is_totp_enabled=True, totp_last_step=123, failed_logins=7,
                        locked_until_dt=utcnow() + timedelta(minutes=30))

    response = _post(client, f"{STAFF}/{user.id}/reset")

    assert response.status_code == 200
    [password] = _TEMP_PASSWORD.findall(response.get_data(as_text=True))
    user = fresh(session, user)
    assert (user.totp_secret, user.is_totp_enabled, user.totp_last_step) == (None, False, None)
    assert (user.failed_logins, user.locked_until_dt) == (0, None)
    assert user.must_change_password
    assert not verify_password(user.password_hash, PASSWORD)
    [entry] = audit_entries(session, "staff.reset")
    assert (entry.actor_id, entry.target) == (admin.id, f"staff_user:{user.id}")

    # the temporary password works at once, with no second factor asked for
    signed = sign_in(other_client, user, password=password)
    assert signed.status_code == 302
    assert not signed.headers["Location"].endswith("/two-factor")
    assert other_client.get("/staff/cases/").headers["Location"].endswith("/staff/password")


# -- school isolation ------------------------------------------------------------------
@pytest.mark.parametrize("action", ["disable", "enable", "reset"])
def test_admin_of_another_school_gets_404_and_changes_nothing(client, session, admin, action):
    stranger = StaffFactory(is_enabled=action != "enable", totp_secret=pyotp.random_base32(),
                            is_totp_enabled=True)
    before = (stranger.is_enabled, stranger.password_hash, stranger.session_nonce,
              stranger.is_totp_enabled, stranger.must_change_password)

    response = _post(client, f"{STAFF}/{stranger.id}/{action}")

    assert response.status_code == 404
    assert "Page not found" in page_text(response)
    stranger = fresh(session, stranger)
    assert (stranger.is_enabled, stranger.password_hash, stranger.session_nonce,
            stranger.is_totp_enabled, stranger.must_change_password) == before
    assert not audit_entries(session, f"staff.{action}d" if action != "reset" else "staff.reset")


def test_unknown_account_id_is_404(client, session, admin):
    assert _post(client, f"{STAFF}/999999/disable").status_code == 404


def test_services_refuse_another_schools_account_even_unscoped(session):
    # The service's own check, without the request's query scoping behind it.
    admin = AdminFactory()
    stranger = StaffFactory()
    with pytest.raises(NotFound):
        admin_services.set_enabled(session, admin, stranger.id, False)
    with pytest.raises(NotFound):
        admin_services.reset_account(session, admin, stranger.id)
    assert stranger.is_enabled


def test_duplicate_that_slips_past_the_check_is_still_a_clear_refusal(session, monkeypatch):
    # Two admins adding the same address at the same moment: the unique index decides.
    from app.auth import services as auth

    admin = AdminFactory()
    existing = StaffFactory()
    monkeypatch.setattr(auth, "email_in_use", lambda *_: False)

    with pytest.raises(auth.ValidationFailed, match="already exists"):
        admin_services.create_staff(session, admin, email=existing.email, name="Copy",
                                    role="counsellor")

    # the session is still usable and nothing was written
    assert _staff_count(session) == 2
    assert not audit_entries(session, "staff.created")


def test_reset_switches_off_the_calendar_feed(client, other_client, session, admin):
    user = StaffFactory(school=admin.school)
    token = feed.create_feed(session, user, now=utcnow())
    session.flush()
    assert other_client.get(f"/ical/{token}.ics").status_code == 200

    _post(client, f"{STAFF}/{user.id}/reset")

    assert fresh(session, user).ical_token_digest is None
    assert other_client.get(f"/ical/{token}.ics").status_code == 404
    [entry] = audit_entries(session, "staff.reset")
    assert entry.detail == {"calendar_feed_revoked": True}
