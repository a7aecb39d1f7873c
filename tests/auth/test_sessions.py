"""Staff sessions: idle timeout, cookie flags, sign-out everywhere, CSRF on sign-in."""

from __future__ import annotations

import time

from tests.auth.conftest import (
    audit_entries,
    fresh,
    is_signed_in,
    page_csrf_token,
    page_text,
)
from tests.factories import PASSWORD, AdminFactory, StaffFactory
from tests.helpers import sign_in


def _session_cookie(response) -> str:  # noqa: ANN001
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("sr_staff=")]
    return cookie


def test_idle_session_is_signed_out_with_a_clear_message(app, client, session):
    user = StaffFactory()
    sign_in(client, user)
    assert client.get("/staff/cases/").status_code == 200
    idle = app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    with client.session_transaction("/staff/") as sess:
        assert sess["last_seen"] <= time.time()
        sess["last_seen"] = time.time() - idle - 5

    response = client.get("/staff/cases/")

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/login")
    login = page_text(client.get("/staff/login"))
    assert "You were signed out because the page was left idle" in login
    assert not is_signed_in(client)


def test_activity_keeps_the_session_alive(app, client, session):
    sign_in(client, StaffFactory())
    idle = app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    with client.session_transaction("/staff/") as sess:
        sess["last_seen"] = time.time() - idle + 60  # a minute to spare
    assert client.get("/staff/cases/").status_code == 200
    with client.session_transaction("/staff/") as sess:
        assert time.time() - sess["last_seen"] < 5  # the clock was reset by the visit


def test_an_active_session_still_ends_hours_after_sign_in(app, client, session):
    sign_in(client, StaffFactory())
    limit = app.config["STAFF_SESSION_MAX_HOURS"] * 3600
    with client.session_transaction("/staff/") as sess:
        assert time.time() - sess["signed_in_at"] < 60
        sess["signed_in_at"] = time.time() - limit + 60  # a minute to spare
    assert client.get("/staff/cases/").status_code == 200
    with client.session_transaction("/staff/") as sess:
        sess["signed_in_at"] = time.time() - limit - 5  # active all along, but too long

    response = client.get("/staff/cases/")

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/login")
    login = page_text(client.get("/staff/login"))
    assert f"signed in more than {app.config['STAFF_SESSION_MAX_HOURS']} hours ago" in login
    assert not is_signed_in(client)


def test_a_session_from_before_the_limit_existed_ends(client, session):
    sign_in(client, StaffFactory())
    with client.session_transaction("/staff/") as sess:
        del sess["signed_in_at"]
    assert client.get("/staff/cases/").status_code == 302
    assert not is_signed_in(client)


def test_session_cookie_is_http_only_and_same_site_lax(client, session):
    response = sign_in(client, StaffFactory())
    cookie = _session_cookie(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/staff" in cookie
    assert "Secure" not in cookie  # testing runs over plain http; production: test_config


def test_disabling_an_account_signs_it_out_everywhere(client, other_client, session):
    admin = AdminFactory()
    user = StaffFactory(school=admin.school)
    sign_in(other_client, user)
    assert is_signed_in(other_client)

    sign_in(client, admin)
    token = page_csrf_token(client, "/staff/admin/staff")
    client.post(f"/staff/admin/staff/{user.id}/disable", data={"csrf_token": token})

    assert other_client.get("/staff/cases/").status_code == 302
    assert not is_signed_in(other_client)


def test_old_sessions_stay_dead_when_a_disabled_account_is_enabled_again(client, other_client,
                                                                        session):
    admin = AdminFactory()
    user = StaffFactory(school=admin.school)
    sign_in(other_client, user)
    sign_in(client, admin)
    token = page_csrf_token(client, "/staff/admin/staff")
    client.post(f"/staff/admin/staff/{user.id}/disable", data={"csrf_token": token})
    client.post(f"/staff/admin/staff/{user.id}/enable", data={"csrf_token": token})

    assert fresh(session, user).is_enabled
    assert not is_signed_in(other_client)


def test_resetting_an_account_signs_it_out_everywhere(client, other_client, session):
    admin = AdminFactory()
    user = StaffFactory(school=admin.school)
    sign_in(other_client, user)
    assert is_signed_in(other_client)

    sign_in(client, admin)
    token = page_csrf_token(client, "/staff/admin/staff")
    client.post(f"/staff/admin/staff/{user.id}/reset", data={"csrf_token": token})

    assert fresh(session, user).is_enabled  # still enabled, yet the old session is gone
    assert not is_signed_in(other_client)


def test_sign_in_without_a_csrf_token_is_a_clear_400(client, session):
    user = StaffFactory()

    response = client.post("/staff/login", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 400
    page = page_text(response)
    assert "This form expired or was sent from somewhere else" in page
    assert "Traceback" not in page and "CSRF" not in page
    assert not is_signed_in(client)
    assert fresh(session, user).failed_logins == 0
    assert not audit_entries(session)  # no sign-in, not even a failed one, was attempted


def test_sign_in_with_a_forged_csrf_token_is_refused(client, session):
    user = StaffFactory()
    client.get("/staff/login")
    response = client.post("/staff/login", data={"csrf_token": "forged", "email": user.email,
                                                 "password": PASSWORD})
    assert response.status_code == 400
    assert not is_signed_in(client)


def test_json_clients_get_a_problem_document_for_a_missing_token(client, session):
    response = client.post("/staff/login", data={}, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 400
