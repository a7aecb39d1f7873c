"""Password sign-in: success, failures that reveal nothing, disabled accounts, lockout."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.auth import services as auth
from app.auth.models import StaffUser
from app.db import utcnow
from tests.auth.conftest import (
    audit_entries,
    error_summary,
    fresh,
    is_signed_in,
    page_csrf_token,
    page_text,
)
from tests.factories import PASSWORD, AdminFactory, LeadFactory, StaffFactory
from tests.helpers import csrf_token, sign_in, unique_address

GENERIC = ("The email address or password is not right. After several wrong attempts an "
           "account is locked for up to 60 minutes: if you are sure of both, try again later "
           "or ask your school's admin.")
THRESHOLD = 5


# -- success ---------------------------------------------------------------------------
def test_right_password_signs_in_and_is_audited(client, session):
    user = StaffFactory(failed_logins=2)

    response = sign_in(client, user)

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/cases/")
    queue = client.get("/staff/cases/")
    assert queue.status_code == 200
    assert user.name in page_text(queue)  # the header names who is signed in
    user = fresh(session, user)
    assert user.failed_logins == 0
    assert user.last_login_dt is not None and utcnow() - user.last_login_dt < timedelta(minutes=1)
    [entry] = audit_entries(session, "auth.login.succeeded")
    assert (entry.school_id, entry.actor_id, entry.actor_kind) == (user.school_id, user.id, "staff")
    assert entry.detail == {"method": "password"}


def test_email_is_matched_whatever_its_case(client, session):
    user = StaffFactory()

    class Shouted:
        email = "  " + user.email.upper()

    assert sign_in(client, Shouted).status_code == 302
    assert is_signed_in(client)


def test_admin_only_account_lands_on_staff_accounts(client, session):
    admin = AdminFactory()
    response = sign_in(client, admin)
    assert response.headers["Location"].endswith("/staff/admin/staff")


# -- failures --------------------------------------------------------------------------
def _snapshot(user: StaffUser) -> tuple:
    return (user.password_hash, user.is_enabled, user.locked_until_dt, user.last_login_dt,
            user.session_nonce, user.must_change_password)


def test_wrong_password_and_unknown_email_get_the_same_message(client, session):
    user = StaffFactory()
    before = _snapshot(user)
    staff_count = session.execute(select(func.count()).select_from(StaffUser)).scalar_one()

    wrong = sign_in(client, user, password="not the password at all")

    class Nobody:
        email = "nobody@example.org"

    unknown = sign_in(client, Nobody, password=PASSWORD)

    assert wrong.status_code == unknown.status_code == 422
    assert error_summary(wrong) == error_summary(unknown) == GENERIC
    assert not is_signed_in(client)
    # Only the failure counter moved on the real account.
    user = fresh(session, user)
    assert user.failed_logins == 1
    assert _snapshot(user) == before
    assert session.execute(select(func.count()).select_from(StaffUser)).scalar_one() == staff_count
    [known] = audit_entries(session, "auth.login.failed", actor_id=user.id)
    assert known.school_id == user.school_id
    assert known.detail["reason"] == "wrong_password"
    [anonymous] = audit_entries(session, "auth.login.failed", school_id=None)
    assert anonymous.actor_kind == "anonymous" and anonymous.actor_id is None
    assert "nobody@example.org" not in str(anonymous.detail)  # no guessed addresses kept
    assert not audit_entries(session, "auth.login.succeeded")


@pytest.mark.parametrize("data, message", [
    ({"email": "", "password": PASSWORD}, "Enter your email address."),
    ({"email": "a@example.org", "password": ""}, "Enter your password."),
    ({"email": "a@example.org", "password": "x" * 201}, "Field cannot be longer"),
    ({"email": "not an address", "password": PASSWORD}, GENERIC),
])
def test_malformed_sign_in_forms_get_a_clear_message_not_an_error(client, session, data,
                                                                  message):
    token = csrf_token(client, "/staff/login")
    response = client.post("/staff/login", data={"csrf_token": token, **data})
    assert response.status_code == 422
    assert message in error_summary(response)
    assert not is_signed_in(client)
    assert not audit_entries(session, "auth.login.succeeded")


def test_disabled_account_is_refused_with_a_clear_message(client, session):
    user = StaffFactory(is_enabled=False)

    response = sign_in(client, user)

    assert response.status_code == 422
    assert error_summary(response) == "This account is disabled. Ask your school's admin."
    assert not is_signed_in(client)
    [entry] = audit_entries(session, "auth.login.refused", actor_id=user.id)
    assert entry.detail == {"reason": "disabled"}
    assert not audit_entries(session, "auth.login.succeeded")


def test_disabled_account_with_a_wrong_password_gets_the_generic_message(client, session):
    # Only someone who knows the password learns that the account is disabled.
    user = StaffFactory(is_enabled=False)
    response = sign_in(client, user, password="wrong wrong wrong")
    assert error_summary(response) == GENERIC


# -- lockout (service, with an injected clock) -----------------------------------------
@pytest.mark.parametrize("failures, minutes", [
    (1, 0), (4, 0), (5, 1), (6, 2), (7, 4), (8, 8), (10, 32), (11, 60), (12, 60), (40, 60),
])
def test_lock_grows_by_doubling_and_is_capped_at_an_hour(failures, minutes):
    assert auth.lock_minutes(failures, THRESHOLD) == minutes


def _attempt(session, user, password, now):  # noqa: ANN001, ANN202
    return auth.check_password(session, user.email, password, threshold=THRESHOLD, now=now)


def test_lockout_after_threshold_then_growing_delay_then_expiry(session):
    user = StaffFactory()
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

    for attempt in range(1, THRESHOLD):
        with pytest.raises(auth.SignInFailed) as failed:
            _attempt(session, user, "wrong", t0)
        assert type(failed.value) is auth.SignInFailed
        assert user.failed_logins == attempt and user.locked_until_dt is None

    with pytest.raises(auth.AccountLocked) as locked:
        _attempt(session, user, "wrong", t0)
    assert locked.value.message == GENERIC  # a lock says no more than any failure
    assert user.locked_until_dt == t0 + timedelta(minutes=1)

    # The right password while locked is refused and does not unlock or count.
    with pytest.raises(auth.AccountLocked) as locked:
        _attempt(session, user, PASSWORD, t0 + timedelta(seconds=30))
    assert locked.value.message == GENERIC
    assert user.failed_logins == THRESHOLD
    assert user.last_login_dt is None
    refused = audit_entries(session, "auth.login.refused", actor_id=user.id)
    assert [e.detail for e in refused] == [{"reason": "locked"}]

    # Each failure after a lock expires locks for twice as long.
    now = t0
    for minutes in (2, 4, 8, 16, 32, 60, 60):
        now = user.locked_until_dt + timedelta(seconds=1)
        with pytest.raises(auth.AccountLocked):
            _attempt(session, user, "wrong", now)
        assert user.locked_until_dt == now + timedelta(minutes=minutes)

    # Once the lock has run out, the right password signs in and clears the counter.
    outcome = _attempt(session, user, PASSWORD, user.locked_until_dt + timedelta(seconds=1))
    assert outcome.user is user and not outcome.needs_second_factor
    assert user.failed_logins == 0 and user.locked_until_dt is None
    failed = audit_entries(session, "auth.login.failed", actor_id=user.id)
    assert len(failed) == THRESHOLD + 7
    assert failed[-1].detail == {"reason": "wrong_password", "failed_logins": THRESHOLD + 7,
                                 "locked_minutes": 60}


def test_lock_of_one_account_does_not_touch_another(session):
    locked = StaffFactory(failed_logins=THRESHOLD, locked_until_dt=utcnow() + timedelta(minutes=5))
    other = StaffFactory(school=locked.school)
    outcome = auth.check_password(session, other.email, PASSWORD, threshold=THRESHOLD)
    assert outcome.user is other
    assert locked.locked_until_dt is not None


# -- lockout over HTTP -----------------------------------------------------------------
def test_lockout_over_http(client, session):
    user = StaffFactory()

    for _ in range(THRESHOLD - 1):
        assert error_summary(sign_in(client, user, password="wrong")) == GENERIC
    fifth = sign_in(client, user, password="wrong")
    assert fifth.status_code == 422
    assert error_summary(fifth) == GENERIC

    right_but_locked = sign_in(client, user)
    assert right_but_locked.status_code == 422
    assert error_summary(right_but_locked) == GENERIC
    assert not is_signed_in(client)
    user = fresh(session, user)
    assert user.failed_logins == THRESHOLD
    assert user.locked_until_dt > utcnow()

    # The lock runs out (moved into the past here rather than waiting a minute).
    user.locked_until_dt = utcnow() - timedelta(seconds=1)
    session.flush()
    assert sign_in(client, user).status_code == 302
    assert is_signed_in(client)
    user = fresh(session, user)
    assert user.failed_logins == 0 and user.locked_until_dt is None


def test_sign_in_page_when_already_signed_in_goes_home(client, session):
    user = StaffFactory()
    sign_in(client, user)
    response = client.get("/staff/login")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/cases/")


def test_sign_out_ends_the_session_and_is_audited(client, session):
    user = StaffFactory()
    sign_in(client, user)
    token = page_csrf_token(client, "/staff/cases/")
    response = client.post("/staff/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert not is_signed_in(client)
    [entry] = audit_entries(session, "auth.logout")
    assert entry.actor_id == user.id
    assert "You have signed out." in page_text(client.get("/staff/login"))


# -- a lock tells nobody that the address is an account --------------------------------
class _Nobody:
    email = "nobody-at-all@example.org"


def test_a_locked_account_answers_exactly_as_an_unknown_address(client, session):
    user = StaffFactory()

    known = [sign_in(client, user, password="wrong") for _ in range(THRESHOLD + 2)]
    unknown = [sign_in(client, _Nobody, password="wrong") for _ in range(THRESHOLD + 2)]
    right_but_locked = sign_in(client, user)

    assert fresh(session, user).locked_until_dt > utcnow()  # the account is locked all the same
    answers = {(r.status_code, error_summary(r)) for r in [*known, *unknown, right_but_locked]}
    assert answers == {(422, GENERIC)}
    assert not is_signed_in(client)


def test_a_locked_account_checks_the_password_like_an_unknown_address(session, monkeypatch):
    """A locked account must not answer sooner than an unknown one: both hash the password."""
    hashed = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password",
                        lambda password_hash, password: hashed.append(password) or
                        real(password_hash, password))
    locked = StaffFactory(failed_logins=THRESHOLD, locked_until_dt=utcnow() + timedelta(minutes=5))

    for email in (locked.email, _Nobody.email):
        with pytest.raises(auth.SignInFailed) as failed:
            auth.check_password(session, email, "wrong", threshold=THRESHOLD)
        assert failed.value.message == GENERIC

    assert hashed == ["wrong", "wrong"]


# -- nobody can keep the owner locked out ----------------------------------------------
def test_the_owners_browser_signs_in_while_others_keep_the_account_locked(client, other_client,
                                                                         session):
    """Wrong guesses from elsewhere lock the account, but not for a browser it signed in on."""
    lead = LeadFactory()
    sign_in(client, lead)
    client.post("/staff/logout", data={"csrf_token": page_csrf_token(client, "/staff/cases/")})

    for _ in range(THRESHOLD):
        sign_in(other_client, lead, password="wrong")
    lead = fresh(session, lead)
    assert lead.locked_until_dt > utcnow()
    # Well into a lock run, where each wrong try locks for an hour.
    lead.failed_logins, lead.locked_until_dt = THRESHOLD + 10, utcnow() + timedelta(minutes=60)
    session.flush()
    # Elsewhere, even the right password is refused while the lock lasts.
    assert error_summary(sign_in(other_client, lead)) == GENERIC
    assert not is_signed_in(other_client)

    response = sign_in(client, lead)

    assert response.status_code == 302
    assert is_signed_in(client)
    [entry] = audit_entries(session, "auth.login.succeeded", actor_id=lead.id)[1:]
    assert entry.detail == {"method": "password", "while_locked": True}
    # The lock stays for everyone else.
    assert error_summary(sign_in(other_client, lead)) == GENERIC


def test_the_owners_browser_is_forgotten_when_the_password_changes(client, other_client,
                                                                   session):
    lead = LeadFactory()
    sign_in(client, lead)
    client.post("/staff/logout", data={"csrf_token": page_csrf_token(client, "/staff/cases/")})
    lead = fresh(session, lead)
    lead.password_hash = auth.hash_password("a new password set by an admin")
    lead.failed_logins, lead.locked_until_dt = THRESHOLD, utcnow() + timedelta(minutes=5)
    session.flush()

    response = sign_in(client, lead, password="a new password set by an admin")

    assert error_summary(response) == GENERIC
    assert not is_signed_in(client)


def _known_browser(client, user) -> str:  # noqa: ANN001
    """Sign ``user`` in and out on ``client``; return the mark its cookie now holds."""
    sign_in(client, user)
    client.post("/staff/logout", data={"csrf_token": page_csrf_token(client, "/staff/cases/")})
    return client.get_cookie("sr_device", path="/staff/login").value


def _browser_with_cookie(app, value: str):  # noqa: ANN001, ANN202
    """Another browser (and address) sending ``value`` as its sr_device cookie."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = unique_address()
    browser.set_cookie("sr_device", value, path="/staff/login")
    return browser


