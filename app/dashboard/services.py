"""Figures for safeguarding leads.

"Now" figures are aggregate queries on indexed columns. Trends are grouped
counts of the cases reported in the period, read through the
``(school_id, created_dt)`` index: weeks are placed by comparing with the
instants the school's weeks begin, so they follow its timezone on PostgreSQL and
SQLite alike. Every figure is made by a fixed number of queries whose results
grow with the number of distinct groups, not with the number of cases. Nothing
here reads case content: ids, dates and categories only.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from app.auth.models import StaffUser
from app.cases.deadlines import response_window_days
from app.cases.identifier_models import CaseIdentifier, IdentifierKind, is_matchable
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, Risk, bit_of, from_mask
from app.db import utcnow
from app.errors import ValidationFailed
from app.policy import require_lead
from app.querystring import EARLIEST, date_arg, id_arg
from app.scheduling.models import FollowUpSession, SessionStatus

MAX_PERIOD_DAYS = 3 * 366
#: Dates outside this range are typing mistakes (and would overflow date arithmetic).
#: ``year_group`` filter value for cases whose year group was not given.
YEAR_NOT_GIVEN = 0
YEAR_GROUPS = range(1, 15)
ESCALATION_WINDOW = timedelta(days=7)


# -- now -------------------------------------------------------------------------------
@dataclass(frozen=True)
class NowFigures:
    open_by_risk: dict[Risk, int]
    open_by_status: dict[CaseStatus, int]
    #: Open cases still waiting for a first response after its deadline.
    overdue: int
    #: Open critical and high cases nobody is assigned to.
    unassigned_urgent: int
    #: Messages from reporters nobody has opened, on any case (a reporter may write
    #: after a case is resolved to say it is not).
    unread_messages: int
    #: Escalations sent in the last 7 days, and the cases they were about.
    escalations_7d: int
    escalated_cases_7d: int

    @property
    def open_total(self) -> int:
        return sum(self.open_by_risk.values())


def now_figures(session: Session, user: StaffUser, *, now: datetime | None = None) -> NowFigures:
    """What needs attention right now, across the school's cases."""
    require_lead(user)
    now = now or utcnow()
    open_cases = (Case.school_id == user.school_id, Case.is_open.is_(True))
    by_risk = dict.fromkeys(Risk, 0)
    by_status = {s: 0 for s in CaseStatus if s.is_open}
    rows = session.execute(
        select(Case.risk, Case.status, func.count()).where(*open_cases)
        .group_by(Case.risk, Case.status))
    for risk, status, count in rows:
        by_risk[risk] += count
        by_status[status] += count
    overdue, unassigned = session.execute(
        select(
            func.count().filter(Case.first_response_dt.is_(None), Case.response_due_dt < now),
            func.count().filter(Case.assignee_id.is_(None), Case.risk_rank <= Risk.HIGH.rank),
        ).where(*open_cases)
    ).one()
    unread = session.execute(
        select(func.coalesce(func.sum(Case.unread_reporter_messages), 0))
        .where(Case.school_id == user.school_id, Case.unread_reporter_messages > 0)
    ).scalar_one()
    escalations, escalated_cases = session.execute(
        select(func.count(), func.count(func.distinct(CaseEvent.case_id))).where(
            CaseEvent.school_id == user.school_id, CaseEvent.kind == EventKind.ESCALATION,
            CaseEvent.created_dt > now - ESCALATION_WINDOW, CaseEvent.created_dt <= now)
    ).one()
    return NowFigures(by_risk, by_status, overdue or 0, unassigned or 0, int(unread),
                      escalations, escalated_cases)


# -- filters ---------------------------------------------------------------------------
def _enum_arg(args, name: str, enum_cls, label: str):  # noqa: ANN001, ANN202
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return enum_cls(raw)
    except ValueError:
        raise ValidationFailed(f"Choose {label} from the list.", field=name) from None


