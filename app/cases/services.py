"""Reading and working cases. Every function takes the acting user and checks policy.

The workflow (status, risk, assignment, notes) lives in :mod:`app.cases.workflow`,
people and repeat names in :mod:`app.cases.people`, merging in :mod:`app.cases.merging`;
they share the helpers at the end of this module.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, tuple_, union
from sqlalchemy.orm import Session, aliased, joinedload, undefer
from sqlalchemy.orm.exc import StaleDataError

from app.audit import services as audit
from app.auth.models import StaffUser
from app.cases.deadlines import mark_staff_action
from app.cases.identifier_models import CaseIdentifier, is_matchable
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.references import normalise_reference
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, Risk, bit_of
from app.db import utcnow
from app.errors import Conflict, NotFound, ValidationFailed
from app.ids import parse_id
from app.policy import can_work_case, require_case_access, require_case_work, require_casework
from app.querystring import EARLIEST, LATEST
from app.reporting.evidence import evidence_store
from app.reporting.evidence_models import Evidence
from app.reporting.models import Report

PAGE_SIZE = 50
MAX_SEARCH = 200
YEAR_GROUPS = range(1, 15)
STALE_MESSAGE = (
    "Someone else changed this case while you were looking at it, so nothing was saved. "
    "The page now shows their change: check it, then send again."
)


# -- the triage queue -----------------------------------------------------------------
def _choice(enum_cls, value: str | None, field: str, message: str):  # noqa: ANN001, ANN202
    if not value:
        return None
    try:
        return enum_cls(value)
    except ValueError:
        raise ValidationFailed(message, field=field) from None


def parse_year_group(value: Any, field: str = "year_group") -> int | None:
    """Return a year group 1-14, ``None`` for blank, or raise a clear message."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        year = int(str(value).strip())
    except ValueError:
        year = 0
    if year not in YEAR_GROUPS:
        raise ValidationFailed("Choose a year group from 1 to 14.", field=field)
    return year


@dataclass(frozen=True)
class QueueFilters:
    status: CaseStatus | None = None
    risk: Risk | None = None
    #: all / mine / unassigned
    scope: str = "all"
    kind: IncidentKind | None = None
    platform: Platform | None = None
    year_group: int | None = None
    #: A case reference, a student's name or an online handle.
    search: str | None = None

    @classmethod
    def parse(cls, args) -> "QueueFilters":  # noqa: ANN001 - a MultiDict
        """Read the filters from a query string; a value not on the lists is a clear 422."""
        scope = args.get("scope") or "all"
        if scope not in ("all", "mine", "unassigned"):
            raise ValidationFailed("Choose mine, unassigned or all.", field="scope")
        search = " ".join((args.get("q") or "").split()) or None
        if search and len(search) > MAX_SEARCH:
            raise ValidationFailed(f"Search for at most {MAX_SEARCH} characters.", field="q")
        return cls(
            status=_choice(CaseStatus, args.get("status"), "status",
                           "Choose a status from the list."),
            risk=_choice(Risk, args.get("risk"), "risk", "Choose a risk level from the list."),
            scope=scope,
            kind=_choice(IncidentKind, args.get("kind"), "kind", "Choose a kind from the list."),
            platform=_choice(Platform, args.get("platform"), "platform",
                             "Choose a platform from the list."),
            year_group=parse_year_group(args.get("year")),
            search=search,
        )

    def query_args(self) -> dict[str, str]:
        """The filters as query-string values, for links to further pages."""
        args: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "scope" and value == "all"):
                continue
            name = {"year_group": "year", "search": "q"}.get(f.name, f.name)
            args[name] = str(value)
        return args

    @property
    def is_filtered(self) -> bool:
        return bool(self.query_args())


@dataclass(frozen=True)
class QueuePage:
    cases: list[Case]
    next_cursor: str | None


#: The ranks a cursor may carry (a risk's, as on :attr:`Case.risk_rank`).
_RANKS = {str(risk.rank) for risk in Risk}


def _encode_cursor(case: Case) -> str:
    raw = f"{case.risk_rank}|{case.response_due_dt.isoformat()}|{case.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, datetime, int]:
    broken = "That page link is broken; start from the first page."
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        rank, due, raw_id = raw.split("|")
        moment = datetime.fromisoformat(due)
        # An id past the id column's range would make the query fail rather than find nothing.
        case_id = parse_id(raw_id, field="after", message=broken)
        if moment.tzinfo is None or rank not in _RANKS or case_id is None:
            raise ValueError("naive, not a risk's rank, or no id")
        # A moment near year 1 or 9999 overflows when the query turns it into UTC.
        if not EARLIEST <= moment.date() <= LATEST:
            raise ValueError("no deadline falls then")
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(broken, field="after") from None
    return int(rank), moment, case_id