def _lock_hard(session, user) -> None:  # noqa: ANN001
    """Put ``user`` well into a lock run, where each wrong try locks for an hour."""
    user = fresh(session, user)
    user.failed_logins, user.locked_until_dt = THRESHOLD + 10, utcnow() + timedelta(minutes=60)
    session.flush()


def test_the_owners_browser_gets_only_a_few_wrong_tries_past_a_lock(client, session):
    """A copied browser may not guess without limit: past a lock its failures have a budget."""
    user = StaffFactory()
    _known_browser(client, user)
    _lock_hard(session, user)

    answers = [sign_in(client, user, password="wrong") for _ in range(11)]

    assert {(r.status_code, error_summary(r)) for r in answers} == {(422, GENERIC)}
    assert fresh(session, user).failed_logins == THRESHOLD + 10 + 10  # the 11th was not tried
    # Past the budget even the right password is refused, so no guess is ever confirmed.
    assert error_summary(sign_in(client, user)) == GENERIC
    assert not is_signed_in(client)
    refused = audit_entries(session, "auth.login.refused", actor_id=user.id)
    assert [e.detail for e in refused] == [{"reason": "known_device_limit"}] * 2


def test_copies_of_the_owners_cookie_share_one_budget_however_they_are_dressed(app, client,
                                                                             session):
    """Other values around the mark, or other marks beside it, do not make a fresh budget."""
    lead = LeadFactory()
    mark = _known_browser(client, lead)
    _lock_hard(session, lead)
    copies = [*(f"{mark}.x{n}" for n in range(4)),
              *(f"{mark}.{secrets.token_hex(16)}" for _ in range(4)),
              *(f"{secrets.token_hex(16)}.{mark}" for _ in range(4))]

    answers = [sign_in(_browser_with_cookie(app, copy), lead, password="wrong")
               for copy in copies]

    assert {error_summary(r) for r in answers} == {GENERIC}
    assert fresh(session, lead).failed_logins == THRESHOLD + 10 + 10
    # The budget is the account's: a new copy and the owner's own browser both wait now.
    assert error_summary(sign_in(_browser_with_cookie(app, f"{mark}.y"), lead)) == GENERIC
    assert error_summary(sign_in(client, lead)) == GENERIC
    assert not is_signed_in(client)
    assert not audit_entries(session, "auth.login.succeeded", actor_id=lead.id)[1:]


