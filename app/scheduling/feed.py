"""A counsellor's sessions as an iCalendar feed at a secret, revocable address.

The address carries a random token; only its SHA-256 is stored, so a copy of
the database does not give anyone the feeds. A calendar app fetches the feed
without signing in, and may keep or sync it anywhere: the feed therefore holds
the case reference, the time, the kind of session and the place, and never a
name or anything a reporter wrote.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.audit import services as audit
from app.auth.models import StaffUser
from app.errors import NotFound
from app.policy import require_casework
from app.scheduling.models import FollowUpSession, SessionStatus

#: How far back the feed reaches; calendars keep older events themselves.
FEED_HISTORY = timedelta(days=30)
FEED_STATUSES = (SessionStatus.SCHEDULED, SessionStatus.COMPLETED)
_MAX_TOKEN = 100


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/ical/{token}.ics"


def has_feed(user: StaffUser) -> bool:
    return user.ical_token_digest is not None


def create_feed(session: Session, user: StaffUser, *, now: datetime) -> str:
    """Make (or replace) the user's feed address; return its token, shown only once."""
    require_casework(user)
    rotated = user.ical_token_digest is not None
    token = secrets.token_urlsafe(32)
    user.ical_token_digest = token_digest(token)
    audit.record(session, "calendar.feed_created", school_id=user.school_id, actor_id=user.id,
                 target=f"staff:{user.id}", at=now, detail={"rotated": rotated})
    return token


def revoke_feed(session: Session, user: StaffUser, *, now: datetime) -> bool:
    """Turn the user's feed address off; return whether there was one."""
    require_casework(user)
    if user.ical_token_digest is None:
        return False
    user.ical_token_digest = None
    audit.record(session, "calendar.feed_revoked", school_id=user.school_id, actor_id=user.id,
                 target=f"staff:{user.id}", at=now)
    return True


def feed_owner(session: Session, token: str) -> StaffUser:
    """The enabled casework staff member whose feed ``token`` opens, else NotFound."""
    if not token or len(token) > _MAX_TOKEN:
        raise NotFound()
    user = session.execute(
        select(StaffUser).where(StaffUser.ical_token_digest == token_digest(token))
    ).scalar_one_or_none()
    if user is None or not user.is_enabled or not user.is_casework_staff:
        raise NotFound()
    return user


def feed_sessions(session: Session, user: StaffUser, *, now: datetime) -> list[FollowUpSession]:
    return list(session.execute(
        select(FollowUpSession).where(
            FollowUpSession.counsellor_id == user.id,
            FollowUpSession.school_id == user.school_id,
            FollowUpSession.status.in_(FEED_STATUSES),
            FollowUpSession.start_dt >= now - FEED_HISTORY)
        .options(joinedload(FollowUpSession.case))
        .order_by(FollowUpSession.start_dt, FollowUpSession.id)).scalars())


def render_feed(session: Session, token: str, *, now: datetime, base_url: str) -> bytes:
    """The feed behind ``token`` as an iCalendar document."""
    user = feed_owner(session, token)
    host = urlsplit(base_url).hostname or "safe-report"
    cal = Calendar()
    cal.add("prodid", "-//Safe Report//Follow-up sessions//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Safe Report sessions")
    cal.add("x-published-ttl", "PT15M")
    for fs in feed_sessions(session, user, now=now):
        reference = fs.case.reference
        event = Event()
        event.add("uid", f"follow-up-session-{fs.id}@{host}")
        event.add("dtstamp", now)
        event.add("dtstart", fs.start_dt)
        event.add("dtend", fs.end_dt)
        event.add("summary", f"{reference}: {fs.kind.label}")
        if fs.location:
            event.add("location", fs.location)
        done = " Completed." if fs.status is SessionStatus.COMPLETED else ""
        event.add("description",
                  f"{fs.mode.label}.{done} Case {reference}: "
                  f"{base_url.rstrip('/')}/staff/cases/{fs.case_id}")
        event.add("status", "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()
