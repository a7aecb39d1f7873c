"""factory_boy factories bound to the test's session (see the ``session`` fixture)."""

from __future__ import annotations

import factory
from factory.alchemy import SQLAlchemyModelFactory

from app.auth.models import CaseRole, StaffUser
from app.schools.models import School
from app.security import hash_password

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH: str | None = None
_session = None


def bind(session) -> None:  # noqa: ANN001
    global _session
    _session = session


def _current_session():
    if _session is None:
        raise RuntimeError("factories used outside the session fixture")
    return _session


def _password_hash() -> str:
    # argon2 is slow on purpose; hash the shared test password once per run.
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        _PASSWORD_HASH = hash_password(PASSWORD)
    return _PASSWORD_HASH


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = _current_session
        sqlalchemy_session_persistence = "flush"


class SchoolFactory(_Base):
    class Meta:
        model = School

    slug = factory.Sequence(lambda n: f"school-{n}")
    name = factory.Sequence(lambda n: f"School {n}")
    timezone = "Europe/London"
    helplines = factory.LazyFunction(
        lambda: [{"name": "Childline", "phone": "0800 1111", "hours": "any time"}]
    )


class StaffFactory(_Base):
    class Meta:
        model = StaffUser

    school = factory.SubFactory(SchoolFactory)
    school_id = factory.SelfAttribute("school.id")
    email = factory.Sequence(lambda n: f"staff{n}@example.org")
    name = factory.Sequence(lambda n: f"Staff Member {n}")
    password_hash = factory.LazyFunction(_password_hash)
    case_role = CaseRole.COUNSELLOR
    is_admin = False


class LeadFactory(StaffFactory):
    case_role = CaseRole.LEAD


class AdminFactory(StaffFactory):
    case_role = None
    is_admin = True


def report_input(**overrides):
    from app.reporting.services import ReportInput

    values = dict(
        details="Someone keeps posting mean comments about me.",
        reporter_role="target",
        kinds=["harassment"],
        platforms=["instagram"],
    )
    values.update(overrides)
    return ReportInput(**values)


def make_case(session, school, **overrides):  # noqa: ANN001
    """Submit a report through the service and return its case."""
    from app.reporting.services import submit_report

    return submit_report(session, school, report_input(**overrides)).case
