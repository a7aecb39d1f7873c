"""Submitting a report: validation, encryption, the case and its first deadline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.cases.deadlines import response_due
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.references import new_reference
from app.cases.vocabulary import IncidentKind, Platform, ReporterRole, Risk, to_mask
from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.reporting.case_keys import new_case_key
from app.reporting.models import Report
from app.schools.models import School
from app.security import keyring

MAX_TEXT = 10_000
MAX_SHORT = 200
MAX_HANDLES = 20
OCCURRED_PERIODS = ("today", "this_week", "this_month", "earlier")
HIGH_RISK_KINDS = {IncidentKind.THREATS, IncidentKind.IMAGE_SHARING, IncidentKind.HATE}


@dataclass
class ReportInput:
    """What a reporter sends, as plain Python values (from the form or the API)."""

    details: str
    reporter_role: str
    is_danger: bool = False
    is_self_harm: bool = False
    kinds: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    occurred_period: str | None = None
    is_ongoing: bool = False
    involved: str | None = None
    #: ``[{"platform": "instagram", "handle": "@someone"}]``
    handles: list[dict[str, str]] = field(default_factory=list)
    is_anonymous: bool = True
    reporter_name: str | None = None
    year_group: int | None = None
    contact: str | None = None


@dataclass(frozen=True)
class SubmittedReport:
    report: Report
    case: Case
    #: Shown once to the reporter and never stored.
    case_key: str


def get_school(session: Session, slug: str) -> School:
    school = session.execute(select(School).where(School.slug == slug)).scalar_one_or_none()
    if school is None:
        raise NotFound("We could not find that school. Check the address you were given.")
    return school


def _text(value: str | None, name: str, label: str, *, required: bool, limit: int) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationFailed(f"Please tell us {label}.", field=name)
        return None
    if len(value) > limit:
        raise ValidationFailed(
            f"{label[0].upper() + label[1:]} is too long: keep it under {limit:,} characters.",
            field=name,
        )
    if "\x00" in value:
        raise ValidationFailed(f"{label[0].upper() + label[1:]} contains characters we cannot store.",
                               field=name)
    return value


def _members(enum_cls, values: list[str], name: str, label: str) -> list:
    try:
        return [enum_cls(v) for v in dict.fromkeys(values)]
    except ValueError:
        raise ValidationFailed(f"Choose {label} from the list.", field=name) from None


def validate(data: ReportInput) -> dict:
    """Check every field; return the cleaned values or raise :class:`ValidationFailed`."""
    clean: dict = {}
    try:
        clean["reporter_role"] = ReporterRole(data.reporter_role)
    except ValueError:
        raise ValidationFailed("Tell us who is reporting.", field="reporter_role") from None
    clean["details"] = _text(data.details, "details", "what happened", required=True, limit=MAX_TEXT)
    clean["involved"] = _text(data.involved, "involved", "who was involved", required=False,
                              limit=MAX_TEXT)
    clean["kinds"] = _members(IncidentKind, data.kinds, "kinds", "what kind of bullying")
    clean["platforms"] = _members(Platform, data.platforms, "platforms", "where it happened")
    if data.occurred_period and data.occurred_period not in OCCURRED_PERIODS:
        raise ValidationFailed("Choose when it happened from the list.", field="occurred_period")
    clean["occurred_period"] = data.occurred_period or None
    if len(data.handles) > MAX_HANDLES:
        raise ValidationFailed(f"Add at most {MAX_HANDLES} accounts.", field="handles")
    handles = []
    for item in data.handles:
        handle = _text(item.get("handle"), "handles", "the account name", required=False,
                       limit=MAX_SHORT)
        if not handle:
            continue
        platform = _members(Platform, [item.get("platform") or "other"], "handles", "the app")[0]
        handles.append({"platform": platform.value, "handle": handle})
    clean["handles"] = handles
    clean["is_anonymous"] = bool(data.is_anonymous)
    if data.is_anonymous:
        clean["identity"] = None
        clean["year_group"] = None
    else:
        name = _text(data.reporter_name, "reporter_name", "your name", required=True,
                     limit=MAX_SHORT)
        contact = _text(data.contact, "contact", "how we can reach you", required=False,
                        limit=MAX_SHORT)
        if data.year_group is not None and not 1 <= int(data.year_group) <= 14:
            raise ValidationFailed("Choose your year group from the list.", field="year_group")
        clean["identity"] = {"name": name, "year_group": data.year_group, "contact": contact}
        clean["year_group"] = data.year_group
    return clean


def initial_risk(*, is_danger: bool, is_self_harm: bool, is_ongoing: bool,
                 kinds: list[IncidentKind]) -> Risk:
    if is_danger or is_self_harm:
        return Risk.CRITICAL
    if is_ongoing or HIGH_RISK_KINDS.intersection(kinds):
        return Risk.HIGH
    return Risk.MEDIUM


def submit_report(session: Session, school: School, data: ReportInput,
                  *, now: datetime | None = None) -> SubmittedReport:
    """Store a new report and open its case; the caller commits.

    Nothing that identifies the sender's device or network is stored.
    """
    now = now or utcnow()
    clean = validate(data)
    risk = initial_risk(is_danger=data.is_danger, is_self_harm=data.is_self_harm,
                        is_ongoing=data.is_ongoing, kinds=clean["kinds"])
    case = Case(
        school_id=school.id,
        reference=_unique_reference(session, school),
        created_dt=now,
        last_activity_dt=now,
        response_due_dt=response_due(school, risk, now),
        kinds_mask=to_mask(clean["kinds"]),
        platforms_mask=to_mask(clean["platforms"]),
        year_group=clean["year_group"],
    )
    case.set_risk(risk)
    session.add(case)
    session.flush()
    case_key = new_case_key()
    report = Report(
        school_id=school.id,
        case_id=case.id,
        created_dt=now,
        case_key_digest=keyring().case_key_digest(case_key),
        is_anonymous=clean["is_anonymous"],
        reporter_role=clean["reporter_role"],
        is_danger=bool(data.is_danger),
        is_self_harm=bool(data.is_self_harm),
        is_ongoing=bool(data.is_ongoing),
        kinds=[k.value for k in clean["kinds"]],
        platforms=[p.value for p in clean["platforms"]],
        occurred_period=clean["occurred_period"],
        year_group=clean["year_group"],
        details=clean["details"],
        involved=clean["involved"],
        handles=clean["handles"],
        reporter_identity=clean["identity"],
    )
    session.add(report)
    session.flush()
    session.add(CaseEvent(school_id=school.id, case_id=case.id, kind=EventKind.REPORT_SUBMITTED,
                          created_dt=now, data={"report_id": report.id, "risk": risk.value}))
    audit.record(session, "report.submitted", school_id=school.id, actor_kind="reporter",
                 case_id=case.id, target=f"report:{report.id}", at=now,
                 detail={"risk": risk.value, "anonymous": clean["is_anonymous"]})
    return SubmittedReport(report=report, case=case, case_key=case_key)


def _unique_reference(session: Session, school: School) -> str:
    for _ in range(20):
        reference = new_reference(school.slug)
        taken = session.execute(
            select(Case.id).where(Case.school_id == school.id, Case.reference == reference)
        ).first()
        if taken is None:
            return reference
    raise IntegrityError("could not find a free case reference", None, Exception())
