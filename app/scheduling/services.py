"""Follow-up sessions: scheduling, the state moves of a session, reminders and the week view.

Every function takes the database session, the acting staff member and ``now``
explicitly; the caller commits. Times are aware UTC inside; a start typed by a
counsellor is a wall-clock time in the school's zone and is converted here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, joinedload, undefer

from app.audit import services as audit
from app.auth.models import StaffUser
from app.cases.deadlines import mark_staff_action
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.people_models import CasePerson, PersonKind, PersonRole
from app.cases.services import get_case, require_not_purged
from app.cases.vocabulary import ReporterRole
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.ids import parse_id
from app.notifications.models import Notification, NotificationStatus
from app.notifications.outbox import queue_notification
from app.policy import can_work_case, require_case_access, require_case_work, require_casework
from app.querystring import EARLIEST, LATEST
from app.reporting.models import Report
from app.scheduling.models import FollowUpSession, SessionKind, SessionMode, SessionStatus
from app.schools.models import DEFAULT_OUTCOME_LABELS, DEFAULT_SESSION_LABELS, School

DEFAULT_DURATION = 60
MIN_DURATION = 15
MAX_DURATION = 240
MAX_LOCATION = 120
MAX_TEXT = 10_000
SCORE_ITEMS = 4
SCORE_MAX = 10
#: How far ahead a session may be booked: a start further off is a typing mistake.
MAX_AHEAD = timedelta(days=731)
PAST_MESSAGE = "A session cannot start in the past: choose a later time."
AHEAD_MESSAGE = "A session can be booked at most two years ahead: check the year."
COUNSELLOR_MESSAGE = "Choose a counsellor of your school from the list."

#: Sessions that hold a counsellor's time: a cancelled or missed one frees it.
OCCUPYING = (SessionStatus.SCHEDULED, SessionStatus.COMPLETED)
#: Reminder leads before the start (DOMAIN.md: 24 hours and 1 hour).
REMINDER_LEADS = (("24h", timedelta(hours=24)), ("1h", timedelta(hours=1)))
STAFF_REMINDER = "session_reminder"
REPORTER_REMINDER = "session_reminder_reporter"

#: Who reported -> the kinds of session that reporter would attend. A reporter is never
#: reminded of a session they would not be at (a meeting with the student who bullied
#: them, say): the reminder alone would tell them it is happening.
_REPORTER_ATTENDS = {
    ReporterRole.TARGET: {SessionKind.TARGET_CHECK_IN, SessionKind.RESTORATIVE},
    ReporterRole.PARENT: {SessionKind.PARENT},
}

_WHOLE_NUMBER = re.compile(r"^\s*\d{1,3}\s*$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


# -- input ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleInput:
    """A new session as the form gives it; ``start_local`` is the school's wall clock."""

    start_local: datetime | None
    kind: str | None
    mode: str | None
    duration_minutes: int | None = DEFAULT_DURATION
    location: str | None = None
    #: Another counsellor of the school (leads only), as an id or the form's digits;
    #: ``None`` or blank means the acting user.
    counsellor_id: int | str | None = None


@dataclass(frozen=True)
class RescheduleInput:
    start_local: datetime | None
    duration_minutes: int | None = DEFAULT_DURATION
    location: str | None = None


@dataclass(frozen=True)
class CompletionInput:
    #: Four start-of-session ratings (ints or the strings a form sends).
    outcome_scores: list[Any] = field(default_factory=list)
    #: Four end-of-session ratings.
    session_scores: list[Any] = field(default_factory=list)
    notes: str | None = None
    strategies: str | None = None


# -- time -----------------------------------------------------------------------------
def local_to_utc(tz: ZoneInfo, local: datetime) -> datetime:
    """Turn a wall-clock time in ``tz`` into aware UTC; refuse times a clock change skips or repeats."""
    if local.tzinfo is not None:
        return local.astimezone(timezone.utc)
    earlier = local.replace(tzinfo=tz, fold=0)
    later = local.replace(tzinfo=tz, fold=1)
    if earlier.utcoffset() != later.utcoffset():
        when = f"{local:%H:%M} on {local:%A %d %B %Y}"
        back = earlier.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None)
        if back != local:
            raise ValidationFailed(
                f"The clocks go forward that night, so {when} does not exist in {tz.key}. "
                "Choose a time at least an hour later or earlier.", field="start")
        raise ValidationFailed(
            f"The clocks go back that night, so {when} happens twice in {tz.key}. "
            "Choose a time outside that hour.", field="start")
    return earlier.astimezone(timezone.utc)


