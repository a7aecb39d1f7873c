"""Pages and answers holding secrets are never kept by a browser or proxy cache.

Regression: the API answered the case key (and the messages of a case) without
Cache-Control, and so did the two-factor enrolment page (the TOTP secret) and the
admin pages showing a temporary password.
"""

from __future__ import annotations

import re

from app.security import verify_password
from tests.api.conftest import key_header, submit
from tests.factories import AdminFactory, StaffFactory
from tests.helpers import csrf_token, sign_in


def test_the_api_answer_holding_the_case_key_is_not_cached(client, school):
    response = client.post(f"/api/v1/schools/{school.slug}/reports", json={
        "is_danger": False, "is_self_harm": False, "reporter_role": "target",
        "details": "Someone keeps posting mean comments under my photos."})
    assert response.status_code == 201
    assert len(response.get_json()["case_key"].split()) == 7
    assert response.headers["Cache-Control"] == "no-store"


def test_the_api_answer_holding_the_messages_is_not_cached(client, school):
    answer = submit(client, school)
    response = client.get("/api/v1/report", headers=key_header(answer["case_key"]))
    assert response.status_code == 200 and response.get_json()["reference"] == answer["reference"]
    assert response.headers["Cache-Control"] == "no-store"
    refused = client.get("/api/v1/report", headers=key_header("wrong " * 7))
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"


def test_the_two_factor_enrolment_page_with_the_secret_is_not_cached(client, session):
    user = StaffFactory()
    sign_in(client, user)
    response = client.get("/staff/two-factor/setup")
    session.refresh(user)
    # the live secret is on the page, so the page must not be kept
    assert f"<code>{user.totp_secret}</code>" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_page_with_a_temporary_password_is_not_cached(client, session):
    admin = AdminFactory()
    user = StaffFactory(school=admin.school)
    session.commit()
    sign_in(client, admin)
    token = csrf_token(client, "/staff/admin/staff")
    response = client.post(f"/staff/admin/staff/{user.id}/reset", data={"csrf_token": token})
    assert response.status_code == 200
    password = re.search(r'<p class="case-key">([^<]+)</p>', response.get_data(as_text=True))[1]
    session.refresh(user)
    assert verify_password(user.password_hash, password)  # the page holds a working password
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
