"""Fixtures for casework tests: two schools, their staff and cases, and HTTP helpers."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.cases.models import Case, CaseEvent
from tests.factories import AdminFactory, LeadFactory, SchoolFactory, StaffFactory, make_case
from tests.helpers import sign_in

_TOKEN = re.compile(r'csrf_token"[^>]*value="([^"]+)"')
#: Each signed-in client gets its own address: sign-in is rate limited per address.
_addresses = itertools.count(1)


@dataclass
class World:
    school: object
    other_school: object
    counsellor: object
    colleague: object
    lead: object
    admin: object
    other_counsellor: object
    other_lead: object


@pytest.fixture
def world(session) -> World:
    school, other = SchoolFactory(), SchoolFactory()
    w = World(
        school=school, other_school=other,
        counsellor=StaffFactory(school=school, name="Casey Counsellor"),
        colleague=StaffFactory(school=school, name="Robin Colleague"),
        lead=LeadFactory(school=school, name="Lee Lead"),
        admin=AdminFactory(school=school, name="Ada Admin"),
        other_counsellor=StaffFactory(school=other, name="Olly Other"),
        other_lead=LeadFactory(school=other, name="Otto Otherlead"),
    )
    session.commit()
    return w


@pytest.fixture
def new_case(session, world):
    """A fresh medium-risk case of the world's school (committed, visible to requests)."""
    def make(school=None, **overrides) -> Case:  # noqa: ANN001
        case = make_case(session, school or world.school, **overrides)
        session.commit()
        return case
    return make


def event_count(session, case_id: int) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(CaseEvent)
                          .where(CaseEvent.case_id == case_id))


def audit_actions(session, case_id: int) -> list[str]:  # noqa: ANN001
    return list(session.scalars(select(AuditEntry.action).where(AuditEntry.case_id == case_id)
                                .order_by(AuditEntry.id)))


def snapshot(session, case_id: int) -> dict:  # noqa: ANN001
    """Everything a refused action must leave alone (audited views excepted)."""
    session.expire_all()
    case = session.get(Case, case_id)
    return {
        "case": {c.key: getattr(case, c.key) for c in Case.__table__.columns
                 if c.key not in ("unread_reporter_messages",)},
        "events": event_count(session, case_id),
        "changes": [a for a in audit_actions(session, case_id) if a != "case.viewed"],
    }


def token(client) -> str:  # noqa: ANN001
    """A CSRF token of the signed-in session (any form of the session accepts it)."""
    page = client.get("/staff/password").get_data(as_text=True)
    match = _TOKEN.search(page)
    assert match, "no CSRF token on the change-password page"
    return match.group(1)


class Staff:
    """A signed-in test client acting for one staff member."""

    def __init__(self, app, session, user) -> None:  # noqa: ANN001
        self.client = app.test_client()
        n = next(_addresses)
        self.client.environ_base["REMOTE_ADDR"] = f"10.44.{n // 250}.{n % 250 + 1}"
        self.session = session
        self.user = user
        response = sign_in(self.client, user)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        self.csrf = token(self.client)

    def get(self, url: str):  # noqa: ANN201
        return self.client.get(url)

    def post(self, case: Case | int, action: str, prefix: str, data: dict | None = None, *,
             version: int | None = None):  # noqa: ANN201
        """Post one case-page form; the version defaults to the case's current one."""
        case_id = case if isinstance(case, int) else case.id
        if version is None:
            version = self.session.scalar(select(Case.version).where(Case.id == case_id))
        fields = {f"{prefix}-csrf_token": self.csrf}
        if version is not None:
            fields[f"{prefix}-version"] = str(version)
        for key, value in (data or {}).items():
            fields[f"{prefix}-{key}"] = value
        return self.client.post(f"/staff/cases/{case_id}/{action}", data=fields)


@pytest.fixture
def as_staff(app, session):
    """Sign a user in (once per test: the password check is slow on purpose)."""
    signed_in: dict[int, Staff] = {}

    def make(user) -> Staff:  # noqa: ANN001
        if user.id not in signed_in:
            signed_in[user.id] = Staff(app, session, user)
        return signed_in[user.id]
    return make


def text(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True)
