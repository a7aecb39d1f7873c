"""Who may see what: school isolation through the session, and the role checks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.auth.models import StaffUser
from app.cases.models import Case, CaseEvent
from app.errors import Forbidden, NotFound
from app.policy import (
    can_work_case,
    clear_scope,
    require_admin,
    require_case_work,
    require_casework,
    require_lead,
    require_same_school,
    scope_to_school,
    scoped_school_id,
)
from app.reporting.models import Report
from tests.factories import AdminFactory, LeadFactory, SchoolFactory, StaffFactory, make_case
from tests.helpers import sign_in


@pytest.fixture
def world(session):
    """Two schools, each with staff and open cases; committed and visible on this connection."""
    a, b = SchoolFactory(), SchoolFactory()
    staff_a = [StaffFactory(school=a), LeadFactory(school=a)]
    staff_b = [StaffFactory(school=b), LeadFactory(school=b), AdminFactory(school=b)]
    cases_a = [make_case(session, a, details=f"school A report {i}") for i in range(2)]
    cases_b = [make_case(session, b, details=f"school B report {i}") for i in range(3)]
    session.commit()
    return {"a": a, "b": b, "staff_a": staff_a, "staff_b": staff_b,
            "cases_a": cases_a, "cases_b": cases_b}


@pytest.fixture
def fresh(session):
    """A second session on the test's connection, so nothing comes from an identity map."""
    sessions = []

    def make() -> Session:
        s = Session(bind=session.connection(), join_transaction_mode="create_savepoint")
        sessions.append(s)
        return s

    yield make
    # each one holds a savepoint nested in the one before: release innermost first
    for s in reversed(sessions):
        s.close()


def _ids(rows) -> set[int]:
    return {r.id for r in rows}


# -- isolation ------------------------------------------------------------------------
def test_a_scoped_session_selects_only_its_schools_rows(world, fresh):
    s = fresh()
    scope_to_school(s, world["a"].id)
    assert scoped_school_id(s) == world["a"].id

    cases = s.execute(select(Case)).scalars().all()
    assert _ids(cases) == _ids(world["cases_a"])
    staff = s.execute(select(StaffUser)).scalars().all()
    assert _ids(staff) == _ids(world["staff_a"])
    reports = s.execute(select(Report)).scalars().all()
    assert {r.case_id for r in reports} == _ids(world["cases_a"])
    events = s.execute(select(CaseEvent)).scalars().all()
    assert events and {e.school_id for e in events} == {world["a"].id}
    # a where clause naming school B finds nothing rather than B's rows
    assert s.execute(select(Case).where(Case.school_id == world["b"].id)).scalars().all() == []
    # column-only selects are filtered too
    assert set(s.scalars(select(Case.id))) == _ids(world["cases_a"])


def test_count_queries_count_only_the_scoped_school(world, fresh):
    s = fresh()
    scope_to_school(s, world["a"].id)
    assert s.scalar(select(func.count()).select_from(Case)) == 2
    assert s.scalar(select(func.count(Case.id))) == 2
    assert s.scalar(select(func.count(StaffUser.id)).where(StaffUser.is_enabled)) == 2
    # grouping over a join stays inside the school
    rows = s.execute(
        select(Case.id, func.count(Report.id)).join(Report, Report.case_id == Case.id)
        .group_by(Case.id)
    ).all()
    assert {case_id for case_id, _ in rows} == _ids(world["cases_a"])


def test_get_of_another_schools_row_finds_nothing(world, fresh):
    s = fresh()
    scope_to_school(s, world["a"].id)
    other_case, other_user = world["cases_b"][0], world["staff_b"][0]
    assert s.get(Case, other_case.id) is None
    assert s.get(StaffUser, other_user.id) is None
    assert s.get(Report, other_case.reports[0].id) is None
    own = s.get(Case, world["cases_a"][0].id)
    assert own is not None and own.school_id == world["a"].id


def test_relationship_loads_stay_inside_the_school(world, fresh, session):
    # Plant an inconsistent row: a report of school B hung on a case of school A.
    # Only the scope can keep it out of A's view.
    case_a, case_b = world["cases_a"][0], world["cases_b"][0]
    session.execute(sa.update(Report).where(Report.id == case_b.reports[0].id)
                    .values(case_id=case_a.id))
    session.commit()

    unscoped = fresh()
    assert len(unscoped.get(Case, case_a.id).reports) == 2

    for loader in (None, selectinload(Case.reports), joinedload(Case.reports)):
        s = fresh()
        scope_to_school(s, world["a"].id)
        stmt = select(Case).where(Case.id == case_a.id)
        if loader is not None:
            stmt = stmt.options(loader)
        case = s.execute(stmt).unique().scalar_one()
        assert [r.school_id for r in case.reports] == [world["a"].id], loader
        assert [r.case_id for r in case.reports] == [case_a.id]

    # loaded by get, then lazily
    s = fresh()
    scope_to_school(s, world["a"].id)
    assert [r.school_id for r in s.get(Case, case_a.id).reports] == [world["a"].id]

    # loaded before the scope was set (as Flask-Login loads the user), then lazily
    s = fresh()
    case = s.get(Case, case_a.id)
    scope_to_school(s, world["a"].id)
    assert [r.school_id for r in case.reports] == [world["a"].id]


