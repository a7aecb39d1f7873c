"""TOTP two-factor: enrolment, sign-in with a code, replay, expiry, forced enrolment."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pyotp
import pytest

from app.auth import services as auth
from app.auth.views import PENDING_SECONDS
from app.db import utcnow
from tests.auth.conftest import (
    audit_entries,
    error_summary,
    fresh,
    is_signed_in,
    page_csrf_token,
    page_text,
)
from tests.factories import AdminFactory, LeadFactory, StaffFactory
from tests.helpers import csrf_token, post_form, sign_in, unique_address

SETUP = "/staff/two-factor/setup"
CODE_PAGE = "/staff/login/two-factor"
THRESHOLD = 5


def enrolled(factory=StaffFactory, **kwargs):  # noqa: ANN001, ANN201
    """A user whose authenticator app is already set up."""
    return factory(totp_secret=pyotp.random_base32(), is_totp_enabled=True, **kwargs)


def confirm(client, code: str):  # noqa: ANN001, ANN201
    """Send an enrolment code, taking the token from a page that draws no new secret."""
    token = page_csrf_token(client, "/staff/password")
    return client.post(SETUP, data={"csrf_token": token, "code": code})


def send_code(client, code: str):  # noqa: ANN001, ANN201
    return post_form(client, CODE_PAGE, {"code": code})


# -- enrolment -------------------------------------------------------------------------
def test_enrolment_page_shows_an_inline_qr_code_and_the_secret(client, session):
    user = StaffFactory()
    sign_in(client, user)

    response = client.get(SETUP)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    user = fresh(session, user)
    assert user.totp_secret and not user.is_totp_enabled
    assert f"<code>{user.totp_secret}</code>" in html
    qr = re.search(r'<div class="qr"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert qr.strip().startswith("<svg") and "<path" in qr
    assert "<img" not in qr  # drawn inline: the secret never goes to an image service


def test_confirming_with_a_right_code_turns_two_factor_on(client, session):
    user = StaffFactory()
    sign_in(client, user)
    client.get(SETUP)
    secret = fresh(session, user).totp_secret

    response = confirm(client, pyotp.TOTP(secret).now())

    assert response.status_code == 302
    user = fresh(session, user)
    assert user.is_totp_enabled and user.totp_secret == secret
    [entry] = audit_entries(session, "auth.two_factor.enabled")
    assert (entry.actor_id, entry.school_id) == (user.id, user.school_id)
    page = page_text(client.get(response.headers["Location"]))
    assert "Two-step sign-in is on" in page


def test_confirming_with_a_wrong_code_changes_nothing(client, session):
    user = StaffFactory()
    sign_in(client, user)
    client.get(SETUP)
    secret = fresh(session, user).totp_secret
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 1) % 1_000_000:06d}"

    response = confirm(client, wrong)

    assert response.status_code == 422
    assert "That code is not right" in error_summary(response)
    assert f"<code>{secret}</code>" in response.get_data(as_text=True)  # the same secret again
    user = fresh(session, user)
    assert not user.is_totp_enabled and user.totp_secret == secret
    assert not audit_entries(session, "auth.two_factor.enabled")


# -- signing in with a code ------------------------------------------------------------
def test_enrolled_user_needs_the_code_to_finish_signing_in(client, session):
    user = enrolled()

    response = sign_in(client, user)

    assert response.headers["Location"].endswith(CODE_PAGE)
    assert not is_signed_in(client)
    assert not audit_entries(session, "auth.login.succeeded")

    response = send_code(client, pyotp.TOTP(user.totp_secret).now())

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/cases/")
    assert is_signed_in(client)
    [entry] = audit_entries(session, "auth.login.succeeded", actor_id=user.id)
    assert entry.detail == {"method": "password+totp"}


def test_wrong_code_is_refused_and_counted(client, session):
    user = enrolled()
    sign_in(client, user)
    wrong = f"{(int(pyotp.TOTP(user.totp_secret).now()) + 1) % 1_000_000:06d}"

    response = send_code(client, wrong)

    assert response.status_code == 422
    assert "That code is not right" in error_summary(response)
    assert not is_signed_in(client)
    user = fresh(session, user)
    assert user.failed_logins == 1
    [entry] = audit_entries(session, "auth.login.failed", actor_id=user.id)
    assert entry.detail["reason"] == "wrong_code"


@pytest.mark.parametrize("code", ["", "12345", "abcdef", "1234567890123",
                                  "\u00b2" * 6, "\u0661\u0662\u0663\u0664\u0665\u0666"])
def test_malformed_code_gets_a_clear_message(client, session, code):
    user = enrolled()
    sign_in(client, user)
    response = send_code(client, code)
    assert response.status_code == 422
    assert error_summary(response)
    assert not is_signed_in(client)


def test_a_code_cannot_be_used_twice(client, other_client, session):
    user = enrolled()
    code = pyotp.TOTP(user.totp_secret).now()
    sign_in(client, user)
    assert send_code(client, code).status_code == 302

    sign_in(other_client, user)
    replay = send_code(other_client, code)

    assert replay.status_code == 422
    assert "That code is not right" in error_summary(replay)
    assert not is_signed_in(other_client)
    # The refusal is the replay guard: forget the used step and the same code works.
    user = fresh(session, user)
    user.totp_last_step = None
    session.flush()
    assert send_code(other_client, code).status_code == 302
    assert is_signed_in(other_client)


def test_replay_guard_with_an_injected_clock(session):
    user = enrolled()
    totp = pyotp.TOTP(user.totp_secret)
    t0 = datetime(2026, 3, 2, 9, 0, 5, tzinfo=timezone.utc)

    auth.check_second_factor(session, user, totp.at(t0), threshold=THRESHOLD, now=t0)
    with pytest.raises(auth.SignInFailed):
        # the same time step, even a few seconds later
        auth.check_second_factor(session, user, totp.at(t0), threshold=THRESHOLD,
                                 now=t0 + timedelta(seconds=10))
    with pytest.raises(auth.SignInFailed):
        # an older code than the one used is no better
        auth.check_second_factor(session, user, totp.at(t0 - timedelta(seconds=30)),
                                 threshold=THRESHOLD, now=t0 + timedelta(seconds=10))
    t1 = t0 + timedelta(seconds=30)
    auth.check_second_factor(session, user, totp.at(t1), threshold=THRESHOLD, now=t1)
    assert user.failed_logins == 0  # a success clears the two failures


def test_codes_from_a_neighbouring_step_are_accepted_for_clock_drift(session):
    user = enrolled()
    totp = pyotp.TOTP(user.totp_secret)
    now = datetime(2026, 3, 2, 9, 0, 5, tzinfo=timezone.utc)
    assert auth.verify_totp(user, totp.at(now - timedelta(seconds=30)), now=now)
    assert not auth.verify_totp(user, totp.at(now - timedelta(seconds=90)),
                                now=now + timedelta(seconds=30))


def test_wrong_codes_lock_the_account(session):
    user = enrolled()
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    for _ in range(THRESHOLD):
        with pytest.raises(auth.SignInFailed):
            auth.check_second_factor(session, user, "000000", threshold=THRESHOLD, now=now)
    assert user.locked_until_dt == now + timedelta(minutes=1)
    right = pyotp.TOTP(user.totp_secret).at(now)
    with pytest.raises(auth.AccountLocked):
        auth.check_second_factor(session, user, right, threshold=THRESHOLD, now=now)


def test_pending_two_factor_expires(client, session):
    user = enrolled()
    sign_in(client, user)
    with client.session_transaction("/staff/") as sess:
        sess["pending_since"] = time.time() - PENDING_SECONDS - 1

    code = pyotp.TOTP(user.totp_secret).now()
    token = csrf_token(client, "/staff/login")
    response = client.post(CODE_PAGE, data={"csrf_token": token, "code": code})

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/login")
    assert "Please sign in again." in page_text(client.get("/staff/login"))
    assert not is_signed_in(client)
    assert not audit_entries(session, "auth.login.succeeded")
    assert fresh(session, user).totp_last_step is None  # the code was not even checked


def test_code_page_without_a_password_first_sends_to_sign_in(client, session):
    response = client.get(CODE_PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/login")


# -- required for leads and admins -----------------------------------------------------
@pytest.fixture
def two_factor_required(app, monkeypatch):
    monkeypatch.setitem(app.config, "REQUIRE_TWO_FACTOR", True)


@pytest.mark.parametrize("factory", [LeadFactory, AdminFactory])
def test_leads_and_admins_are_sent_to_set_up_two_factor_first(client, session,
                                                              two_factor_required, factory):
    user = factory()
    sign_in(client, user)

    for url in ("/staff/cases/", "/staff/admin/staff", "/staff/dashboard/", "/staff/audit/",
                "/staff/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].endswith(SETUP), url
    page = client.get(SETUP)
    assert page.status_code == 200
    assert "Your role needs two-step sign-in before you can continue." in page_text(page)

    secret = fresh(session, user).totp_secret
    confirm(client, pyotp.TOTP(secret).now())
    assert client.get("/staff/").status_code == 302
    assert not client.get("/staff/").headers["Location"].endswith(SETUP)


def test_counsellors_are_not_forced_to_set_up_two_factor(client, session, two_factor_required):
    sign_in(client, StaffFactory())
    assert client.get("/staff/cases/").status_code == 200


def test_enrolled_lead_is_not_sent_to_set_up(client, session, two_factor_required):
    user = enrolled(LeadFactory)
    sign_in(client, user)
    send_code(client, pyotp.TOTP(user.totp_secret).now())
    assert client.get("/staff/cases/").status_code == 200


def test_nothing_is_forced_when_the_setting_is_off(client, session):
    sign_in(client, LeadFactory())
    assert client.get("/staff/cases/").status_code == 200


@pytest.mark.parametrize("factory, enrolled_, required, expected", [
    (LeadFactory, False, True, True),
    (AdminFactory, False, True, True),
    (StaffFactory, False, True, False),
    (LeadFactory, True, True, False),
    (LeadFactory, False, False, False),
])
def test_needs_two_factor_enrolment(session, factory, enrolled_, required, expected):
    user = factory(is_totp_enabled=enrolled_)
    assert auth.needs_two_factor_enrolment(user, required=required) is expected


def test_enrolled_user_cannot_enrol_again_over_the_old_secret(client, session):
    user = enrolled()
    secret = user.totp_secret
    sign_in(client, user)
    send_code(client, pyotp.TOTP(secret).now())

    page = client.get(SETUP)
    response = confirm(client, pyotp.TOTP(secret).now())

    assert "Two-step sign-in is on for your account" in page_text(page)
    assert "<svg" not in page.get_data(as_text=True)
    assert response.status_code == 200
    assert fresh(session, user).totp_secret == secret
    assert not audit_entries(session, "auth.two_factor.enabled")


def lead_signed_in_before(client):  # noqa: ANN001, ANN201
    """A lead with two-factor who signed in on ``client``'s browser once, then signed out."""
    user = enrolled(LeadFactory)
    totp = pyotp.TOTP(user.totp_secret)
    t0 = time.time()
    sign_in(client, user)
    assert send_code(client, totp.at(t0 - 30)).status_code == 302
    client.post("/staff/logout", data={"csrf_token": page_csrf_token(client, "/staff/cases/")})
    return user, totp, t0


