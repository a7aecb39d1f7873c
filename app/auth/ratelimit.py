"""The budget of wrong tries that browsers holding an account's mark share past its lock.

It is the account's, not the cookie's: the cookie is the browser's to write, so a
budget keyed by its value let a copy of it, sent with other values around the mark,
start afresh with every request. The sign-in services test and spend it while they
hold the account's row, so parallel tries cannot overdraw it.
"""

from __future__ import annotations

import hashlib

from flask import current_app
from limits import parse_many

from app.auth import services as auth
from app.auth.models import StaffUser
from app.extensions import limiter

#: Wrong passwords and codes (both steps count) allowed, between them, to every browser
#: that holds an account's mark while the account is locked.
KNOWN_DEVICE_LIMITS = parse_many("10 per hour; 20 per day")


class KnownDeviceBudget:
    """A :class:`auth.DeviceBudget` counted in the rate limiter's storage.

    With the limiter switched off (``RATELIMIT_ENABLED``, never in production)
    nothing counts the tries, so there is no budget: a lock holds up every
    browser, the owner's too, until it runs out.
    """

    def _identifiers(self, user: StaffUser) -> tuple[str, ...]:
        # By digest: the limiter's keys never hold a mark itself. The mark changes with
        # the password, and so does the budget (the old cookies are void anyway).
        digest = hashlib.sha256(auth.device_mark(user).encode()).hexdigest()[:24]
        return current_app.config.get("RATELIMIT_KEY_PREFIX", ""), "staff-known-device", digest

    def has_left(self, user: StaffUser) -> bool:
        if not limiter.enabled:
            return False
        key = self._identifiers(user)
        return all(limiter.limiter.test(limit, *key) for limit in KNOWN_DEVICE_LIMITS)

    def spend(self, user: StaffUser) -> None:
        if limiter.enabled:
            key = self._identifiers(user)
            for limit in KNOWN_DEVICE_LIMITS:
                limiter.limiter.hit(limit, *key)


known_device_budget = KnownDeviceBudget()