def test_made_up_marks_get_nothing_past_a_lock_and_spend_nothing(app, client, session):
    lead = LeadFactory()
    mark = _known_browser(client, lead)
    _lock_hard(session, lead)

    for value in (secrets.token_hex(16), ".".join(secrets.token_hex(16) for _ in range(5)),
                  mark.upper(), mark[:-1] + ("0" if mark[-1] != "0" else "1")):
        browser = _browser_with_cookie(app, value)
        assert error_summary(sign_in(browser, lead)) == GENERIC  # the right password
        assert error_summary(sign_in(browser, lead, password="wrong")) == GENERIC
        assert not is_signed_in(browser)

    assert fresh(session, lead).failed_logins == THRESHOLD + 10  # nothing was tried
    assert sign_in(client, lead).status_code == 302  # the owner's budget is whole


def test_without_the_rate_limiter_the_lock_holds_the_owners_browser_too(client, session,
                                                                         monkeypatch):
    """No counter for the budget, no way past a lock (RATELIMIT_ENABLED off: never in production)."""
    from app.extensions import limiter

    lead = LeadFactory()
    _known_browser(client, lead)
    _lock_hard(session, lead)
    monkeypatch.setattr(limiter, "enabled", False)

    assert error_summary(sign_in(client, lead)) == GENERIC
    assert not is_signed_in(client)