@dataclass(frozen=True)
class DashboardFilters:
    """The period (dates in the school's timezone, both ends included) and case filters."""

    start: date
    end: date
    kind: IncidentKind | None = None
    platform: Platform | None = None
    #: A year group, :data:`YEAR_NOT_GIVEN` for cases without one, or ``None`` for any.
    year_group: int | None = None
    risk: Risk | None = None

    @classmethod
    def parse(cls, args, *, today: date) -> "DashboardFilters":  # noqa: ANN001 - a MultiDict
        """Read the filters from a query string; a value that makes no sense is a clear 422."""
        end = date_arg(args, "to", today)
        start = date_arg(args, "from", max(EARLIEST, end - timedelta(days=365)))
        assert start is not None and end is not None
        if start > end:
            raise ValidationFailed("The start of the period must be on or before its end.",
                                   field="from")
        if (end - start).days > MAX_PERIOD_DAYS:
            raise ValidationFailed("Choose a period of at most three years.", field="from")
        year = (args.get("year_group") or "").strip().lower()
        if year == "none":
            year_group: int | None = YEAR_NOT_GIVEN
        elif not year:
            year_group = None
        elif year.isascii() and year.isdigit() and len(year) <= 2 and int(year) in YEAR_GROUPS:
            year_group = int(year)
        else:
            raise ValidationFailed("Choose a year group from the list.", field="year_group")
        return cls(start=start, end=end,
                   kind=_enum_arg(args, "kind", IncidentKind, "a kind of bullying"),
                   platform=_enum_arg(args, "platform", Platform, "a platform"),
                   year_group=year_group,
                   risk=_enum_arg(args, "risk", Risk, "a risk level"))

    def query_args(self) -> dict[str, str]:
        """The filters as query-string values, for links that keep them."""
        args = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.kind:
            args["kind"] = self.kind.value
        if self.platform:
            args["platform"] = self.platform.value
        if self.year_group is not None:
            not_given = self.year_group == YEAR_NOT_GIVEN
            args["year_group"] = "none" if not_given else str(self.year_group)
        if self.risk:
            args["risk"] = self.risk.value
        return args

    def narrowed(self, **changes: Any) -> "DashboardFilters":
        values = {f: getattr(self, f) for f in ("start", "end", "kind", "platform", "year_group",
                                                "risk")}
        values.update(changes)
        return DashboardFilters(**values)

    @property
    def narrows_cases(self) -> bool:
        """Whether any filter besides the period picks cases."""
        return any(value is not None
                   for value in (self.kind, self.platform, self.year_group, self.risk))

    @property
    def year_group_label(self) -> str | None:
        if self.year_group is None:
            return None
        return year_label(None if self.year_group == YEAR_NOT_GIVEN else self.year_group)


def year_label(year_group: int | None) -> str:
    return f"Year {year_group}" if year_group else "Not given"


@dataclass(frozen=True)
class CaseRow:
    """What the dashboard knows of a case: dates and categories, no content."""

    id: int
    reference: str
    created_dt: datetime
    risk: Risk
    status: CaseStatus
    kinds_mask: int
    platforms_mask: int
    year_group: int | None
    first_response_dt: datetime | None
    response_due_dt: datetime
    deadline_start_dt: datetime
    resolved_dt: datetime | None
    assignee_id: int | None

    @property
    def kinds(self) -> list[IncidentKind]:
        return from_mask(IncidentKind, self.kinds_mask)

    @property
    def platforms(self) -> list[Platform]:
        return from_mask(Platform, self.platforms_mask)


_ROW_COLUMNS = (Case.id, Case.reference, Case.created_dt, Case.risk, Case.status, Case.kinds_mask,
                Case.platforms_mask, Case.year_group, Case.first_response_dt, Case.response_due_dt,
                Case.deadline_start_dt, Case.resolved_dt, Case.assignee_id)


