"""Linking a report to another case, and merging a whole case into another.

Who may do it: a lead, or a counsellor who may work *both* cases (each is
theirs or unassigned). Merging writes to both cases, and that is the same
rule as for every other write; requiring a lead would make a daily triage
chore (two students reporting the same incident) wait for one person, while
the audit entries on both cases keep it visible.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import StaffUser
from app.cases.deadlines import start_deadline
from app.cases.identifier_models import CaseIdentifier
from app.cases.models import Case, EventKind
from app.cases.people_models import CasePerson
from app.cases.references import normalise_reference
from app.cases.services import case_for_work, clean_text, record_action, require_not_purged
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, to_mask
from app.db import utcnow
from app.errors import Forbidden, ValidationFailed
from app.policy import can_work_case
from app.reporting.evidence_models import Evidence
from app.schools.models import School

MAX_REFERENCE = 20


def _mask(enum_cls, values: list[str]) -> int:  # noqa: ANN001
    members = []
    for value in values or []:
        try:
            members.append(enum_cls(value))
        except ValueError:
            continue
    return to_mask(members)


def find_target(session: Session, user: StaffUser, source: Case, reference: str | None) -> Case:
    """The case of the same school with ``reference``, fit to receive reports."""
    ref = normalise_reference(reference or "")
    if not ref:
        raise ValidationFailed("Enter the reference of the case to move the report to.",
                               field="target")
    target = None
    if len(ref) <= MAX_REFERENCE:
        target = session.execute(
            select(Case).where(Case.school_id == source.school_id, Case.reference == ref)
        ).scalar_one_or_none()
    if target is None:
        raise ValidationFailed(
            "No case of your school has that reference. Check it on the other case's page.",
            field="target")
    if target.id == source.id:
        raise ValidationFailed("That is this case: enter the reference of the other case.",
                               field="target")
    require_not_purged(target, field="target")
    if target.merged_into_id is not None:
        raise ValidationFailed(f"Case {target.reference} was itself merged into another case; "
                               "use that case's reference.", field="target")
    if not target.is_open:
        raise ValidationFailed(f"Case {target.reference} is {target.status.label.lower()}. "
                               "Reopen it first, then move the report to it.", field="target")
    if not can_work_case(user, target):
        raise Forbidden(f"Case {target.reference} is assigned to someone else; ask a "
                        "safeguarding lead to merge these cases.")
    return target


def merge_cases(session: Session, user: StaffUser, case_id: int, target_reference: str | None,
                *, version: int | None, report_id: int | None = None,
                reason: str | None = None, now: datetime | None = None) -> Case:
    """Move one report (or all, when none is named or it is the only one) into another case.

    Reports carry their evidence and their blind-index entries with them; the
    chronology stays where it was written. When every report moves, the people
    recorded and the follow-up sessions move too, and the emptied case is
    closed with ``merged_into_id`` pointing at the case that took them.
    """
    source = case_for_work(session, user, case_id, version=version)
    target = find_target(session, user, source, target_reference)
    reason = clean_text(reason, "reason", "the reason", required=False, limit=5_000)
    reports = list(source.reports)
    moving = reports
    if report_id:
        chosen = next((r for r in reports if r.id == report_id), None)
        if chosen is None:
            raise ValidationFailed("Choose one of this case's reports.", field="report_id")
        moving = [chosen]
    is_whole = len(moving) == len(reports)
    now = now or utcnow()
    report_ids = [r.id for r in moving]

    for report in moving:
        report.case = target
        target.kinds_mask |= _mask(IncidentKind, report.kinds)
        target.platforms_mask |= _mask(Platform, report.platforms)
        if target.year_group is None and report.year_group is not None:
            target.year_group = report.year_group
    session.execute(update(Evidence).where(Evidence.report_id.in_(report_ids))
                    .values(case_id=target.id).execution_options(synchronize_session=False))
    sources = [f"report:{i}" for i in report_ids]
    if is_whole:
        person_ids = list(session.execute(
            select(CasePerson.id).where(CasePerson.case_id == source.id)).scalars())
        sources += [f"person:{i}" for i in person_ids]
        session.execute(update(CasePerson).where(CasePerson.case_id == source.id)
                        .values(case_id=target.id).execution_options(synchronize_session="fetch"))
        _move_sessions(session, source, target)
    session.execute(update(CaseIdentifier).where(CaseIdentifier.case_id == source.id,
                                                 CaseIdentifier.source.in_(sources))
                    .values(case_id=target.id).execution_options(synchronize_session="fetch"))

    raised_from = None
    if source.risk_rank < target.risk_rank:
        # The more urgent risk wins, on the older clock: merging never delays a response.
        raised_from = target.risk
        target.set_risk(source.risk)
        start_deadline(target, session.get(School, target.school_id), source.deadline_start_dt)
    if is_whole:
        target.year_group = target.year_group or source.year_group
        target.unread_reporter_messages += source.unread_reporter_messages
        previous_status = source.status
        source.unread_reporter_messages = 0
        source.set_status(CaseStatus.CLOSED)
        source.closed_dt = now
        source.merged_into_id = target.id
    else:
        remaining = [r for r in reports if r.id not in report_ids]
        source.kinds_mask = 0
        source.platforms_mask = 0
        for report in remaining:
            source.kinds_mask |= _mask(IncidentKind, report.kinds)
            source.platforms_mask |= _mask(Platform, report.platforms)

    action = "case.merged" if is_whole else "case.report_linked"
    facts = {"report_ids": report_ids, "merged": is_whole}
    record_action(session, user, source, EventKind.REPORT_LINKED, action, body=reason, now=now,
                  data={**facts, "direction": "out", "other_case_id": target.id,
                        "other_reference": target.reference,
                        **({"from": previous_status.value, "to": CaseStatus.CLOSED.value}
                           if is_whole else {})},
                  detail={**facts, "direction": "out", "other_case_id": target.id})
    record_action(session, user, target, EventKind.REPORT_LINKED, action, body=reason, now=now,
                  data={**facts, "direction": "in", "other_case_id": source.id,
                        "other_reference": source.reference},
                  detail={**facts, "direction": "in", "other_case_id": source.id})
    if raised_from is not None:
        record_action(session, user, target, EventKind.RISK_CHANGED, "case.risk_changed",
                      body=f"Raised to match case {source.reference}, merged into this one.",
                      data={"from": raised_from.value, "to": target.risk.value}, now=now,
                      detail={"from": raised_from.value, "to": target.risk.value,
                              "merge_from": source.id})
    return target


def _move_sessions(session: Session, source: Case, target: Case) -> None:
    from app.scheduling.services import move_case_sessions

    move_case_sessions(session, source.id, target.id)
