"""Submitting a report: validation, encryption, the case and its first deadline."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, bindparam, func, inspect, select
from sqlalchemy.orm import Session, undefer

from app.audit import services as audit
from app.audit.models import AuditChain, AuditEntry
from app.auth.models import StaffUser
from app.cases.identifier_models import CaseIdentifier, IdentifierKind
from app.cases.deadlines import mark_staff_action, start_deadline
from app.cases.models import Case, CaseEvent, EventKind
from app.cases.references import new_reference
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, ReporterRole, Risk, to_mask
from app.db import utcnow
from app.errors import DomainError, NotFound, ValidationFailed
from app.inserts import Followup, full_row, insert_together
from app.notifications.outbox import queue_notification
from app.notifications.recipients import StaffDirectory, hold_recipients
from app.policy import require_case_work
from app.reporting.case_keys import CASE_KEY_WORDS, new_case_key
from app.reporting.models import Report
from app.schools.lookup import school_cache
from app.schools.models import School
from app.security import keyring, normalise_case_key

if TYPE_CHECKING:
    from app.reporting.evidence_models import Evidence

log = logging.getLogger(__name__)

MAX_TEXT = 10_000
MAX_SHORT = 200
MAX_HANDLES = 20
OCCURRED_PERIODS = ("today", "this_week", "this_month", "earlier")
HIGH_RISK_KINDS = {IncidentKind.THREATS, IncidentKind.IMAGE_SHARING, IncidentKind.HATE}


@dataclass(repr=False)  # what a student wrote must not reach a log through repr()
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
    #: Where to say "you have a reply" (optional, kept encrypted).
    reply_email: str | None = None


@dataclass(frozen=True)
class SubmittedReport:
    case_id: int
    report_id: int
    reference: str
    status: CaseStatus
    risk: Risk
    #: Shown once to the reporter and never stored (nor shown by repr()).
    case_key: str = field(repr=False)
    session: Session = field(repr=False, compare=False)

    @property
    def case(self) -> Case:
        """The case as an ORM object, loaded on first use (the submission writes without one)."""
        return self.session.get(Case, self.case_id)

    @property
    def report(self) -> Report:
        return self.session.get(Report, self.report_id)


def get_school(session: Session, slug: str) -> School:
    """The school at ``/s/<slug>/``, from the per-process cache (read it, never change it)."""
    # A slug is short lower-case text; anything else (a NUL, 10 KB) cannot name a school.
    if len(slug) > 64 or "\x00" in slug:
        raise NotFound("We could not find that school. Check the address you were given.")
    school = school_cache().get(session, slug)
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
    clean["reply_email"] = _reply_email(data.reply_email) if data.reply_email else None
    return clean


def _reply_email(email: str) -> str:
    email = _text(email, "reply_email", "your email address", required=True, limit=254)
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationFailed("Enter an email address like name@example.com.",
                               field="reply_email") from None


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

    Nothing that identifies the sender's device or network is stored. The rows
    (the case, the report with the reply address if given, its first event,
    the blind indexes and the audit entries) are built first and written
    together (:func:`app.inserts.insert_together`): on PostgreSQL a submission
    is two statements, the school's audit chain taken (its head locked and
    read) with the two new ids reserved, and one INSERT of everything that
    also moves the chain's head. Critical reports also queue the leads' alerts.
    """
    now = now or utcnow()
    clean = validate(data)
    risk = initial_risk(is_danger=data.is_danger, is_self_harm=data.is_self_harm,
                        is_ongoing=data.is_ongoing, kinds=clean["kinds"])
    # A transient case works out the risk rank and the first deadline as everywhere else.
    case = Case(school_id=school.id, created_dt=now, last_activity_dt=now,
                kinds_mask=to_mask(clean["kinds"]), platforms_mask=to_mask(clean["platforms"]),
                year_group=clean["year_group"])
    case.set_risk(risk)
    start_deadline(case, school, now)
    session.flush()  # anything pending in the session goes first
    alerted = critical_alert_recipients(session, school.id) if risk is Risk.CRITICAL else []
    conn = session.connection()
    head, case_id, report_id = _take_chain_and_ids(conn, school.id)
    case_key = new_case_key()
    target = f"report:{report_id}"
    report = full_row(Report.__table__, {
        "id": report_id,
        "school_id": school.id,
        "case_id": case_id,
        "created_dt": now,
        "case_key_digest": keyring().case_key_digest(case_key),
        "is_anonymous": clean["is_anonymous"],
        "reporter_role": clean["reporter_role"],
        "is_danger": bool(data.is_danger),
        "is_self_harm": bool(data.is_self_harm),
        "is_ongoing": bool(data.is_ongoing),
        "kinds": [k.value for k in clean["kinds"]],
        "platforms": [p.value for p in clean["platforms"]],
        "occurred_period": clean["occurred_period"],
        "year_group": clean["year_group"],
        "details": clean["details"],
        "involved": clean["involved"],
        "handles": clean["handles"],
        "reporter_identity": clean["identity"],
        "reply_email": clean["reply_email"],
    })
    event = full_row(CaseEvent.__table__, {
        "school_id": school.id, "case_id": case_id, "kind": EventKind.REPORT_SUBMITTED,
        "created_dt": now, "data": {"report_id": report_id, "risk": risk.value}})
    identifiers = identifier_rows(school.id, case_id, target, now, handles=clean["handles"],
                                  names=[clean["identity"]["name"]] if clean["identity"] else [])
    entries = [{"school_id": school.id, "action": "report.submitted", "actor_kind": "reporter",
                "case_id": case_id, "target": target, "at": now,
                "detail": {"risk": risk.value, "anonymous": clean["is_anonymous"]}}]
    if clean["reply_email"]:
        entries.append({"school_id": school.id, "action": "report.reply_email_set",
                        "actor_kind": "reporter", "case_id": case_id, "at": now})
    audit_rows = audit.chained_rows({school.id: head}, entries)
    rest = [(Report.__table__, [report]), (CaseEvent.__table__, [event]),
            (CaseIdentifier.__table__, identifiers), (AuditEntry.__table__, audit_rows)]
    # The chain's head moves to the last entry (the case's school is the chain's key).
    moved = Followup(_CHAIN, {"chain_key": "school_id"}, {"head_hash": audit_rows[-1]["entry_hash"]})
    case_row = full_row(Case.__table__, {**_column_values(case), "id": case_id})
    for _ in range(20):
        # A reference already taken in the school writes nothing, and another is drawn.
        case_row["reference"] = reference = new_reference(school.slug)
        if insert_together(conn, Case.__table__, case_row, unique=("school_id", "reference"),
                           rest=rest, inherit=_FROM_CASE, then_update=moved) is not None:
            break
    else:  # 20 misses in a space of 2**30 per school means something else is wrong
        raise RuntimeError("could not find a free case reference")
    if risk is Risk.CRITICAL:
        queue_critical_alerts(session, school.id, case_id, reference, alerted,
                              occasion=f"report:{report_id}")
    return SubmittedReport(case_id=case_id, report_id=report_id, reference=reference,
                           status=case_row["status"], risk=risk, case_key=case_key,
                           session=session)


