"""People involved in a case, and the same names on other cases (through the blind index)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from app.auth.models import StaffUser
from app.cases.identifier_models import CaseIdentifier, IdentifierKind, is_matchable
from app.cases.models import Case, EventKind
from app.cases.people_models import CasePerson, PersonKind, PersonRole
from app.cases.services import (
    case_for_work,
    clean_text,
    flush_case,
    parse_year_group,
    record_action,
)
from app.cases.vocabulary import CaseStatus, Platform
from app.errors import ValidationFailed
from app.policy import require_case_access
from app.reporting.models import Report

MAX_NAME = 200
MAX_HANDLE = 200

ROLE_LABELS = {
    PersonRole.TARGET: "Target",
    PersonRole.STUDENT_WHO_BULLIED: "Student who bullied",
    PersonRole.WITNESS: "Witness",
}
KIND_LABELS = {PersonKind.STUDENT: "A student", PersonKind.ONLINE_ACCOUNT: "An online account"}


@dataclass
class PersonInput:
    """A person as staff enter them: a student (name, year) or an account (platform, handle)."""

    kind: str
    role: str
    name: str | None = None
    year_group: Any = None
    platform: str | None = None
    handle: str | None = None


def platform_label(value: str | None) -> str:
    try:
        return Platform(value).label
    except ValueError:
        return value or "an unknown platform"


def describe_person(person: CasePerson) -> str:
    """Plain words for a person on their own case's page (decrypted: same case only)."""
    if person.kind is PersonKind.STUDENT:
        year = f" (Year {person.year_group})" if person.year_group else ""
        return f"{person.name}{year}"
    return f"{person.handle} on {platform_label(person.platform)}"


def record_person(session: Session, user: StaffUser, case_id: int, data: PersonInput, *,
                  version: int | None, now: datetime | None = None) -> CasePerson:
    """Record someone involved and index their name or handle for repeat-name matching."""
    from app.reporting.services import handle_digest, name_digest

    case = case_for_work(session, user, case_id, version=version)
    try:
        role = PersonRole(data.role)
    except ValueError:
        raise ValidationFailed("Choose how they are involved: target, student who bullied or "
                               "witness.", field="role") from None
    try:
        kind = PersonKind(data.kind)
    except ValueError:
        raise ValidationFailed("Choose a student or an online account.", field="kind") from None
    person = CasePerson(school_id=case.school_id, case_id=case.id, role=role, kind=kind,
                        created_by_id=user.id)
    if kind is PersonKind.STUDENT:
        person.name = clean_text(data.name, "name", "the student's name", required=True,
                                 limit=MAX_NAME)
        person.year_group = parse_year_group(data.year_group)
        digest, id_kind = name_digest(person.name), IdentifierKind.STUDENT_NAME
    else:
        try:
            platform = Platform(data.platform or "")
        except ValueError:
            raise ValidationFailed("Choose the platform of the account from the list.",
                                   field="platform") from None
        handle = clean_text(data.handle, "handle", "the account name (handle)", required=True,
                            limit=MAX_HANDLE)
        person.platform, person.handle = platform.value, handle
        digest, id_kind = handle_digest(platform.value, handle), IdentifierKind.HANDLE
    session.add(person)
    flush_case(session)
    session.add(CaseIdentifier(school_id=case.school_id, case_id=case.id, kind=id_kind,
                               digest=digest, source=f"person:{person.id}"))
    # The name goes only into the encrypted body; data holds categories and ids.
    record_action(session, user, case, EventKind.PERSON_RECORDED, "case.person_recorded",
                  body=f"{describe_person(person)}: {ROLE_LABELS[role].lower()}",
                  data={"person_id": person.id, "kind": kind.value, "role": role.value,
                        "platform": person.platform},
                  target=f"case_person:{person.id}", now=now,
                  detail={"kind": kind.value, "role": role.value})
    return person


def case_people(session: Session, user: StaffUser, case: Case) -> list[CasePerson]:
    require_case_access(user, case)
    return list(session.execute(
        select(CasePerson).where(CasePerson.case_id == case.id).order_by(CasePerson.id)
    ).scalars())


@dataclass
class RepeatMatch:
    """Another case of the school naming someone this case names."""

    case_id: int
    reference: str
    status: CaseStatus
    #: What on *this* case matched, in words (never read from the other case).
    names: list[str] = field(default_factory=list)


def _own_labels(session: Session, case: Case) -> dict[str, str]:
    """Digest -> words, from this case's own people and reports only."""
    from app.reporting.services import handle_digest

    labels: dict[str, str] = {}
    for person in session.execute(
            select(CasePerson).where(CasePerson.case_id == case.id)).scalars():
        labels.setdefault(f"person:{person.id}", describe_person(person))
    reports = session.execute(
        select(Report).where(Report.case_id == case.id).options(undefer(Report.handles))
    ).scalars()
    for report in reports:
        for item in report.handles or []:
            labels.setdefault(handle_digest(item["platform"], item["handle"]),
                              f"{item['handle']} on {platform_label(item['platform'])}")
    return labels


def repeat_names(session: Session, user: StaffUser, case: Case) -> list[RepeatMatch]:
    """Other cases of the school sharing a name or handle with this one (exact, normalised).

    Matching compares blind-index digests only; nothing of another case is decrypted.
    A confidential reporter's own name matches nothing, on either side
    (:func:`~app.cases.identifier_models.is_matchable`).
    """
    require_case_access(user, case)
    own = list(session.execute(
        select(CaseIdentifier.digest, CaseIdentifier.source).where(
            CaseIdentifier.case_id == case.id, is_matchable())
    ))
    if not own:
        return []
    rows = session.execute(
        select(CaseIdentifier.digest, Case.id, Case.reference, Case.status)
        .join(Case, Case.id == CaseIdentifier.case_id)
        .where(CaseIdentifier.school_id == case.school_id,
               Case.school_id == case.school_id,
               CaseIdentifier.case_id != case.id,
               CaseIdentifier.digest.in_({digest for digest, _ in own}),
               is_matchable())
        .order_by(Case.id)
    ).all()
    if not rows:
        return []
    labels = _own_labels(session, case)
    words: dict[str, str] = {}
    for digest, source in own:
        words.setdefault(digest, labels.get(digest) or labels.get(source) or "a name")
    matches: dict[int, RepeatMatch] = {}
    for digest, other_id, reference, status in rows:
        match = matches.setdefault(other_id, RepeatMatch(other_id, reference, status))
        if words[digest] not in match.names:
            match.names.append(words[digest])
    return list(matches.values())