def search_case_ids(school_id: int, text: str):  # noqa: ANN201 - a Select
    """Ids of the school's cases naming ``text`` as a student or handle, via the blind index.

    A handle's index is keyed by its platform, so the text is hashed once per
    platform; nothing is decrypted. A confidential reporter's own name is never
    a search term: typing a name would otherwise say which case that student
    reported, without the audited reveal (and to staff not working the case).
    """
    from app.reporting.services import handle_digest, name_digest

    digests = {name_digest(text)} | {handle_digest(p.value, text) for p in Platform}
    return select(CaseIdentifier.case_id).where(CaseIdentifier.school_id == school_id,
                                                CaseIdentifier.digest.in_(digests),
                                                is_matchable())


def queue_statement(user: StaffUser, filters: QueueFilters, *, after: str | None = None,
                    limit: int | None = None):  # noqa: ANN201 - a Select
    """The query of one queue page (see :func:`triage_queue`)."""
    limit = limit or PAGE_SIZE
    stmt = (
        select(Case)
        .options(joinedload(Case.assignee))
        .where(Case.school_id == user.school_id)
        .limit(limit + 1)
    )
    if filters.status is not None:
        stmt = stmt.where(Case.is_open.is_(filters.status.is_open), Case.status == filters.status)
    elif not filters.search:
        stmt = stmt.where(Case.is_open.is_(True))
    if filters.risk is not None:
        stmt = stmt.where(Case.risk_rank == filters.risk.rank)
    if filters.scope == "mine":
        stmt = stmt.where(Case.assignee_id == user.id)
    elif filters.scope == "unassigned":
        stmt = stmt.where(Case.assignee_id.is_(None))
    if filters.kind is not None:
        stmt = stmt.where(Case.kinds_mask.op("&")(bit_of(filters.kind)) != 0)
    if filters.platform is not None:
        stmt = stmt.where(Case.platforms_mask.op("&")(bit_of(filters.platform)) != 0)
    if filters.year_group is not None:
        stmt = stmt.where(Case.year_group == filters.year_group)
    if filters.search:
        return _search_statement(stmt, user, filters, after=after, limit=limit)
    if after:
        stmt = stmt.where(
            tuple_(Case.risk_rank, Case.response_due_dt, Case.id) > tuple_(*_decode_cursor(after))
        )
    return stmt.order_by(Case.risk_rank, Case.response_due_dt, Case.id)


def _search_statement(stmt, user: StaffUser, filters: QueueFilters, *,  # noqa: ANN001, ANN202
                      after: str | None, limit: int):
    """A search: the matching cases, open or closed (unless a status is chosen), newest first.

    Someone looking up a reference or a name wants the history as well, and a
    name can be on many cases over the years. Newest first, a page is the
    highest matching ids: taken from the identifier index alone when no other
    filter applies, so a page costs the same however long the history.
    One IN over a UNION, not "reference = x OR id IN (...)": with the OR,
    PostgreSQL filtered every case of the school.
    """
    by_reference = aliased(Case)
    matching = union(
        select(by_reference.id.label("id")).where(
            by_reference.school_id == user.school_id,
            by_reference.reference == normalise_reference(filters.search)),
        search_case_ids(user.school_id, filters.search)).subquery()
    ids = select(matching.c.id)
    if after:
        ids = ids.where(matching.c.id < _decode_cursor(after)[2])
        stmt = stmt.where(Case.id < _decode_cursor(after)[2])
    narrowed = filters.scope != "all" or any(
        value is not None for value in (filters.status, filters.risk, filters.kind,
                                        filters.platform, filters.year_group))
    if not narrowed:
        ids = ids.order_by(matching.c.id.desc()).limit(limit + 1)
    return stmt.where(Case.id.in_(ids)).order_by(Case.id.desc())


def triage_queue(session: Session, user: StaffUser, filters: QueueFilters,
                 *, after: str | None = None, limit: int | None = None) -> QueuePage:
    """Cases of the user's school, most urgent first, one keyset page at a time.

    The order (risk rank, deadline, id) is the tail of ``ix_case_queue`` after
    (school, is open), so a page is an index range scan however big the table;
    the next page starts after the last row shown, never at an OFFSET.
    """
    require_casework(user)
    limit = limit or PAGE_SIZE
    rows = list(session.execute(
        queue_statement(user, filters, after=after, limit=limit)).unique().scalars())
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return QueuePage(cases=rows[:limit], next_cursor=next_cursor)