def _start(school: School, start_local: datetime | None, now: datetime) -> datetime:
    if start_local is None:
        raise ValidationFailed("Choose the date and time the session starts.", field="start")
    # A year far off is refused before any timezone arithmetic, which overflows
    # near year 1 and year 9999.
    if start_local.date() < EARLIEST:
        raise ValidationFailed(PAST_MESSAGE, field="start")
    if start_local.date() > LATEST:
        raise ValidationFailed(AHEAD_MESSAGE, field="start")
    start = local_to_utc(school.tz, start_local)
    if start <= now:
        raise ValidationFailed(PAST_MESSAGE, field="start")
    if start > now + MAX_AHEAD:
        raise ValidationFailed(AHEAD_MESSAGE, field="start")
    return start


def _duration(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_DURATION
    if isinstance(value, bool) or not (isinstance(value, int) or _WHOLE_NUMBER.match(str(value))):
        raise ValidationFailed("Give the length as a whole number of minutes.", field="duration")
    minutes = int(value)
    if not MIN_DURATION <= minutes <= MAX_DURATION:
        raise ValidationFailed(
            f"A session lasts between {MIN_DURATION} and {MAX_DURATION} minutes.",
            field="duration")
    return minutes


def _location(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) > MAX_LOCATION:
        raise ValidationFailed(f"Keep the place under {MAX_LOCATION} characters.",
                               field="location")
    if "\x00" in value:
        raise ValidationFailed("The place contains characters we cannot store.", field="location")
    return value or None


def _text(value: str | None, name: str, label: str, *, required: bool) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationFailed(f"Write the {label}.", field=name)
        return None
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"Keep the {label} under {MAX_TEXT:,} characters.", field=name)
    if "\x00" in value:
        raise ValidationFailed(f"The {label} contain characters we cannot store.", field=name)
    return value


def _choice(enum_cls, value: str | None, name: str, label: str):  # noqa: ANN001, ANN202
    try:
        return enum_cls(value)
    except ValueError:
        raise ValidationFailed(f"Choose the {label} from the list.", field=name) from None


def _labels(configured: list[Any] | None, defaults: list[str]) -> list[str]:
    labels = [str(x) for x in (configured or [])][:SCORE_ITEMS]
    return labels + defaults[len(labels):]


def outcome_labels(school: School) -> list[str]:
    return _labels(school.outcome_labels, DEFAULT_OUTCOME_LABELS)


def session_labels(school: School) -> list[str]:
    return _labels(school.session_labels, DEFAULT_SESSION_LABELS)


def _scores(values: list[Any] | None, labels: list[str], prefix: str, measure: str) -> list[int]:
    """Four whole numbers from 0 to 10, or a message naming the item that is wrong."""
    values = list(values or [])
    values += [None] * (SCORE_ITEMS - len(values))
    if len(values) != SCORE_ITEMS:
        raise ValidationFailed(f"The {measure} has exactly {SCORE_ITEMS} ratings.",
                               field=f"{prefix}_1")
    scores = []
    for number, (raw, label) in enumerate(zip(values, labels), start=1):
        name = f"{prefix}_{number}"
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise ValidationFailed(
                f"{measure.capitalize()}: give a rating from 0 to {SCORE_MAX} for “{label}”.",
                field=name)
        if isinstance(raw, bool) or not (isinstance(raw, int) or
                                          (isinstance(raw, str) and _WHOLE_NUMBER.match(raw))):
            raise ValidationFailed(
                f"{measure.capitalize()}: the rating for “{label}” must be a whole number "
                f"from 0 to {SCORE_MAX}.", field=name)
        score = int(raw)
        if not 0 <= score <= SCORE_MAX:
            raise ValidationFailed(
                f"{measure.capitalize()}: the rating for “{label}” must be from 0 to "
                f"{SCORE_MAX}.", field=name)
        scores.append(score)
    return scores


# -- loading and permission -----------------------------------------------------------
def get_session(session: Session, user: StaffUser, session_id: int, *,
                with_notes: bool = False) -> FollowUpSession:
    """A follow-up session of the user's school whose case the user may see, else NotFound."""
    stmt = (select(FollowUpSession).where(FollowUpSession.id == session_id)
            .options(joinedload(FollowUpSession.case), joinedload(FollowUpSession.counsellor)))
    if with_notes:
        stmt = stmt.options(undefer(FollowUpSession.notes), undefer(FollowUpSession.strategies))
    fs = session.execute(stmt).scalar_one_or_none()
    if fs is None or fs.school_id != user.school_id:
        raise NotFound()
    require_case_access(user, fs.case)
    return fs