#: What every row of a submission copies from its new case (the same values, sent once).
_FROM_CASE = {"case_id": "id", "school_id": "school_id", "created_dt": "created_dt"}
#: Case columns the application sets (the rest take their column defaults).
_CASE_COLUMNS = tuple(attr.key for attr in inspect(Case).column_attrs if attr.key != "id")
_CASE_ID, _REPORT_ID = Case.__table__.c.id, Report.__table__.c.id
_CHAIN = AuditChain.__table__
# The school's audit chain taken (its head row locked and read, :func:`audit.take_chains`),
# with ids for the submission's case and report, so that every row can name them.
# (SQLite holds the write lock from BEGIN IMMEDIATE, so the next ids are safe to take.)
_TAKE_CHAIN_AND_IDS = {
    "postgresql": select(
        _CHAIN.c.head_hash,
        func.nextval(func.pg_get_serial_sequence(Case.__table__.name, "id")),
        func.nextval(func.pg_get_serial_sequence(Report.__table__.name, "id")))
    .where(_CHAIN.c.chain_key == bindparam("chain_key")).with_for_update(of=_CHAIN),
    "sqlite": select(
        _CHAIN.c.head_hash,
        select(func.coalesce(func.max(_CASE_ID), 0) + 1).scalar_subquery(),
        select(func.coalesce(func.max(_REPORT_ID), 0) + 1).scalar_subquery())
    .where(_CHAIN.c.chain_key == bindparam("chain_key")),
}


