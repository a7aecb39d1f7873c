"""Rate-limit keys for the student side that never keep an address.

The client address is reduced to an HMAC under a key that changes every day,
so the limiter's counters (short-lived keys in Redis) cannot be turned back
into an address, and yesterday's counters cannot be linked to today's.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

from flask import current_app, request

#: Wrong case keys allowed per client address, on the student pages and on the API (each
#: counts its own). Only wrong keys count; an address past the limit waits, the right key
#: too, so that a guess is never confirmed while it waits.
#:
#: A school's students share one public address, so the limit must hold a whole school's
#: typing: 1,500 students with one in ten mistyping a seven-word key twice in the same
#: hour is 300 an hour, and a rush at break a few dozen in a minute. (It was 10 a minute
#: and 60 an hour: a school's typing could reach that, and then nobody there could open
#: a report, right keys included.) Guessing needs no tight limit to fail: a key is 7 words
#: from 7,772 (about 90 bits), so one address at 1,000 an hour for a century, against a
#: million live reports, opens one with a chance of about 1 in 2 x 10^12. What the limit
#: stops is a script hammering the lookup (a keyed hash and an indexed read per key):
#: 60 a minute stops it within the minute, and locking a school out takes a deliberate
#: flood of a thousand an hour, never a bad day of typing.
WRONG_KEY_LIMITS = "60 per minute; 1000 per hour"


def anonymous_client_key() -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    day_key = hmac.new(secret, b"ratelimit:" + date.today().isoformat().encode(),
                       hashlib.sha256).digest()
    address = (request.remote_addr or "-").encode()
    return "c:" + hmac.new(day_key, address, hashlib.sha256).hexdigest()[:24]


def key_attempt_failed(response) -> bool:  # noqa: ANN001
    """Count only failed key attempts, so the real owner is never locked out for using it."""
    return bool(getattr(response, "key_attempt_failed", False))