def _period_bounds(school_tz: tzinfo, filters: DashboardFilters) -> tuple[datetime, datetime]:
    """The period as UTC-comparable instants: midnight to midnight in the school's zone."""
    start = datetime.combine(filters.start, time.min, tzinfo=school_tz)
    end = datetime.combine(filters.end + timedelta(days=1), time.min, tzinfo=school_tz)
    return start, end


def _case_criteria(user: StaffUser, filters: DashboardFilters) -> list[Any]:
    """The school's live (not merged-away) cases matching kind, platform, year group, risk."""
    criteria: list[Any] = [Case.school_id == user.school_id, Case.merged_into_id.is_(None)]
    if filters.kind is not None:
        criteria.append(Case.kinds_mask.op("&")(bit_of(filters.kind)) != 0)
    if filters.platform is not None:
        criteria.append(Case.platforms_mask.op("&")(bit_of(filters.platform)) != 0)
    if filters.year_group == YEAR_NOT_GIVEN:
        criteria.append(Case.year_group.is_(None))
    elif filters.year_group is not None:
        criteria.append(Case.year_group == filters.year_group)
    if filters.risk is not None:
        criteria.append(Case.risk == filters.risk)
    return criteria


def _reported_in_period(user: StaffUser, filters: DashboardFilters) -> list[Any]:
    start, end = _period_bounds(user.school.tz, filters)
    return [Case.created_dt >= start, Case.created_dt < end]


def _rows(session: Session, stmt: Select) -> list[CaseRow]:
    return [CaseRow(*row) for row in session.execute(stmt.order_by(Case.created_dt, Case.id))]


def case_rows(session: Session, user: StaffUser, filters: DashboardFilters) -> list[CaseRow]:
    """Cases reported in the period that match the filters, oldest first."""
    require_lead(user)
    return _rows(session, select(*_ROW_COLUMNS).where(
        *_case_criteria(user, filters), *_reported_in_period(user, filters)))


# -- trends ------------------------------------------------------------------------------
@dataclass
class RiskTiming:
    risk: Risk
    #: Cases of this risk reported in the period.
    cases: int
    #: Of those, answered at all; answered within the deadline.
    responded: int
    met: int
    #: Deadlines that can be judged: answered, or already passed unanswered.
    judged: int
    median_first_response_hours: float | None
    median_resolution_days: float | None
    #: The school's deadline for this risk, in words ("1 hour", "3 school days").
    deadline: str

    @property
    def share_met(self) -> float | None:
        return self.met / self.judged if self.judged else None


@dataclass(frozen=True)
class CounsellorLoad:
    counsellor_id: int
    #: The counsellor's name, with their email when a colleague has the same name.
    name: str
    sessions: int


@dataclass
class Trends:
    total: int
    weeks: list[date]
    by_week_kind: dict[IncidentKind, list[int]]
    by_week_platform: dict[Platform, list[int]]
    by_week_total: list[int]
    #: Year group (``None``: not given) -> reports, in year order, "not given" last.
    by_year_group: dict[int | None, int]
    by_kind: dict[IncidentKind, int]
    by_platform: dict[Platform, int]
    timing: list[RiskTiming]
    deadlines_met: int
    deadlines_judged: int
    sessions_by_counsellor: list[CounsellorLoad]
    outcome_changes: list[int] = field(default_factory=list)

    @property
    def share_met(self) -> float | None:
        return self.deadlines_met / self.deadlines_judged if self.deadlines_judged else None

    @property
    def sessions_total(self) -> int:
        return sum(c.sessions for c in self.sessions_by_counsellor)


def week_start(day: date) -> date:
    """The Monday of the week ``day`` falls in."""
    return day - timedelta(days=day.weekday())


def weeks_of(filters: DashboardFilters) -> list[date]:
    weeks = []
    w = week_start(filters.start)
    while w <= filters.end:
        weeks.append(w)
        w += timedelta(days=7)
    return weeks