def _take_chain_and_ids(conn: Connection, school_id: int) -> tuple[str, int, int]:
    """The school's chain head, locked, and ids for a new case and report: one statement."""
    statement = _TAKE_CHAIN_AND_IDS[conn.dialect.name]
    row = conn.execute(statement, {"chain_key": school_id}).one_or_none()
    if row is None:  # the school's first entry: its chain gets its row, then as before
        audit.take_chains(conn, [school_id])
        row = conn.execute(statement, {"chain_key": school_id}).one()
    return row[0], row[1], row[2]


def _column_values(obj: object) -> dict:
    """The columns set on a transient ORM object (its defaults are not applied yet)."""
    state = vars(obj)
    return {key: state[key] for key in _CASE_COLUMNS if key in state}


def handle_digest(platform: str, handle: str) -> str:
    return keyring().blind_index(f"handle:{platform}", handle)


def name_digest(name: str) -> str:
    return keyring().blind_index("student_name", name)


def identifier_rows(school_id: int, case_id: int, source: str, created_dt: datetime, *,
                    handles: list[dict[str, str]], names: list[str]) -> list[dict]:
    """Blind indexes of the handles and names named, for exact matching later (one row each)."""
    rows: dict[str, IdentifierKind] = {}
    for item in handles:
        rows.setdefault(handle_digest(item["platform"], item["handle"]), IdentifierKind.HANDLE)
    for name in names:
        rows.setdefault(name_digest(name), IdentifierKind.STUDENT_NAME)
    return [full_row(CaseIdentifier.__table__, {
        "school_id": school_id, "case_id": case_id, "digest": digest, "kind": kind,
        "source": source, "created_dt": created_dt}) for digest, kind in rows.items()]


def critical_alert_recipients(session: Session, school_id: int) -> list[int]:
    """Who hears at once of a critical case, locked for their alerts: call before the chain lock.

    The school's enabled leads, or whoever stands in for them
    (:meth:`StaffDirectory.critical_alert_recipients`). The alerts are written
    after the chain lock (they name the case's reference, or the risk change's
    event), so their recipients' rows are held first (:func:`hold_recipients`).
    """
    recipients = StaffDirectory.load(session, [school_id]).critical_alert_recipients(school_id)
    hold_recipients(session, recipients)
    return recipients


def queue_critical_alerts(session: Session, school_id: int, case_id: int, reference: str,
                          recipients: list[int], *, occasion: str) -> None:
    """Queue an immediate alert to each of ``recipients`` (:func:`critical_alert_recipients`).

    ``occasion`` names what made the case critical (``report:<id>``,
    ``risk_event:<id>``): a case that becomes critical again alerts again,
    while the same occasion queued twice alerts once. Sent once the transaction
    commits; one row at a time (not the scans' bulk write): each gets its own
    wake-up task, so the alerts go out in parallel without waiting for a sweep.
    """
    if not recipients:
        log.warning("critical alert has nobody to tell", extra={"case_id": case_id})
    for staff_id in recipients:
        queue_notification(session,
                           key=f"critical_alert:case:{case_id}:{occasion}:staff:{staff_id}",
                           kind="critical_alert", school_id=school_id,
                           recipient_staff_id=staff_id, case_id=case_id,
                           data={"reference": reference})


# -- the case-key channel -------------------------------------------------------------
class KeyNotRecognised(DomainError):
    status_code = 200
    default_message = (
        "We could not find a report with that case key. Check each word and try again."
    )


STATUS_FOR_STUDENTS = {
    "new": "We have your report. Someone will read it soon.",
    "triaged": "A member of staff has read your report.",
    "in_progress": "Staff are working on this.",
    "awaiting_follow_up": "Staff are checking how things are going.",
    "resolved": "Staff think this is sorted. If it is not, send us a message.",
    "closed": "This report is closed. If it starts again, send a message or make a new report.",
}
MAX_MESSAGE = 5_000