# -- one case -------------------------------------------------------------------------
def get_case(session: Session, user: StaffUser, case_id: int) -> Case:
    """Return a case of the user's school, or raise NotFound (another school's is 'not found')."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound()
    require_case_access(user, case)
    return case


def open_case(session: Session, user: StaffUser, case_id: int) -> Case:
    """Open the case page: the report as submitted is shown, so the view is audited."""
    case = get_case(session, user, case_id)
    audit.record(session, "case.viewed", school_id=case.school_id, actor_id=user.id,
                 case_id=case.id)
    if case.unread_reporter_messages and can_work_case(user, case):
        case.unread_reporter_messages = 0
    return case


def chronology(session: Session, user: StaffUser, case: Case) -> list[CaseEvent]:
    """Every event of the case in time order; restricted notes only for author and leads."""
    require_case_access(user, case)
    stmt = (select(CaseEvent).where(CaseEvent.case_id == case.id)
            .options(undefer(CaseEvent.body), joinedload(CaseEvent.actor))
            .order_by(CaseEvent.created_dt, CaseEvent.id))
    if not user.is_lead:
        stmt = stmt.where(or_(CaseEvent.is_restricted.is_(False), CaseEvent.actor_id == user.id))
    return list(session.execute(stmt).scalars())


def case_reports(session: Session, user: StaffUser, case: Case) -> list[Report]:
    require_case_access(user, case)
    return list(session.execute(
        select(Report).where(Report.case_id == case.id).order_by(Report.id)
        .options(undefer(Report.details), undefer(Report.involved), undefer(Report.handles))
    ).scalars())


def case_evidence(session: Session, user: StaffUser, case: Case) -> list[Evidence]:
    require_case_access(user, case)
    return list(session.execute(
        select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id)).scalars())


def casework_staff(session: Session, user: StaffUser) -> list[StaffUser]:
    """Enabled counsellors and leads of the user's school: who a case can be assigned to."""
    require_casework(user)
    return list(session.execute(
        select(StaffUser).where(StaffUser.school_id == user.school_id,
                                StaffUser.case_role.isnot(None),
                                StaffUser.is_enabled.is_(True))
        .order_by(StaffUser.name, StaffUser.id)
    ).scalars())


def merged_into(session: Session, case: Case) -> Case | None:
    """The case this one was merged into, if any (same school by construction)."""
    if case.merged_into_id is None:
        return None
    return session.get(Case, case.merged_into_id)


def reveal_identity(session: Session, user: StaffUser, case_id: int,
                    report_id: int) -> dict[str, Any]:
    """Show a confidential reporter's identity to staff working the case; audited every time.

    DOMAIN.md: only staff working the case may see who reported it, so a
    counsellor reading a colleague's case is refused (a lead may always).
    """
    case = get_case(session, user, case_id)
    require_case_work(user, case)
    report = session.get(Report, report_id)
    if report is None or report.case_id != case.id:
        raise NotFound()
    if report.is_anonymous or not report.reporter_identity:
        raise ValidationFailed("This report is anonymous: there is no identity to show.")
    audit.record(session, "case.identity_revealed", school_id=case.school_id, actor_id=user.id,
                 case_id=case.id, target=f"report:{report.id}")
    return dict(report.reporter_identity)


def open_evidence(session: Session, user: StaffUser, case_id: int,
                  evidence_id: int) -> tuple[Evidence, bytes]:
    """Return an evidence file for download; every opening is audited and on the chronology."""
    case = get_case(session, user, case_id)
    evidence = session.get(Evidence, evidence_id)
    if evidence is None or evidence.case_id != case.id:
        raise NotFound()
    data = evidence_store().get(session, evidence.storage_key)
    session.add(CaseEvent(school_id=case.school_id, case_id=case.id, actor_id=user.id,
                          kind=EventKind.EVIDENCE_VIEWED, data={"evidence_id": evidence.id}))
    audit.record(session, "evidence.opened", school_id=case.school_id, actor_id=user.id,
                 case_id=case.id, target=f"evidence:{evidence.id}")
    return evidence, data