def deadline_words(school, risk: Risk) -> str:  # noqa: ANN001
    """The school's first-response deadline for ``risk``, as a lead would say it."""
    if risk is Risk.CRITICAL:
        n, unit = school.critical_response_hours, "hour"
    else:
        n, unit = response_window_days(school, risk), "school day"
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _week_boundaries(school_tz: tzinfo, weeks: list[date]) -> list[datetime]:
    """When each week after the first begins: Monday 00:00 in the school's zone, as UTC."""
    return [datetime.combine(w, time.min, tzinfo=school_tz).astimezone(timezone.utc)
            for w in weeks[1:]]


def trends(session: Session, user: StaffUser, filters: DashboardFilters,
           *, now: datetime | None = None) -> Trends:
    """Everything in the "Trends" part of the dashboard, for the filtered period."""
    require_lead(user)
    now = now or utcnow()
    school = user.school
    weeks = weeks_of(filters)
    # Weeks start on Monday in the school's timezone (its UTC offset changes with
    # daylight saving), so each case is placed by comparing with the weeks' start instants.
    boundaries = _week_boundaries(school.tz, weeks)
    week = case(*[(Case.created_dt < b, i) for i, b in enumerate(boundaries)],
                else_=len(boundaries)) if boundaries else literal(0)
    in_period = (*_case_criteria(user, filters), *_reported_in_period(user, filters))

    def grouped(*columns):  # noqa: ANN002, ANN202
        """Count the period's cases by ``columns``: one small query per breakdown."""
        inner = select(*columns).where(*in_period).subquery()
        keys = list(inner.c)
        return session.execute(select(*keys, func.count()).group_by(*keys)).all()

    # Every weekly series in one pass: per week, the total and a count per kind and
    # per platform (a case counts once under each of its kinds and platforms).
    def having(mask_column, member):  # noqa: ANN001, ANN202
        return func.sum(case((mask_column.op("&")(bit_of(member)) != 0, 1), else_=0))

    inner = select(week.label("week"), Case.kinds_mask, Case.platforms_mask).where(
        *in_period).subquery()
    by_week_total = [0] * len(weeks)
    by_week_kind = {k: [0] * len(weeks) for k in IncidentKind}
    by_week_platform = {p: [0] * len(weeks) for p in Platform}
    for i, n, *counts in session.execute(
            select(inner.c.week, func.count(),
                   *[having(inner.c.kinds_mask, k) for k in IncidentKind],
                   *[having(inner.c.platforms_mask, p) for p in Platform])
            .group_by(inner.c.week)):
        by_week_total[i] = n
        for k, count in zip(IncidentKind, counts[:len(IncidentKind)]):
            by_week_kind[k][i] = int(count or 0)
        for p, count in zip(Platform, counts[len(IncidentKind):]):
            by_week_platform[p][i] = int(count or 0)
    by_year = dict(grouped(Case.year_group))

    responded = Case.first_response_dt.is_not(None)
    # A deadline is judged once it has been answered or has passed.
    judged = or_(responded, Case.response_due_dt <= now)
    met = and_(responded, Case.first_response_dt <= Case.response_due_dt)
    per_risk: Counter[Risk] = Counter()
    responded_n: Counter[Risk] = Counter()
    judged_n: Counter[Risk] = Counter()
    met_n: Counter[Risk] = Counter()
    for risk, is_responded, is_judged, is_met, n in grouped(
            Case.risk, case((responded, 1), else_=0).label("responded"),
            case((judged, 1), else_=0).label("judged"), case((met, 1), else_=0).label("met")):
        per_risk[risk] += n
        responded_n[risk] += n * is_responded
        judged_n[risk] += n * is_judged
        met_n[risk] += n * is_met
    medians = _median_times(session, user, filters)
    timing = [RiskTiming(
        risk=risk, cases=per_risk[risk], responded=responded_n[risk], met=met_n[risk],
        judged=judged_n[risk], median_first_response_hours=medians[risk][0],
        median_resolution_days=medians[risk][1], deadline=deadline_words(school, risk),
    ) for risk in Risk]
    years = sorted(by_year, key=lambda y: (y is None, y or 0))
    return Trends(
        total=sum(by_week_total), weeks=weeks, by_week_kind=by_week_kind,
        by_week_platform=by_week_platform, by_week_total=by_week_total,
        by_year_group={y: by_year[y] for y in years},
        by_kind={k: sum(by_week_kind[k]) for k in IncidentKind},
        by_platform={p: sum(by_week_platform[p]) for p in Platform},
        timing=timing, deadlines_met=sum(met_n.values()),
        deadlines_judged=sum(judged_n.values()),
        sessions_by_counsellor=sessions_by_counsellor(session, user, filters),
        outcome_changes=sorted(outcome_changes(session, user, filters).values()),
    )