def find_report_by_key(session: Session, school: School, passphrase: str) -> Report:
    """Return the report the case key opens, or raise one generic error."""
    passphrase = (passphrase or "")[:400]
    if len(normalise_case_key(passphrase).split()) < 3:
        raise KeyNotRecognised()
    digest = keyring().case_key_digest(passphrase)
    report = session.execute(
        select(Report).where(Report.case_key_digest == digest, Report.school_id == school.id)
    ).scalar_one_or_none()
    if report is None:
        raise KeyNotRecognised()
    return report


def find_report_by_digest(session: Session, passphrase: str) -> Report | None:
    """Return the report a case key opens, in any school (the API names no school)."""
    passphrase = (passphrase or "")[:400]
    if len(normalise_case_key(passphrase).split()) < 3:
        return None
    digest = keyring().case_key_digest(passphrase)
    return session.execute(
        select(Report).where(Report.case_key_digest == digest)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class ChannelMessage:
    is_from_school: bool
    body: str
    created_dt: datetime


@dataclass(frozen=True)
class ReporterView:
    report: Report
    status_text: str
    messages: list[ChannelMessage]
    evidence_count: int
    has_reply_email: bool


def reporter_view(session: Session, report: Report) -> ReporterView:
    """What the holder of a case key may see: status in plain words and the messages."""
    from app.reporting.evidence_models import Evidence

    events = session.execute(
        select(CaseEvent).where(
            CaseEvent.report_id == report.id,
            CaseEvent.kind.in_([EventKind.MESSAGE_FROM_REPORTER, EventKind.MESSAGE_TO_REPORTER]),
        ).order_by(CaseEvent.created_dt, CaseEvent.id).options(undefer(CaseEvent.body))
    ).scalars()
    messages = [ChannelMessage(e.kind is EventKind.MESSAGE_TO_REPORTER, e.body or "", e.created_dt)
                for e in events]
    evidence_count = session.execute(
        select(func.count()).select_from(Evidence).where(Evidence.report_id == report.id)
    ).scalar_one()
    has_email = session.execute(
        select(Report.reply_email.isnot(None)).where(Report.id == report.id)
    ).scalar_one()
    return ReporterView(report, STATUS_FOR_STUDENTS[report.case.status.value], messages,
                        evidence_count, bool(has_email))


def submitted_reference(session: Session, report: Report) -> str:
    """The reference the report was given when it was sent, wherever it has moved since.

    Staff may merge a report into a case whose reference went to another
    reporter: showing that one would tell this reporter who else reported. The
    case a report opened keeps its reference, and its chronology keeps the
    submission's entry, naming the report and written at the report's moment
    (so the lookup runs on the indexes of both).
    """
    reference = session.execute(
        select(Case.reference)
        .join(CaseEvent, CaseEvent.case_id == Case.id)
        .where(Case.school_id == report.school_id, Case.created_dt == report.created_dt,
               CaseEvent.created_dt == report.created_dt,
               CaseEvent.kind == EventKind.REPORT_SUBMITTED,
               CaseEvent.data["report_id"].as_integer() == report.id)
    ).scalars().first()
    # submit_report writes that entry with every report; should one ever lack it, the case
    # it is on now is the only answer left.
    return reference or report.case.reference


_LETTER_RUNS = re.compile(r"[^\W\d_]+")


def contains_case_key(text: str, case_key_digest: str) -> bool:
    """True if ``text`` holds the case key whose digest is given, however it is typed.

    Every run of as many words as a key has is hashed like a key and compared,
    so the check needs only the stored digest, never the key itself. Key words
    are letters only, so any other character (quotes, brackets, "!", ":")
    separates words: a key written inside punctuation is still caught.
    """
    words = _LETTER_RUNS.findall(text.lower())
    ring = keyring()
    return any(
        hmac.compare_digest(ring.case_key_digest(" ".join(words[i:i + CASE_KEY_WORDS])),
                            case_key_digest)
        for i in range(len(words) - CASE_KEY_WORDS + 1)
    )


def send_reporter_message(session: Session, report: Report, text: str, *,
                          now: datetime | None = None) -> CaseEvent:
    """Add a message from the reporter to the case; refuse one that holds the key."""
    now = now or utcnow()
    body = _text(text, "message", "your message", required=True, limit=MAX_MESSAGE)
    if contains_case_key(body, report.case_key_digest):
        raise ValidationFailed(
            "Your message contains your case key. Remove it before sending: staff must never "
            "see your key.", field="message")
    case = report.case
    event = CaseEvent(school_id=report.school_id, case_id=case.id, report_id=report.id,
                      kind=EventKind.MESSAGE_FROM_REPORTER, created_dt=now, body=body)
    session.add(event)
    case.unread_reporter_messages += 1
    case.last_activity_dt = now
    session.flush()
    if case.assignee_id:
        # Queued before the audit entry, which writes it before taking the chain's lock:
        # the row it names (the assignee's) is locked first (see audit.record).
        queue_notification(session, key=f"reporter_message:{event.id}:staff:{case.assignee_id}",
                           kind="reporter_message", school_id=report.school_id,
                           recipient_staff_id=case.assignee_id, case_id=case.id,
                           data={"reference": case.reference})
    audit.record(session, "report.message_received", school_id=report.school_id,
                 actor_kind="reporter", case_id=case.id, target=f"case_event:{event.id}", at=now)
    return event


def set_reply_email(session: Session, report: Report, email: str | None) -> None:
    """Keep (or with ``None``, delete) the address used only to say "you have a reply"."""
    if email is not None:
        email = _reply_email(email)
    report.reply_email = email
    audit.record(session, "report.reply_email_set" if email else "report.reply_email_deleted",
                 school_id=report.school_id, actor_kind="reporter", case_id=report.case_id)


def add_evidence(session: Session, report: Report, *, filename: str | None, data: bytes,
                 max_bytes: int, max_files: int, now: datetime | None = None) -> "Evidence":
    from app.reporting.evidence import clean_upload, evidence_store
    from app.reporting.evidence_models import Evidence

    now = now or utcnow()
    count = session.execute(
        select(func.count()).select_from(Evidence).where(Evidence.report_id == report.id)
    ).scalar_one()
    if count >= max_files:
        raise ValidationFailed(f"A report can have at most {max_files} files.", field="file")
    clean = clean_upload(data, max_bytes=max_bytes)
    key = evidence_store().put(session, clean.data)
    evidence = Evidence(
        school_id=report.school_id, case_id=report.case_id, report_id=report.id, created_dt=now,
        content_type=clean.content_type, size=len(clean.data),
        original_sha256=clean.original_sha256,
        stored_sha256=hashlib.sha256(clean.data).hexdigest(),
        is_metadata_stripped=clean.is_metadata_stripped,
        filename=(filename or "")[:200] or None, storage_key=key,
    )
    session.add(evidence)
    session.flush()
    session.add(CaseEvent(school_id=report.school_id, case_id=report.case_id,
                          kind=EventKind.EVIDENCE_ADDED, created_dt=now,
                          data={"evidence_id": evidence.id, "content_type": clean.content_type}))
    report.case.last_activity_dt = now
    audit.record(session, "evidence.added", school_id=report.school_id, actor_kind="reporter",
                 case_id=report.case_id, target=f"evidence:{evidence.id}", at=now,
                 detail={"sha256": clean.original_sha256})
    return evidence


def reply_to_reporter(session: Session, staff: StaffUser, case: Case, text: str, *,
                      report: Report | None = None, now: datetime | None = None) -> CaseEvent:
    """Post a message from the school into a report's case-key channel."""
    require_case_work(staff, case)
    now = now or utcnow()
    body = _text(text, "message", "the reply", required=True, limit=MAX_MESSAGE)
    report = report or case.reports[0]
    if report.case_id != case.id:
        raise NotFound()
    event = CaseEvent(school_id=case.school_id, case_id=case.id, report_id=report.id,
                      kind=EventKind.MESSAGE_TO_REPORTER, created_dt=now, body=body,
                      actor_id=staff.id)
    session.add(event)
    mark_staff_action(case, now)
    session.flush()
    audit.record(session, "case.reply_sent", school_id=case.school_id, actor_id=staff.id,
                 case_id=case.id, target=f"case_event:{event.id}", at=now)
    has_email = session.execute(
        select(Report.reply_email.isnot(None)).where(Report.id == report.id)
    ).scalar_one()
    if has_email:
        queue_notification(session, key=f"reply_available:{event.id}",
                           kind="reply_available", school_id=case.school_id,
                           recipient_report_id=report.id, case_id=case.id)
    return event