def may_act_on(user: StaffUser, fs: FollowUpSession) -> bool:
    """Whoever may work the case, and the session's own counsellor, may move a session."""
    return can_work_case(user, fs.case) or (user.is_casework_staff and fs.counsellor_id == user.id
                                            and user.school_id == fs.school_id)


def _require_act(user: StaffUser, fs: FollowUpSession) -> None:
    if not may_act_on(user, fs):
        require_case_work(user, fs.case)
    require_not_purged(fs.case)


def _require_scheduled(fs: FollowUpSession, doing: str) -> None:
    if fs.status is not SessionStatus.SCHEDULED:
        raise Conflict(f"This session is already {fs.status.label.lower()}, so it cannot be "
                       f"{doing}. Schedule a new session instead.")


def _require_open_case(case: Case) -> None:
    if not case.is_open:
        raise ValidationFailed(f"This case is {case.status.label.lower()}: reopen it before "
                               "scheduling sessions.")


def _counsellor(session: Session, user: StaffUser, counsellor_id: int | str | None) -> StaffUser:
    if isinstance(counsellor_id, str):
        counsellor_id = parse_id(counsellor_id, field="counsellor_id", message=COUNSELLOR_MESSAGE)
    if counsellor_id is None or counsellor_id == user.id:
        return user
    if not user.is_lead:
        raise Forbidden("Only a safeguarding lead can schedule a session for someone else.")
    other = session.get(StaffUser, counsellor_id)
    if (other is None or other.school_id != user.school_id or not other.is_casework_staff
            or not other.is_enabled):
        raise ValidationFailed(COUNSELLOR_MESSAGE, field="counsellor_id")
    return other


def schedulable_counsellors(session: Session, user: StaffUser) -> list[StaffUser]:
    """Casework staff a lead may schedule sessions for (the user alone for a counsellor)."""
    require_casework(user)
    if not user.is_lead:
        return [user]
    return list(session.execute(
        select(StaffUser).where(StaffUser.school_id == user.school_id,
                                StaffUser.case_role.isnot(None),
                                StaffUser.is_enabled.is_(True))
        .order_by(StaffUser.name)).scalars())


def _check_free(session: Session, school: School, counsellor_id: int, start: datetime,
                end: datetime, exclude_id: int | None = None) -> None:
    """Refuse a time that overlaps another of the counsellor's sessions ([start, end))."""
    # Lock the counsellor's row so two requests cannot both find the same hour free
    # (FOR NO KEY UPDATE: a notification naming them may still be written meanwhile).
    session.execute(select(StaffUser.id).where(StaffUser.id == counsellor_id)
                    .with_for_update(key_share=True))
    stmt = (select(FollowUpSession).where(
        FollowUpSession.counsellor_id == counsellor_id,
        FollowUpSession.status.in_(OCCUPYING),
        FollowUpSession.start_dt < end,
        FollowUpSession.end_dt > start,
    ).options(joinedload(FollowUpSession.case)).order_by(FollowUpSession.start_dt).limit(1))
    if exclude_id is not None:
        stmt = stmt.where(FollowUpSession.id != exclude_id)
    clash = session.execute(stmt).scalar_one_or_none()
    if clash is not None:
        tz = school.tz
        raise ValidationFailed(
            "That time overlaps another session of the same counsellor "
            f"({clash.start_dt.astimezone(tz):%a %d %b %H:%M}–{clash.end_dt.astimezone(tz):%H:%M}"
            f", case {clash.case.reference}). Choose another time.", field="start")


# -- recording ------------------------------------------------------------------------
def _record(session: Session, user: StaffUser, fs: FollowUpSession, action: str,
            now: datetime, *, body: str | None = None,
            detail: dict[str, Any] | None = None) -> None:
    """The chronology entry, the audit entry and the case's last activity of one action."""
    session.add(CaseEvent(school_id=fs.school_id, case_id=fs.case_id, actor_id=user.id,
                          kind=EventKind.SESSION, created_dt=now, body=body,
                          data={"session_id": fs.id, "action": action,
                                "start": fs.start_dt.isoformat()}))
    mark_staff_action(fs.case, now)
    audit.record(session, f"session.{action}", school_id=fs.school_id, actor_id=user.id,
                 case_id=fs.case_id, target=f"session:{fs.id}", at=now,
                 detail={"start": fs.start_dt.isoformat(), **(detail or {})})