def _median_times(session: Session, user: StaffUser,
                  filters: DashboardFilters) -> dict[Risk, tuple[float | None, float | None]]:
    """Risk -> (median hours to first response, median days to resolution), from the report.

    PostgreSQL computes the medians itself; elsewhere (SQLite) the durations are read
    and the median taken here. Both interpolate between the two middle values.
    """
    criteria = (*_case_criteria(user, filters), *_reported_in_period(user, filters))
    out: dict[Risk, tuple[float | None, float | None]] = dict.fromkeys(Risk, (None, None))
    if session.get_bind().dialect.name == "postgresql":
        def median_seconds(end):  # noqa: ANN001, ANN202
            return func.percentile_cont(0.5).within_group(
                func.extract("epoch", end - Case.created_dt))

        for risk, response, resolution in session.execute(
            select(Case.risk, median_seconds(Case.first_response_dt),
                   median_seconds(Case.resolved_dt)).where(*criteria).group_by(Case.risk)
        ):
            out[risk] = (_rounded(response, 3600), _rounded(resolution, 86400))
        return out
    response: dict[Risk, list[float]] = defaultdict(list)
    resolution: dict[Risk, list[float]] = defaultdict(list)
    for risk, created, first, resolved in session.execute(
        select(Case.risk, Case.created_dt, Case.first_response_dt, Case.resolved_dt).where(
            *criteria, or_(Case.first_response_dt.is_not(None), Case.resolved_dt.is_not(None)))
    ):
        if first is not None:
            response[risk].append((first - created).total_seconds())
        if resolved is not None:
            resolution[risk].append((resolved - created).total_seconds())
    for risk in Risk:
        out[risk] = (_rounded(_median(response[risk]), 3600),
                     _rounded(_median(resolution[risk]), 86400))
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _rounded(seconds: float | None, unit: int) -> float | None:
    return None if seconds is None else round(float(seconds) / unit, 1)


def _merged_away(school_id: int) -> Select:
    """Ids of the school's cases merged into another (few; a partial index holds them)."""
    return select(Case.id).where(Case.school_id == school_id, Case.merged_into_id.is_not(None))


def _sessions_in_period(user: StaffUser, filters: DashboardFilters) -> list[Any]:
    """Completed sessions held in the period on live cases matching the filters.

    Without case filters, only merged-away cases are left out, which needs no
    look at each session's case.
    """
    start, end = _period_bounds(user.school.tz, filters)
    criteria = [FollowUpSession.school_id == user.school_id,
                FollowUpSession.status == SessionStatus.COMPLETED,
                FollowUpSession.start_dt >= start, FollowUpSession.start_dt < end]
    if filters.narrows_cases:
        criteria.append(FollowUpSession.case_id.in_(
            select(Case.id).where(*_case_criteria(user, filters))))
    else:
        criteria.append(FollowUpSession.case_id.not_in(_merged_away(user.school_id)))
    return criteria