def test_a_lock_that_ended_long_ago_is_forgotten(session):
    """A wrong password a day after a lock ended starts a fresh count, not another hour."""
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    user = StaffFactory(failed_logins=THRESHOLD + 10, locked_until_dt=t0 - timedelta(days=1))

    with pytest.raises(auth.SignInFailed) as failed:
        _attempt(session, user, "wrong", t0)

    assert type(failed.value) is auth.SignInFailed
    assert (user.failed_logins, user.locked_until_dt) == (1, None)
    # Within the day, a lock run goes on where it was.
    user.failed_logins, user.locked_until_dt = THRESHOLD + 10, t0 - timedelta(hours=2)
    with pytest.raises(auth.AccountLocked):
        _attempt(session, user, "wrong", t0)
    assert user.locked_until_dt == t0 + timedelta(minutes=60)


def test_the_browser_keeps_only_a_keyed_mark_sent_to_the_sign_in_pages(client, session):
    user = StaffFactory()

    response = sign_in(client, user)

    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("sr_device=")]
    assert {"HttpOnly", "SameSite=Strict", "Path=/staff/login"} <= {
        part.strip() for part in header.split(";")}
    value = client.get_cookie("sr_device", path="/staff/login").value
    assert value == auth.device_mark(user) and len(value) == 32  # no address, no id


def test_the_budget_is_counted_under_no_mark(app, client, session, backends):
    if not backends.has_redis:
        pytest.skip(f"Redis unavailable ({backends.redis_error}); limits are in memory")
    import redis

    lead = LeadFactory()
    mark = _known_browser(client, lead)
    _lock_hard(session, lead)
    sign_in(client, lead, password="wrong")

    store = redis.Redis.from_url(app.config["RATELIMIT_STORAGE_URI"])
    prefix = app.config["RATELIMIT_KEY_PREFIX"]
    keys = [k.decode() for k in store.scan_iter(match=f"*{prefix}/staff-known-device*",
                                                count=1000)]
    assert keys  # the budget is there ...
    assert not [k for k in keys if mark in k]  # ... under a digest, not the mark itself
