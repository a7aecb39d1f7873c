"""Schools by their address slug, kept per process for the student pages.

Every student request starts by finding its school. A school's row changes
rarely (its settings, through the command line), so each process keeps the
schools it has looked up for ``SCHOOL_CACHE_SECONDS`` and a form page then
needs no database round trip at all. A change reaches every process within
that many seconds; 0 turns the cache off.

The cached rows are detached from any session and shared by every request of
the process: read them, never change them (a change would neither be saved nor
stay private to the request).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.schools.models import School

# Built once: SQLAlchemy keeps a statement's cache key on the statement object.
_SCHOOL_BY_SLUG = select(School).where(School.slug == bindparam("slug"))
_EXTENSION = "safe_report.school_cache"


class SchoolCache:
    """Slug to school, each entry kept for ``seconds`` (misses are not kept)."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, School]] = {}

    def get(self, session: Session, slug: str) -> School | None:
        now = self._clock()
        entry = self._entries.get(slug)
        if entry is not None and entry[0] > now:
            return entry[1]
        school = session.execute(_SCHOOL_BY_SLUG, {"slug": slug}).scalar_one_or_none()
        if school is None or self.seconds <= 0:
            return school
        # Every column is loaded and School has no relationships, so the detached
        # copy answers every attribute without a session.
        session.expunge(school)
        self._entries[slug] = (now + self.seconds, school)  # one assignment: thread-safe
        return school


def school_cache() -> SchoolCache:
    cache = current_app.extensions.get(_EXTENSION)
    if cache is None:
        cache = current_app.extensions[_EXTENSION] = SchoolCache(
            current_app.config["SCHOOL_CACHE_SECONDS"])
    return cache