def sessions_by_counsellor(session: Session, user: StaffUser,
                           filters: DashboardFilters) -> list[CounsellorLoad]:
    """Completed sessions per counsellor in the period (workload), busiest first."""
    require_lead(user)
    count = func.count(FollowUpSession.id)
    rows = session.execute(
        select(StaffUser.id, StaffUser.name, StaffUser.email, count)
        .join(StaffUser, StaffUser.id == FollowUpSession.counsellor_id)
        .where(*_sessions_in_period(user, filters))
        .group_by(StaffUser.id, StaffUser.name, StaffUser.email)
        .order_by(count.desc(), StaffUser.name, StaffUser.id)
    ).all()
    names = Counter(name for _, name, _, _ in rows)
    return [CounsellorLoad(staff_id, f"{name} ({email})" if names[name] > 1 else name, n)
            for staff_id, name, email, n in rows]


def outcome_changes(session: Session, user: StaffUser, filters: DashboardFilters) -> dict[int, int]:
    """Case id -> latest minus first outcome total, for cases with two or more scored sessions."""
    require_lead(user)
    rows = session.execute(
        select(FollowUpSession.case_id, FollowUpSession.outcome_total)
        .where(*_sessions_in_period(user, filters), FollowUpSession.outcome_total.is_not(None))
        .order_by(FollowUpSession.case_id, FollowUpSession.start_dt, FollowUpSession.id)
    )
    totals: dict[int, list[int]] = defaultdict(list)
    for case_id, total in rows:
        totals[case_id].append(total)
    return {case_id: t[-1] - t[0] for case_id, t in totals.items() if len(t) >= 2}


#: Outcome-change groups for the chart: (label, lowest change, highest change).
OUTCOME_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("Worse by 5 or more", float("-inf"), -5),
    ("Worse by 1 to 4", -4, -1),
    ("No change", 0, 0),
    ("Better by 1 to 4", 1, 4),
    ("Better by 5 to 9", 5, 9),
    ("Better by 10 or more", 10, float("inf")),
)


def outcome_bucket(change: int) -> str:
    return next(label for label, low, high in OUTCOME_BUCKETS if low <= change <= high)


def outcome_distribution(changes: list[int]) -> list[tuple[str, int]]:
    """Bucket score changes for the chart: worse, same, better by how much."""
    counts = Counter(outcome_bucket(c) for c in changes)
    return [(label, counts[label]) for label, _, _ in OUTCOME_BUCKETS]


# -- repeat names ------------------------------------------------------------------------
@dataclass(frozen=True)
class RepeatName:
    kind: IdentifierKind
    #: The name's blind index: the key of the list of its cases (never the name itself).
    digest: str
    #: How many live cases name it.
    total: int
    #: The most recent of them (up to ``REPEAT_SHOWN``), newest first.
    case_ids: list[int]
    references: list[str]


#: Cases shown by each repeat name; the count links to all of them.
REPEAT_SHOWN = 10


def _live_identifiers(school_id: int) -> list[Any]:
    """A school's matchable identifiers on cases not merged away (a merge moves most, not all).

    A confidential reporter's own name is never a repeat name (:func:`is_matchable`).
    """
    return [CaseIdentifier.school_id == school_id, is_matchable(),
            CaseIdentifier.case_id.not_in(_merged_away(school_id))]


