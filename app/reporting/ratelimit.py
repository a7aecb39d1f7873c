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


def anonymous_client_key() -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    day_key = hmac.new(secret, b"ratelimit:" + date.today().isoformat().encode(),
                       hashlib.sha256).digest()
    address = (request.remote_addr or "-").encode()
    return "c:" + hmac.new(day_key, address, hashlib.sha256).hexdigest()[:24]


def key_attempt_failed(response) -> bool:  # noqa: ANN001
    """Count only failed key attempts, so the real owner is never locked out for using it."""
    return bool(getattr(response, "key_attempt_failed", False))