def test_the_owners_browser_passes_both_steps_while_others_keep_the_account_locked(
        client, other_client, session):
    user, totp, t0 = lead_signed_in_before(client)
    for _ in range(THRESHOLD + 2):
        sign_in(other_client, user, password="wrong")
    assert fresh(session, user).locked_until_dt is not None

    assert sign_in(client, user).headers["Location"].endswith(CODE_PAGE)
    response = send_code(client, totp.at(t0))

    assert response.status_code == 302
    assert is_signed_in(client)
    entry = audit_entries(session, "auth.login.succeeded", actor_id=user.id)[-1]
    assert entry.detail == {"method": "password+totp", "while_locked": True}


def test_wrong_codes_past_a_lock_spend_the_budget_every_copy_of_the_cookie_shares(
        app, client, other_client, session):
    """Both steps and all copies of the owner's cookie draw on one budget of wrong tries."""
    user, totp, t0 = lead_signed_in_before(client)
    mark = client.get_cookie("sr_device", path="/staff/login").value
    user = fresh(session, user)
    user.failed_logins, user.locked_until_dt = THRESHOLD + 10, utcnow() + timedelta(minutes=60)
    session.flush()
    other_client.set_cookie("sr_device", f"{mark}.copy", path="/staff/login")
    wrong = next(f"{n:06d}" for n in range(1_000_000)
                 if f"{n:06d}" not in {totp.at(t0 + d) for d in (-30, 0, 30, 60)})

    assert sign_in(client, user).headers["Location"].endswith(CODE_PAGE)
    codes = [send_code(client, wrong) for _ in range(5)]
    passwords = [sign_in(other_client, user, password="wrong") for _ in range(5)]

    assert all("That code is not right" in error_summary(r) for r in codes)
    assert all(r.status_code == 422 for r in passwords)
    assert fresh(session, user).failed_logins == THRESHOLD + 20
    # Spent: the right code waits like the right password from a further copy.
    assert "locked" in error_summary(send_code(client, totp.at(t0)))
    third = app.test_client()
    third.environ_base["REMOTE_ADDR"] = unique_address()
    third.set_cookie("sr_device", f"{mark}.third", path="/staff/login")
    assert sign_in(third, user).status_code == 422
    assert not is_signed_in(client) and not is_signed_in(third)
    assert fresh(session, user).failed_logins == THRESHOLD + 20