def repeat_names(session: Session, user: StaffUser, *, limit: int = 50,
                 shown: int = REPEAT_SHOWN) -> list[RepeatName]:
    """Students and handles that appear on two or more cases (matched by blind index).

    Two statements whatever the school's size: the names, grouped from the
    identifier index alone, then the newest ``shown`` cases of each.
    """
    require_lead(user)
    live = _live_identifiers(user.school_id)
    cases = func.count(func.distinct(CaseIdentifier.case_id))
    top = session.execute(
        select(CaseIdentifier.digest, func.min(CaseIdentifier.kind), cases).where(*live)
        .group_by(CaseIdentifier.digest).having(cases >= 2)
        .order_by(cases.desc(), CaseIdentifier.digest).limit(limit)).all()
    if not top:
        return []
    pairs = (select(CaseIdentifier.digest, CaseIdentifier.case_id).distinct()
             .where(*live, CaseIdentifier.digest.in_([digest for digest, _, _ in top]))
             .subquery())
    ranked = select(pairs.c.digest, pairs.c.case_id, func.row_number().over(
        partition_by=pairs.c.digest, order_by=pairs.c.case_id.desc()).label("n")).subquery()
    newest: dict[str, dict[int, str]] = defaultdict(dict)
    for digest, case_id, reference in session.execute(
            select(ranked.c.digest, Case.id, Case.reference)
            .join(Case, Case.id == ranked.c.case_id)
            .where(ranked.c.n <= shown, Case.school_id == user.school_id)
            .order_by(ranked.c.digest, Case.id.desc())):
        newest[digest][case_id] = reference
    return [RepeatName(IdentifierKind(kind), digest, total, list(newest[digest]),
                       list(newest[digest].values())) for digest, kind, total in top]


# -- the cases behind a figure ----------------------------------------------------------
#: Lists of cases as they are now (the "Now" figures), by name.
NOW_LISTS = {
    "open": "Open cases",
    "overdue": "Open cases overdue for a first response",
    "unassigned-urgent": "Critical and high cases nobody is assigned to",
    "unread": "Cases with unread messages from the reporter",
    "escalated": "Cases escalated in the last 7 days",
}


_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Drill:
    """What narrows a list of cases to those behind one figure, besides the filters."""

    #: One of :data:`NOW_LISTS`: cases as they are now, whenever reported.
    show: str | None = None
    status: CaseStatus | None = None
    #: An outcome-change group (:data:`OUTCOME_BUCKETS`).
    outcome: str | None = None
    #: Cases on which this counsellor held a session in the period.
    counsellor_id: int | None = None
    #: Cases naming one repeat name (its blind index), whenever reported.
    repeat: str | None = None

    @classmethod
    def parse(cls, args) -> "Drill":  # noqa: ANN001 - a MultiDict
        show = (args.get("show") or "").strip() or None
        if show is not None and show not in NOW_LISTS:
            raise ValidationFailed("Choose a list from the dashboard.", field="show")
        outcome = (args.get("outcome") or "").strip() or None
        if outcome is not None and outcome not in {label for label, _, _ in OUTCOME_BUCKETS}:
            raise ValidationFailed("Choose an outcome group from the chart.", field="outcome")
        counsellor_id = id_arg(args, "counsellor", "Choose a counsellor from the chart.")
        repeat = (args.get("repeat") or "").strip().lower() or None
        if repeat is not None and not (len(repeat) == 32 and set(repeat) <= _HEX):
            raise ValidationFailed("Choose a repeat name from the dashboard.", field="repeat")
        drill = cls(show=show, status=_enum_arg(args, "status", CaseStatus, "a status"),
                    outcome=outcome, counsellor_id=counsellor_id,
                    repeat=repeat)
        if sum(value is not None for value in (show, outcome, drill.counsellor_id, repeat)) > 1:
            raise ValidationFailed("Choose the cases of one figure at a time.", field="show")
        return drill

    def query_args(self) -> dict[str, str]:
        args = {}
        if self.show:
            args["show"] = self.show
        if self.status:
            args["status"] = self.status.value
        if self.outcome:
            args["outcome"] = self.outcome
        if self.counsellor_id is not None:
            args["counsellor"] = str(self.counsellor_id)
        if self.repeat:
            args["repeat"] = self.repeat
        return args


@dataclass(frozen=True)
class CaseList:
    #: The first :data:`LIST_LIMIT` cases, oldest first.
    rows: list[CaseRow]
    #: How many cases the figure counts in all.
    total: int

    @property
    def is_cut(self) -> bool:
        return self.total > len(self.rows)


#: A list longer than this shows its first cases and says how many there are in all.
LIST_LIMIT = 500


