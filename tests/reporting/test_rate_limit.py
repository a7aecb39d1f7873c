"""Case-key guessing is rate limited per address, without keeping the address anywhere."""

from __future__ import annotations

import pytest

from app.extensions import limiter
from tests.helpers import csrf_token
from tests.reporting.conftest import open_with_key, submit, text

GENERIC = "We could not find a report with that case key."
WRONG = "wrong words that open nothing at all here"


PER_MINUTE = 60  # app.reporting.ratelimit.WRONG_KEY_LIMITS


def _wrong_keys(client, slug: str, count: int) -> None:  # noqa: ANN001
    """``count`` wrong keys from the client's address, each answered as a wrong key."""
    token = csrf_token(client, f"/s/{slug}/check")
    for _ in range(count):
        response = client.post(f"/s/{slug}/check", data={"csrf_token": token, "case_key": WRONG})
        assert response.status_code == 422 and GENERIC in text(response)


def test_a_schools_typos_from_one_address_do_not_lock_out_the_right_key(client, school):
    """A school's students share one public address: their mistyped keys add up there.
    Fifty-nine wrong keys in a minute (ten were enough before) still leave the owner in."""
    key = submit(client, school.slug)
    _wrong_keys(client, school.slug, PER_MINUTE - 1)

    assert open_with_key(client, school.slug, key).status_code == 303


def test_wrong_keys_are_limited_but_the_owners_key_is_not_counted(app, client, new_client,
                                                                   school, backends):
    key = submit(client, school.slug)
    # Failures up to one short of the limit, then the owner gets in again and again:
    # successes are not counted.
    _wrong_keys(client, school.slug, PER_MINUTE - 1)
    for _ in range(4):
        assert open_with_key(client, school.slug, key).status_code == 303
    # The last failure the limit allows is still answered; the next attempt is refused.
    assert open_with_key(client, school.slug, WRONG).status_code == 422
    refused = open_with_key(client, school.slug, WRONG)
    assert refused.status_code == 429
    page = text(refused)
    assert "Too many attempts" in page and "wait" in page
    assert "Traceback" not in page and GENERIC not in page
    assert "data-quick-exit" in page  # still a student page, with its way out
    # now every key attempt from this address waits, the right one too
    assert open_with_key(client, school.slug, key).status_code == 429
    # ... while another address (another student) is not affected
    other = new_client()
    assert open_with_key(other, school.slug, key).status_code == 303


def test_an_empty_or_refused_key_form_is_not_a_wrong_key(client, school):
    key = submit(client, school.slug)
    token = csrf_token(client, f"/s/{school.slug}/check")
    for _ in range(PER_MINUTE + 5):
        response = client.post(f"/s/{school.slug}/check", data={"csrf_token": token,
                                                                 "case_key": ""})
        assert response.status_code == 422 and "Type your case key." in text(response)
    assert open_with_key(client, school.slug, key).status_code == 303


def test_the_limits_leave_room_for_a_school_and_stop_a_script():
    from limits import parse_many

    from app.reporting.ratelimit import WRONG_KEY_LIMITS

    per_period = {limit.GRANULARITY.name: limit.amount for limit in parse_many(WRONG_KEY_LIMITS)}
    assert per_period == {"minute": PER_MINUTE, "hour": per_period["hour"]}
    # 1,500 students behind one address: one in ten mistyping twice in the same hour fits ...
    assert per_period["hour"] >= 1500 // 10 * 2
    # ... and a script is stopped within a minute, at a pace the database shrugs off.
    assert per_period["minute"] <= 100 and per_period["hour"] <= 20 * per_period["minute"]


def test_reading_the_case_page_is_not_limited(client, school):
    key = submit(client, school.slug)
    assert open_with_key(client, school.slug, key).status_code == 303
    for _ in range(15):
        assert client.get(f"/s/{school.slug}/check").status_code == 200


def test_the_limiter_keeps_no_address_in_redis(app, client, school, backends):
    if not backends.has_redis:
        pytest.skip(f"Redis unavailable ({backends.redis_error}); limits are in memory")
    import redis

    address = "203.0.113.199"
    client.environ_base["REMOTE_ADDR"] = address
    for _ in range(3):
        assert open_with_key(client, school.slug, WRONG).status_code == 422
    prefix = app.config["RATELIMIT_KEY_PREFIX"]
    store = redis.Redis.from_url(app.config["RATELIMIT_STORAGE_URI"])
    keys = [k.decode() for k in store.scan_iter(match=f"*{prefix}*", count=1000)]
    assert any("reporting.check" in k for k in keys), keys  # the counters are there ...
    assert not [k for k in keys if address in k]  # ... but name no address
    for k in keys:
        if store.type(k) == b"list":
            assert not any(address.encode() in v for v in store.lrange(k, 0, -1))


def test_the_limiter_counts_in_redis_when_redis_is_there(app, backends):
    with app.app_context():
        storage = limiter.storage
        assert ("Redis" in type(storage).__name__) == backends.has_redis
        assert storage.check()
    assert limiter.enabled
