"""Signing out makes the session cookie worthless, including any copy of it.

Regression: sign-out only cleared the cookie in the browser that asked; the
signed cookie is the whole session (there is no server-side record), so a copy
taken before (a shared school computer, a proxy) kept working, and every use
moved its idle clock on.
"""

from __future__ import annotations

from tests.factories import StaffFactory
from tests.helpers import csrf_token, sign_in


def test_a_copy_of_the_cookie_no_longer_works_after_sign_out(app, client, session):
    user = StaffFactory()
    session.commit()
    sign_in(client, user)
    assert client.get("/staff/cases/").status_code == 200
    stolen = client.get_cookie("sr_staff", path="/staff")
    assert stolen is not None

    token = csrf_token(client, "/staff/password")
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 302

    thief = app.test_client()
    thief.environ_base["REMOTE_ADDR"] = client.environ_base["REMOTE_ADDR"]
    thief.set_cookie("sr_staff", stolen.value, path="/staff")
    response = thief.get("/staff/cases/")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]

    # signing in again works as before
    assert sign_in(client, user).status_code == 302
    assert client.get("/staff/cases/").status_code == 200
