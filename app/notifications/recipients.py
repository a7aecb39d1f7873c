"""Who hears about what: the enabled staff of some schools, read once per batch."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import CaseRole, StaffUser
from app.cases.models import Case

#: ``data["to"]`` of a notification for the school's admin contact address (no staff
#: account): the address is read from the school when the mail goes, never copied here.
ADMIN_CONTACT = "admin_contact"


class StaffDirectory:
    """The enabled staff of some schools, read once per scan batch: who hears about what."""

    def __init__(self, rows: Any) -> None:
        self._leads: dict[int, list[int]] = {}
        self._counsellors: dict[int, list[int]] = {}
        self._admins: dict[int, list[int]] = {}
        #: Staff who can act on cases, with their school.
        self._casework: dict[int, int] = {}
        self._addresses: dict[int, str] = {}
        for staff_id, school_id, case_role, is_admin, email in rows:
            self._addresses[staff_id] = email.casefold()
            if case_role is CaseRole.LEAD:
                self._leads.setdefault(school_id, []).append(staff_id)
            elif case_role is CaseRole.COUNSELLOR:
                self._counsellors.setdefault(school_id, []).append(staff_id)
            if case_role is not None:
                self._casework[staff_id] = school_id
            if is_admin:
                self._admins.setdefault(school_id, []).append(staff_id)

    @classmethod
    def load(cls, session: Session, school_ids: list[int]) -> "StaffDirectory":
        return cls(session.execute(
            select(StaffUser.id, StaffUser.school_id, StaffUser.case_role, StaffUser.is_admin,
                   StaffUser.email)
            .where(StaffUser.school_id.in_(school_ids), StaffUser.is_enabled.is_(True))
            .order_by(StaffUser.id)))

    def leads(self, school_id: int) -> list[int]:
        return list(self._leads.get(school_id, ()))

    def counsellors(self, school_id: int) -> list[int]:
        return list(self._counsellors.get(school_id, ()))

    def admins(self, school_id: int) -> list[int]:
        return list(self._admins.get(school_id, ()))

    def critical_alert_recipients(self, school_id: int) -> list[int]:
        """Who is alerted at once when a case becomes critical (DOMAIN.md: the lead).

        The safeguarding leads; with none enabled, the counsellors; with no
        casework staff at all, the admins. An alert to nobody would leave the
        first contact to the level-1 escalation, an hour later.
        """
        return self.leads(school_id) or self.counsellors(school_id) or self.admins(school_id)

    def assignee(self, case: Case) -> int | None:
        """The case's assignee if they can still act on it (enabled, with a case role)."""
        if case.assignee_id is None or self._casework.get(case.assignee_id) != case.school_id:
            return None
        return case.assignee_id

    def escalation_recipients(self, case: Case, level: int) -> list[int]:
        """Who hears about escalation ``level`` of ``case`` (DOMAIN.md, escalation ladder).

        1: the assignee, or every counsellor when unassigned; 2: the safeguarding
        leads; 3: every lead and the school's admins, and the admin contact address
        (:meth:`tells_admin_contact`). Nobody is ever left out for want of a role:
        each level falls back to the leads, then the counsellors.
        """
        school_id = case.school_id
        if level == 1:
            assignee = self.assignee(case)
            ids = [assignee] if assignee else self.counsellors(school_id)
        elif level == 2:
            ids = self.leads(school_id)
        else:
            ids = self.leads(school_id) + self.admins(school_id)
        if not ids:
            ids = self.leads(school_id) or self.counsellors(school_id)
        return list(dict.fromkeys(ids))

    def tells_admin_contact(self, level: int, address: str | None, recipients: list[int]) -> bool:
        """Whether escalation ``level`` also goes to the school's admin contact ``address``.

        Level 3 only (DOMAIN.md), and not when the address is already one of
        ``recipients``' own: the same person would get the same mail twice.
        """
        if level < 3 or not address:
            return False
        address = address.strip().casefold()
        return not any(self._addresses.get(staff_id) == address for staff_id in recipients)


def hold_recipients(session: Session, staff_ids: list[int]) -> None:
    """Lock these staff rows as a notification naming them will, before the chain lock.

    PostgreSQL checks a new row's reference to a staff member by share-locking
    that row (FOR KEY SHARE). Writers that lock a staff row and then append to
    the school's audit chain (a calendar feed made, a session booked) would
    deadlock with one that holds the chain lock and then writes a notification
    for that person: staff rows go first, then the chain. A notification queued
    before ``audit.record`` needs nothing more (the record writes pending rows
    before it locks); this is for one that can only be written after.
    """
    if staff_ids and session.get_bind().dialect.name == "postgresql":
        session.execute(select(StaffUser.id).where(StaffUser.id.in_(sorted(set(staff_ids))))
                        .order_by(StaffUser.id).with_for_update(read=True, key_share=True))
