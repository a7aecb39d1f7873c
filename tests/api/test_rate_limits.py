"""Case-key attempts are rate limited per address; only wrong keys count."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_problem, key_header, submit
from tests.helpers import unique_address

WRONG = key_header("these seven words are not anybody's key")
PER_MINUTE = 60  # app.reporting.ratelimit.WRONG_KEY_LIMITS


def test_wrong_keys_get_429_after_the_limit_a_minute(client, school):
    answer = submit(client, school)

    for _ in range(PER_MINUTE):
        assert client.get("/api/v1/report", headers=WRONG).status_code == 401
    refused = client.get("/api/v1/report", headers=WRONG)
    with_right_key = client.get("/api/v1/report", headers=key_header(answer["case_key"]))

    problem = assert_problem(refused, 429)
    assert "wait" in problem["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Once the address is blocked, even the right key waits: a guess must not be confirmed.
    assert with_right_key.status_code == 429
    assert "reference" not in with_right_key.get_json()


def test_right_key_requests_are_not_counted(client, school):
    answer = submit(client, school)

    for _ in range(PER_MINUTE + 5):
        response = client.get("/api/v1/report", headers=key_header(answer["case_key"]))
        assert response.get_json()["reference"] == answer["reference"]
    for _ in range(PER_MINUTE):
        assert client.get("/api/v1/report", headers=WRONG).status_code == 401

    assert client.get("/api/v1/report", headers=WRONG).status_code == 429


def test_key_endpoints_share_one_bucket(client, school):
    submit(client, school)

    for _ in range(PER_MINUTE // 2):
        assert client.get("/api/v1/report", headers=WRONG).status_code == 401
    for _ in range(PER_MINUTE // 2):
        assert client.post("/api/v1/report/messages", headers=WRONG,
                           json={"body": "hi"}).status_code == 401

    assert_problem(client.post("/api/v1/report/evidence", headers=WRONG), 429)


def test_another_address_is_not_blocked(app, client, school):
    answer = submit(client, school)
    for _ in range(PER_MINUTE + 1):
        client.get("/api/v1/report", headers=WRONG)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = unique_address()

    response = other.get("/api/v1/report", headers=key_header(answer["case_key"]))

    assert response.get_json()["reference"] == answer["reference"]


def test_a_schools_typos_from_one_address_do_not_lock_out_the_right_key(client, school):
    """Fifty-nine wrong keys in a minute from one address (ten were enough before)."""
    answer = submit(client, school)
    for _ in range(PER_MINUTE - 1):
        assert client.get("/api/v1/report", headers=WRONG).status_code == 401

    response = client.get("/api/v1/report", headers=key_header(answer["case_key"]))

    assert response.get_json()["reference"] == answer["reference"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer abc"},
                                     {"Authorization": "CaseKey "}])
def test_a_request_without_a_case_key_is_not_counted_as_a_wrong_key(client, school, headers):
    answer = submit(client, school)
    for _ in range(PER_MINUTE + 5):
        assert assert_problem(client.get("/api/v1/report", headers=headers), 401)

    response = client.get("/api/v1/report", headers=key_header(answer["case_key"]))

    assert response.get_json()["reference"] == answer["reference"]