# -- reminders (outbox rows, written in the same transaction) -------------------------
def _reminder_key(kind: str, fs: FollowUpSession, lead: str, suffix: str = "") -> str:
    return f"{kind}:{fs.id}:{lead}:{int(fs.start_dt.timestamp())}{suffix}"


def _reporter_to_remind(session: Session, fs: FollowUpSession) -> int | None:
    """The report whose reporter is reminded of ``fs``, if there is no doubt who that is.

    A session names no reporter. When more than one student who reported could
    be the one attending (two targets of the same incident, say, even if one
    stayed anonymous), or the case records more than one target, a reminder
    could tell one student of another's meeting: then no reporter is reminded
    (the counsellor still is). Otherwise the one who would attend is, if they
    left their name and an address.
    """
    reports = session.execute(
        select(Report.id, Report.reporter_role, Report.is_anonymous,
               Report.reply_email.isnot(None))
        .where(Report.case_id == fs.case_id).order_by(Report.id)).all()
    attending = [r for r in reports if fs.kind in _REPORTER_ATTENDS.get(r.reporter_role, ())]
    if len(attending) != 1:
        return None
    report_id, _role, is_anonymous, has_address = attending[0]
    if is_anonymous or not has_address:
        return None
    targets = session.execute(
        select(func.count()).select_from(CasePerson).where(
            CasePerson.case_id == fs.case_id, CasePerson.role == PersonRole.TARGET,
            CasePerson.kind == PersonKind.STUDENT)).scalar_one()
    return report_id if targets <= 1 else None


def _queue_reminders(session: Session, fs: FollowUpSession, now: datetime) -> None:
    """Queue the 24-hour and 1-hour reminders whose time has not yet passed."""
    reporter = _reporter_to_remind(session, fs)
    for lead, before in REMINDER_LEADS:
        send_at = fs.start_dt - before
        if send_at <= now:
            continue
        queue_notification(
            session, key=_reminder_key(STAFF_REMINDER, fs, lead), kind=STAFF_REMINDER,
            school_id=fs.school_id, recipient_staff_id=fs.counsellor_id, case_id=fs.case_id,
            send_at=send_at,
            data={"reference": fs.case.reference, "session_id": fs.id,
                  "start": fs.start_dt.isoformat(), "lead": lead})
        if reporter is not None:
            # Nothing about the case: not even its reference (staff vocabulary).
            queue_notification(
                session, key=_reminder_key(REPORTER_REMINDER, fs, lead, f":{reporter}"),
                kind=REPORTER_REMINDER, school_id=fs.school_id, recipient_report_id=reporter,
                case_id=fs.case_id, send_at=send_at,
                data={"session_id": fs.id, "start": fs.start_dt.isoformat(), "lead": lead})


def _drop_pending_reminders(session: Session, fs: FollowUpSession) -> int:
    """Delete this session's reminders that are still waiting to be sent."""
    result = session.execute(
        delete(Notification).where(
            Notification.case_id == fs.case_id,
            Notification.status == NotificationStatus.PENDING,
            Notification.kind.in_((STAFF_REMINDER, REPORTER_REMINDER)),
            or_(Notification.key.startswith(f"{STAFF_REMINDER}:{fs.id}:", autoescape=True),
                Notification.key.startswith(f"{REPORTER_REMINDER}:{fs.id}:", autoescape=True)),
        ).execution_options(synchronize_session="fetch"))
    return result.rowcount or 0


def move_case_sessions(session: Session, from_case_id: int, to_case_id: int) -> None:
    """Move every session of a case, and their reminders, to another case (a merge).

    The reminders go with their sessions, so that rescheduling or cancelling a
    session finds them on its case and replaces or drops them.
    """
    session.execute(update(FollowUpSession).where(FollowUpSession.case_id == from_case_id)
                    .values(case_id=to_case_id).execution_options(synchronize_session="fetch"))
    session.execute(update(Notification).where(
        Notification.case_id == from_case_id,
        Notification.kind.in_((STAFF_REMINDER, REPORTER_REMINDER)),
    ).values(case_id=to_case_id).execution_options(synchronize_session="fetch"))