def test_bulk_updates_and_deletes_touch_only_the_scoped_school(world, fresh):
    s = fresh()
    scope_to_school(s, world["a"].id)
    s.execute(sa.update(StaffUser).values(failed_logins=3))
    s.flush()
    unscoped = fresh()
    counts = dict(unscoped.execute(
        select(StaffUser.school_id, func.max(StaffUser.failed_logins)).group_by(StaffUser.school_id)
    ).all())
    assert counts == {world["a"].id: 3, world["b"].id: 0}


def test_an_unscoped_session_sees_every_school(world, fresh):
    s = fresh()
    assert scoped_school_id(s) is None
    assert _ids(s.execute(select(Case)).scalars()) >= _ids(world["cases_a"] + world["cases_b"])
    assert s.get(Case, world["cases_b"][0].id) is not None

    scope_to_school(s, world["b"].id)
    assert _ids(s.execute(select(Case)).scalars()) == _ids(world["cases_b"])
    clear_scope(s)
    assert scoped_school_id(s) is None
    assert _ids(s.execute(select(Case)).scalars()) >= _ids(world["cases_a"] + world["cases_b"])


# -- roles ----------------------------------------------------------------------------
def test_role_checks(session):
    school = SchoolFactory()
    counsellor, lead = StaffFactory(school=school), LeadFactory(school=school)
    admin = AdminFactory(school=school)
    lead_and_admin = LeadFactory(school=school, is_admin=True)

    with pytest.raises(Forbidden, match="counsellors and safeguarding leads"):
        require_casework(admin)
    for user in (counsellor, lead, lead_and_admin):
        require_casework(user)

    for user in (counsellor, admin):
        with pytest.raises(Forbidden, match="safeguarding lead"):
            require_lead(user)
    require_lead(lead)
    require_lead(lead_and_admin)

    for user in (counsellor, lead):
        with pytest.raises(Forbidden, match="admin"):
            require_admin(user)
    require_admin(admin)
    require_admin(lead_and_admin)


def test_require_same_school_hides_other_schools_as_not_found(session):
    a, b = SchoolFactory(), SchoolFactory()
    lead = LeadFactory(school=a)
    require_same_school(lead, a.id)
    with pytest.raises(NotFound):
        require_same_school(lead, b.id)


def test_who_may_work_a_case(session):
    a, b = SchoolFactory(), SchoolFactory()
    me, colleague = StaffFactory(school=a), StaffFactory(school=a)
    lead, admin = LeadFactory(school=a), AdminFactory(school=a)
    other_lead = LeadFactory(school=b)
    case = make_case(session, a)

    assert case.assignee_id is None
    assert can_work_case(me, case) and can_work_case(colleague, case) and can_work_case(lead, case)

    case.assignee_id = me.id
    assert can_work_case(me, case)
    assert not can_work_case(colleague, case)
    assert can_work_case(lead, case)
    assert not can_work_case(admin, case)
    assert not can_work_case(other_lead, case)

    case.assignee_id = colleague.id
    assert not can_work_case(me, case)
    with pytest.raises(Forbidden, match="assigned to someone else"):
        require_case_work(me, case)
    require_case_work(lead, case)
    with pytest.raises(NotFound):
        require_case_work(other_lead, case)
    with pytest.raises(Forbidden):
        require_case_work(admin, case)


# -- over HTTP ------------------------------------------------------------------------
def test_a_counsellor_never_sees_another_schools_cases_in_the_queue(client, world):
    counsellor = world["staff_a"][0]
    own = {c.reference for c in world["cases_a"]}
    others = {c.reference for c in world["cases_b"]}
    response = sign_in(client, counsellor)
    assert response.status_code == 302

    for query in ("", "?scope=all", "?scope=unassigned", "?status=new", "?risk=medium"):
        page = client.get(f"/staff/cases/{query}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200, query
        for reference in others:
            assert reference not in html, query
        if query in ("", "?scope=all", "?scope=unassigned", "?status=new"):
            assert {r for r in own if r in html} == own, query
            assert html.count("data-case=") == len(own), query
