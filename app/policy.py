"""Who may see what: school isolation and roles, decided in one place.

Isolation: :func:`scope_to_school` marks a database session with the school of
the person acting. From then on every ORM ``SELECT`` through that session is
filtered to rows of that school (``with_loader_criteria`` on
:class:`~app.db.TenantScoped`), whatever the view or service forgot. Workers
act for every school and run unscoped.

Roles: the ``require_*`` helpers raise :class:`Forbidden` or :class:`NotFound`;
services call them before they act.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from app.db import TenantScoped
from app.errors import Forbidden, NotFound

if TYPE_CHECKING:
    from app.auth.models import StaffUser
    from app.cases.models import Case

SCHOOL_KEY = "tenant_school_id"


def scope_to_school(session: Session, school_id: int) -> None:
    """Filter every later query of ``session`` to ``school_id``."""
    session.info[SCHOOL_KEY] = school_id


def clear_scope(session: Session) -> None:
    session.info.pop(SCHOOL_KEY, None)


def scoped_school_id(session: Session) -> int | None:
    return session.info.get(SCHOOL_KEY)


@event.listens_for(Session, "do_orm_execute")
def _filter_to_school(state: ORMExecuteState) -> None:
    school_id = state.session.info.get(SCHOOL_KEY)
    if school_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    # A column load refreshes a row already in hand, by primary key. Relationship loads
    # are filtered even though options propagate to them: an object loaded before the
    # scope was set (the signed-in user, by Flask-Login) carries no options to propagate.
    if state.is_column_load:
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped, lambda cls: cls.school_id == school_id, include_aliases=True
        )
    )


# -- roles ----------------------------------------------------------------------------
def require_casework(user: "StaffUser") -> None:
    """Counsellors and leads work cases; an admin alone sees no case content."""
    if not user.is_casework_staff:
        raise Forbidden("Only counsellors and safeguarding leads can open cases.")


def require_lead(user: "StaffUser") -> None:
    if not user.is_lead:
        raise Forbidden("Only a safeguarding lead can do this.")


def require_admin(user: "StaffUser") -> None:
    if not user.is_admin:
        raise Forbidden("Only a school admin can do this.")


def require_same_school(user: "StaffUser", school_id: int) -> None:
    """Anything of another school does not exist for this user."""
    if user.school_id != school_id:
        raise NotFound()


def require_case_access(user: "StaffUser", case: "Case") -> None:
    require_same_school(user, case.school_id)
    require_casework(user)


def can_work_case(user: "StaffUser", case: "Case") -> bool:
    """Counsellors work cases assigned to them or unassigned; leads any of the school."""
    if user.school_id != case.school_id or not user.is_casework_staff:
        return False
    return user.is_lead or case.assignee_id in (None, user.id)


def require_case_work(user: "StaffUser", case: "Case") -> None:
    require_case_access(user, case)
    if not can_work_case(user, case):
        raise Forbidden("This case is assigned to someone else; ask a safeguarding lead.")
