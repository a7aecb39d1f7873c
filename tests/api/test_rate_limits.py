"""Case-key attempts are rate limited per address; only wrong keys count."""

from __future__ import annotations

from tests.api.conftest import assert_problem, key_header, submit
from tests.helpers import unique_address

WRONG = key_header("these seven words are not anybody's key")


def test_wrong_keys_get_429_after_ten_a_minute(client, school):
    answer = submit(client, school)

    for _ in range(10):
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

    for _ in range(25):
        response = client.get("/api/v1/report", headers=key_header(answer["case_key"]))
        assert response.get_json()["reference"] == answer["reference"]
    for _ in range(10):
        assert client.get("/api/v1/report", headers=WRONG).status_code == 401

    assert client.get("/api/v1/report", headers=WRONG).status_code == 429


def test_key_endpoints_share_one_bucket(client, school):
    submit(client, school)

    for _ in range(5):
        assert client.get("/api/v1/report", headers=WRONG).status_code == 401
    for _ in range(5):
        assert client.post("/api/v1/report/messages", headers=WRONG,
                           json={"body": "hi"}).status_code == 401

    assert_problem(client.post("/api/v1/report/evidence", headers=WRONG), 429)


def test_another_address_is_not_blocked(app, client, school):
    answer = submit(client, school)
    for _ in range(11):
        client.get("/api/v1/report", headers=WRONG)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = unique_address()

    response = other.get("/api/v1/report", headers=key_header(answer["case_key"]))

    assert response.get_json()["reference"] == answer["reference"]