def take_case(session: Session, user: StaffUser, case_id: int, *, version: int | None,
              now: datetime | None = None) -> Case:
    """Assign an unassigned case to oneself."""
    case = get_case(session, user, case_id)
    if case.assignee_id == user.id:
        raise ValidationFailed("This case is already assigned to you.")
    if case.assignee_id is not None:
        raise Conflict(f"{case.assignee.name if case.assignee else 'Someone'} has already taken "
                       "this case. Ask a safeguarding lead to reassign it.")
    case = case_for_work(session, user, case_id, version=version)
    case.assignee_id = user.id
    record_action(session, user, case, EventKind.ASSIGNED, "case.assigned", now=now,
                  data={"from": None, "to": user.id, "to_name": user.name, "taken": True},
                  detail={"to": user.id})
    session.expire(case, ["assignee"])
    return case


def reply(session: Session, user: StaffUser, case_id: int, message: str, *,
          version: int | None, report_id: int | None = None) -> CaseEvent:
    """Answer the reporter of one of the case's reports through the case-key channel."""
    from app.reporting.services import MAX_MESSAGE, reply_to_reporter

    case = case_for_work(session, user, case_id, version=version)
    message = clean_text(message, "message", "the reply", required=True, limit=MAX_MESSAGE)
    reports = list(case.reports)
    if not reports:
        raise ValidationFailed("This case has no report to reply to.")
    report = reports[0]
    if report_id:
        report = next((r for r in reports if r.id == report_id), None)
        if report is None:
            raise ValidationFailed("Choose one of this case's reports.", field="report_id")
    event = reply_to_reporter(session, user, case, message, report=report)
    flush_case(session)
    return event


# -- shared by the write services -----------------------------------------------------
def check_version(case: Case, version: int | None) -> None:
    """Refuse a write made from a page that showed another version of the case."""
    if version is None:
        raise Conflict("This form did not say which version of the case it showed. "
                       "Reload the page and try again.")
    if version != case.version:
        raise Conflict(STALE_MESSAGE)


def case_for_work(session: Session, user: StaffUser, case_id: int, *,
                  version: int | None) -> Case:
    """Load a case the user may change, from a page showing its current version.

    The order of the checks is the order of what a user should hear: a case of
    another school does not exist, a case of someone else is not theirs to
    change, a merged case is changed through the case it went into, and only
    then is a stale page a conflict.
    """
    case = get_case(session, user, case_id)
    require_case_work(user, case)
    require_not_purged(case)
    if case.merged_into_id is not None:
        target = merged_into(session, case)
        raise ValidationFailed(
            f"This case was merged into case {target.reference if target else 'another case'}; "
            "work on that case instead.")
    check_version(case, version)
    return case


def require_not_purged(case: Case, *, field: str | None = None) -> None:
    """Refuse reopening or working a case whose content retention has deleted.

    The purge job takes only cases not yet purged, so whatever was written to
    one afterwards (notes, names, session notes) would never be deleted.
    """
    if case.is_purged:
        raise ValidationFailed(
            f"The content of case {case.reference} was deleted under the school's retention "
            "policy, so it cannot be reopened or worked on. If the concern has come back, "
            "work on it in a new case.", field=field)


def flush_case(session: Session) -> None:
    """Flush, turning a lost optimistic-lock race into the conflict message."""
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(STALE_MESSAGE) from None


def record_action(session: Session, user: StaffUser, case: Case, kind: EventKind, action: str, *,
                  body: str | None = None, data: dict[str, Any] | None = None,
                  is_restricted: bool = False, target: str | None = None,
                  detail: dict[str, Any] | None = None,
                  now: datetime | None = None) -> CaseEvent:
    """Write the chronology entry and the audit entry of a staff action on a case.

    A staff action is also the first response (and stops escalation), so it
    goes through :func:`mark_staff_action`; that touches the case row, which
    bumps its version and so makes every other open page of it stale.
    """
    now = now or utcnow()
    event = CaseEvent(school_id=case.school_id, case_id=case.id, actor_id=user.id, kind=kind,
                      created_dt=now, body=body, data=data or {}, is_restricted=is_restricted)
    session.add(event)
    mark_staff_action(case, now)
    flush_case(session)
    audit.record(session, action, school_id=case.school_id, actor_id=user.id, case_id=case.id,
                 target=target or f"case_event:{event.id}", detail=detail, at=now)
    return event


def clean_text(value: str | None, field: str, label: str, *, required: bool,
               limit: int) -> str | None:
    """Strip free text; refuse it when missing (if required), too long, or unstorable."""
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationFailed(f"Write {label}.", field=field)
        return None
    if len(value) > limit:
        raise ValidationFailed(
            f"{label[0].upper() + label[1:]} is too long: keep it to {limit:,} characters "
            f"(it has {len(value):,}).", field=field)
    if "\x00" in value:
        raise ValidationFailed(f"{label[0].upper() + label[1:]} contains characters we cannot "
                               "store.", field=field)
    return value