# -- actions --------------------------------------------------------------------------
def schedule_session(session: Session, user: StaffUser, case_id: int, data: ScheduleInput, *,
                     now: datetime) -> FollowUpSession:
    """Book a session on a case, with its reminders; the caller commits."""
    case = get_case(session, user, case_id)
    require_case_work(user, case)
    require_not_purged(case)
    _require_open_case(case)
    counsellor = _counsellor(session, user, data.counsellor_id)
    kind = _choice(SessionKind, data.kind, "kind", "kind of session")
    mode = _choice(SessionMode, data.mode, "mode", "way of meeting")
    minutes = _duration(data.duration_minutes)
    location = _location(data.location)
    school = session.get(School, case.school_id)
    assert school is not None
    start = _start(school, data.start_local, now)
    _check_free(session, school, counsellor.id, start, start + timedelta(minutes=minutes))
    fs = FollowUpSession(school_id=case.school_id, case_id=case.id, counsellor_id=counsellor.id,
                         kind=kind, mode=mode, location=location,
                         status=SessionStatus.SCHEDULED, created_dt=now)
    fs.set_time(start, minutes)
    fs.case = case
    session.add(fs)
    session.flush()
    _record(session, user, fs, "scheduled", now,
            detail={"counsellor_id": counsellor.id, "minutes": minutes, "kind": kind.value})
    _queue_reminders(session, fs, now)
    return fs


def reschedule_session(session: Session, user: StaffUser, session_id: int,
                       data: RescheduleInput, *, now: datetime) -> FollowUpSession:
    """Move a scheduled session; its old reminders go and new ones are queued."""
    fs = get_session(session, user, session_id)
    _require_act(user, fs)
    _require_scheduled(fs, "rescheduled")
    _require_open_case(fs.case)
    minutes = _duration(data.duration_minutes)
    location = _location(data.location)
    school = session.get(School, fs.school_id)
    assert school is not None
    start = _start(school, data.start_local, now)
    _check_free(session, school, fs.counsellor_id, start, start + timedelta(minutes=minutes),
                exclude_id=fs.id)
    previous = fs.start_dt
    _drop_pending_reminders(session, fs)
    fs.set_time(start, minutes)
    fs.location = location
    session.flush()
    _record(session, user, fs, "rescheduled", now,
            detail={"from": previous.isoformat(), "minutes": minutes})
    _queue_reminders(session, fs, now)
    return fs


def cancel_session(session: Session, user: StaffUser, session_id: int, *,
                   reason: str | None = None, now: datetime) -> FollowUpSession:
    """Call a scheduled session off; an optional reason goes on the chronology."""
    fs = get_session(session, user, session_id)
    _require_act(user, fs)
    _require_scheduled(fs, "cancelled")
    reason = _text(reason, "reason", "reason", required=False)
    fs.status = SessionStatus.CANCELLED
    _drop_pending_reminders(session, fs)
    _record(session, user, fs, "cancelled", now, body=reason)
    return fs


def mark_missed(session: Session, user: StaffUser, session_id: int, *,
                now: datetime) -> FollowUpSession:
    """Record that a session that has started did not take place."""
    fs = get_session(session, user, session_id)
    _require_act(user, fs)
    _require_scheduled(fs, "marked missed")
    if now < fs.start_dt:
        raise ValidationFailed("This session has not started yet: cancel it instead of marking "
                               "it missed.")
    fs.status = SessionStatus.MISSED
    _drop_pending_reminders(session, fs)
    _record(session, user, fs, "missed", now)
    return fs


def complete_session(session: Session, user: StaffUser, session_id: int, data: CompletionInput,
                     *, now: datetime) -> FollowUpSession:
    """Record a session that took place: notes, strategies and both outcome measures."""
    fs = get_session(session, user, session_id)
    _require_act(user, fs)
    _require_scheduled(fs, "completed")
    if now < fs.start_dt:
        raise ValidationFailed("This session has not started yet: complete it once it has "
                               "taken place.")
    school = session.get(School, fs.school_id)
    assert school is not None
    outcome = _scores(data.outcome_scores, outcome_labels(school), "outcome",
                      "start-of-session rating")
    rating = _scores(data.session_scores, session_labels(school), "session",
                     "end-of-session rating")
    notes = _text(data.notes, "notes", "session notes", required=True)
    strategies = _text(data.strategies, "strategies", "strategies agreed", required=False)
    fs.status = SessionStatus.COMPLETED
    fs.completed_dt = now
    fs.outcome_scores = outcome
    fs.session_scores = rating
    fs.outcome_total = sum(outcome)
    fs.session_total = sum(rating)
    fs.notes = notes
    fs.strategies = strategies
    _drop_pending_reminders(session, fs)
    _record(session, user, fs, "completed", now)
    return fs