def cases_behind(session: Session, user: StaffUser, filters: DashboardFilters, drill: Drill,
                 *, now: datetime | None = None, limit: int = LIST_LIMIT) -> CaseList:
    """The cases counted in one figure of the dashboard, oldest first."""
    require_lead(user)
    now = now or utcnow()
    criteria = list(_case_criteria(user, filters))
    if drill.status is not None:
        criteria.append(Case.status == drill.status)
    if drill.show is not None:
        criteria += _now_list(user, drill.show, now)
    elif drill.outcome is not None:
        changes = outcome_changes(session, user, filters)
        # Sessions held in the period, on cases whenever reported: as the figure counts them.
        criteria.append(Case.id.in_(
            [cid for cid, change in changes.items() if outcome_bucket(change) == drill.outcome]))
    elif drill.repeat is not None:
        criteria.append(Case.id.in_(select(CaseIdentifier.case_id).where(
            *_live_identifiers(user.school_id), CaseIdentifier.digest == drill.repeat)))
    elif drill.counsellor_id is not None:
        criteria.append(Case.id.in_(
            select(FollowUpSession.case_id)
            .where(*_sessions_in_period(user, filters),
                   FollowUpSession.counsellor_id == drill.counsellor_id)))
    else:
        criteria += _reported_in_period(user, filters)
    rows = _rows(session, select(*_ROW_COLUMNS).where(*criteria).limit(limit + 1))
    if len(rows) <= limit:
        return CaseList(rows, len(rows))
    total = session.execute(select(func.count()).select_from(Case).where(*criteria)).scalar_one()
    return CaseList(rows[:limit], total)


def _now_list(user: StaffUser, show: str, now: datetime) -> list[Any]:
    """Criteria matching :func:`now_figures`, figure by figure."""
    if show == "unread":
        return [Case.unread_reporter_messages > 0]
    if show == "escalated":
        return [Case.id.in_(select(CaseEvent.case_id).where(
            CaseEvent.school_id == user.school_id, CaseEvent.kind == EventKind.ESCALATION,
            CaseEvent.created_dt > now - ESCALATION_WINDOW, CaseEvent.created_dt <= now))]
    criteria: list[Any] = [Case.is_open.is_(True)]
    if show == "overdue":
        criteria += [Case.first_response_dt.is_(None), Case.response_due_dt < now]
    elif show == "unassigned-urgent":
        criteria += [Case.assignee_id.is_(None), Case.risk_rank <= Risk.HIGH.rank]
    return criteria


def describe(session: Session, user: StaffUser, filters: DashboardFilters, drill: Drill) -> str:
    """Say in words which cases a list holds."""
    period = f"{filters.start:%d %b %Y} to {filters.end:%d %b %Y}"
    if drill.show:
        parts = [NOW_LISTS[drill.show]]
    elif drill.outcome:
        parts = [f"Outcome score {drill.outcome.lower()}, over sessions held {period}"]
    elif drill.repeat:
        kind = session.execute(select(CaseIdentifier.kind).where(
            CaseIdentifier.school_id == user.school_id, CaseIdentifier.digest == drill.repeat
        ).limit(1)).scalar_one_or_none()
        parts = ["Cases naming the same " + ("online account" if kind is IdentifierKind.HANDLE
                                             else "student") + ", whenever reported"]
    elif drill.counsellor_id is not None:
        name = session.execute(select(StaffUser.name).where(
            StaffUser.id == drill.counsellor_id, StaffUser.school_id == user.school_id)
        ).scalar_one_or_none()
        parts = [f"Cases with completed sessions held {period} by {name or 'nobody on the staff'}"]
    else:
        parts = [f"Reported {period}"]
    for value in (filters.kind, filters.platform, filters.risk, drill.status):
        if value is not None:
            parts.append(value.label)
    if filters.year_group_label:
        parts.append(f"year group: {filters.year_group_label}")
    return " · ".join(parts)
