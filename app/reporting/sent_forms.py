"""Each report form page sends once: the POST that sends it first claims its id, server side.

Reloading the "report sent" page, or Back, Forward and "resend", posts the same form
again, and the CSRF token would let it through: a second case with a new key and, for a
critical report, a second alert to every lead. Each form page carries a random id, drawn
per page so that two tabs are two reports. A POST claims the id before it submits, in one
atomic step, so a replay or a second click of the same form is refused and writes nothing;
a submission that does not go through gives its claim back.

The claim is not kept in the student cookie: that cookie is signed, not encrypted, and its
signature carries the second it was written, so a mark in it would tell whoever holds the
device that it sent a report, and when (the case's creation time). Claims live where the
rate limits live (Redis when there is one, else this process's memory), under a hash of
the id, for a day, and do not depend on rate limits being switched on. A store that does
not answer lets the report through: a report lost is worse than one sent twice.
"""

from __future__ import annotations

import hashlib
import logging
from urllib.parse import urlparse

from flask import Flask, current_app
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage, storage_from_string

from config.base import ConfigurationError

log = logging.getLogger(__name__)

EXTENSION = "safe_report.sent_forms"
#: How long a sent form stays refused: longer than anyone keeps the "report sent" page open.
CLAIM_SECONDS = 24 * 60 * 60
#: A store that does not answer within this gives the report through rather than hold it.
STORE_TIMEOUT_SECONDS = 2


class SentForms:
    """The ids of the report form pages sent lately, claimed one POST at a time."""

    def __init__(self, storage_uri: str, *, key_prefix: str) -> None:
        options: dict = {"key_prefix": key_prefix, "wrap_exceptions": True}
        if urlparse(storage_uri).scheme.startswith(("redis", "valkey")):
            options.update(socket_timeout=STORE_TIMEOUT_SECONDS,
                           socket_connect_timeout=STORE_TIMEOUT_SECONDS)
        self.storage: Storage = storage_from_string(storage_uri, **options)
        if not isinstance(self.storage, MovingWindowSupport):
            raise ConfigurationError("RATELIMIT_STORAGE_URI must name Redis (redis://...) or "
                                     "memory://: sent report forms are kept there.")

    @staticmethod
    def _key(form_id: str) -> str:
        # A hash, so the store never holds an id that a page (or a browser's history) shows.
        return "sent-form:" + hashlib.sha256(form_id.encode()).hexdigest()

    def claim(self, form_id: str) -> bool:
        """Claim ``form_id`` for one submission; False when it was claimed already.

        A moving window of one entry: one atomic step in either store (a Lua script in
        Redis, a lock in memory), so of two POSTs at the same moment exactly one wins.
        """
        try:
            return bool(self.storage.acquire_entry(self._key(form_id), 1, CLAIM_SECONDS))
        except (StorageError, *_errors(self.storage)) as exc:
            _store_unavailable("claim", exc)
            return True

    def release(self, form_id: str) -> None:
        """Give the claim back: the submission did not go through, the form may be sent."""
        try:
            self.storage.clear(self._key(form_id))
        except (StorageError, *_errors(self.storage)) as exc:
            _store_unavailable("release", exc)


def _errors(storage: Storage) -> tuple[type[Exception], ...]:
    """The store's own errors (acquire_entry raises them unwrapped)."""
    errors = storage.base_exceptions
    return errors if isinstance(errors, tuple) else (errors,)


def _store_unavailable(step: str, exc: Exception) -> None:
    # No form id, not even hashed: the log must not tie a page to a report.
    log.warning("sent-form store unavailable; the report form is not guarded against resending",
                extra={"event": "sent_form_claim_unavailable", "step": step,
                       "error": type(exc.__cause__ or exc).__name__})


def init_app(app: Flask) -> None:
    """Create the app's store of sent forms, once: the rate limits' store, limits on or off."""
    app.extensions[EXTENSION] = SentForms(app.config["RATELIMIT_STORAGE_URI"],
                                          key_prefix=app.config["RATELIMIT_KEY_PREFIX"])


def sent_forms() -> SentForms:
    return current_app.extensions[EXTENSION]