def view_session(session: Session, user: StaffUser, session_id: int, *,
                 now: datetime) -> FollowUpSession:
    """Open one session with its confidential notes; the view is audited."""
    fs = get_session(session, user, session_id, with_notes=True)
    audit.record(session, "session.viewed", school_id=fs.school_id, actor_id=user.id,
                 case_id=fs.case_id, target=f"session:{fs.id}", at=now)
    return fs


# -- reading --------------------------------------------------------------------------
@dataclass(frozen=True)
class OutcomePoint:
    """One completed session on the progress chart."""

    session_id: int
    start_dt: datetime
    outcome_total: int
    session_total: int


@dataclass(frozen=True)
class CaseSessions:
    sessions: list[FollowUpSession]
    points: list[OutcomePoint]
    outcome_cutoff: int
    session_cutoff: int
    can_schedule: bool


def case_sessions(session: Session, user: StaffUser, case: Case) -> CaseSessions:
    """The case's sessions in time order and the points of its outcome chart."""
    require_case_access(user, case)
    rows = list(session.execute(
        select(FollowUpSession).where(FollowUpSession.case_id == case.id)
        .options(joinedload(FollowUpSession.counsellor))
        .order_by(FollowUpSession.start_dt, FollowUpSession.id)).scalars())
    school = session.get(School, case.school_id)
    assert school is not None
    points = [OutcomePoint(fs.id, fs.start_dt, fs.outcome_total, fs.session_total)
              for fs in rows
              if fs.status is SessionStatus.COMPLETED and fs.outcome_total is not None
              and fs.session_total is not None]
    return CaseSessions(sessions=rows, points=points, outcome_cutoff=school.outcome_cutoff,
                        session_cutoff=school.session_cutoff,
                        can_schedule=case.is_open and not case.is_purged
                        and can_work_case(user, case))


def chart_data(session: Session, user: StaffUser, case_id: int, *,
               now: datetime) -> tuple[Case, CaseSessions]:
    """The outcome chart's data for a case; looking at it is audited like the case."""
    case = get_case(session, user, case_id)
    data = case_sessions(session, user, case)
    audit.record(session, "case.chart_viewed", school_id=case.school_id, actor_id=user.id,
                 case_id=case.id, at=now)
    return case, data


@dataclass(frozen=True)
class Week:
    monday: date
    #: ISO week, e.g. ``2025-W14``.
    label: str
    previous: str
    next: str
    #: Each day Monday to Sunday with that day's sessions, in local start order.
    days: list[tuple[date, list[FollowUpSession]]]


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(value: str | None, today: date) -> date:
    """The Monday of ISO week ``YYYY-Www``, or of the week of ``today`` when none is given."""
    if not value:
        return today - timedelta(days=today.weekday())
    match = _WEEK.match(value.strip())
    monday = None
    if match:
        try:
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            pass
    if monday is None:
        raise ValidationFailed("Give the week as year and week number, for example 2025-W14.",
                               field="week")
    # Further off is a typing mistake (and the week's days would overflow near year 9999).
    if not EARLIEST <= monday <= LATEST:
        raise ValidationFailed(f"Choose a week between {EARLIEST.year} and {LATEST.year}.",
                               field="week")
    return monday


def my_week(session: Session, user: StaffUser, week: str | None, *, now: datetime) -> Week:
    """The user's own sessions from Monday to Sunday in the school's timezone."""
    require_casework(user)
    tz = user.school.tz
    monday = parse_week(week, now.astimezone(tz).date())
    begin = datetime.combine(monday, time(0), tzinfo=tz).astimezone(timezone.utc)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz).astimezone(timezone.utc)
    rows = session.execute(
        select(FollowUpSession).where(FollowUpSession.counsellor_id == user.id,
                                      FollowUpSession.school_id == user.school_id,
                                      FollowUpSession.start_dt >= begin,
                                      FollowUpSession.start_dt < end)
        .options(joinedload(FollowUpSession.case))
        .order_by(FollowUpSession.start_dt, FollowUpSession.id)).scalars()
    days: dict[date, list[FollowUpSession]] = {monday + timedelta(days=i): [] for i in range(7)}
    for fs in rows:
        days[fs.start_dt.astimezone(tz).date()].append(fs)
    return Week(monday=monday, label=iso_week(monday),
                previous=iso_week(monday - timedelta(days=7)),
                next=iso_week(monday + timedelta(days=7)), days=list(days.items()))
