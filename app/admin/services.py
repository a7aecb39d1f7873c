"""Admins manage the staff accounts of their own school."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.auth import services as auth
from app.auth.models import CaseRole, StaffUser
from app.errors import NotFound, ValidationFailed
from app.policy import require_admin, require_same_school

ROLE_CHOICES = {
    "counsellor": (CaseRole.COUNSELLOR, False),
    "lead": (CaseRole.LEAD, False),
    "admin": (None, True),
    "lead_admin": (CaseRole.LEAD, True),
}


def list_staff(session: Session, actor: StaffUser) -> list[StaffUser]:
    require_admin(actor)
    return list(session.execute(
        select(StaffUser).where(StaffUser.school_id == actor.school_id).order_by(StaffUser.name)
    ).scalars())


def _staff_of_school(session: Session, actor: StaffUser, user_id: int) -> StaffUser:
    require_admin(actor)
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound()
    require_same_school(actor, user.school_id)
    return user


def create_staff(session: Session, actor: StaffUser, *, email: str, name: str,
                 role: str) -> tuple[StaffUser, str]:
    """Create an account with a temporary password, returned once for the admin to pass on."""
    require_admin(actor)
    if role not in ROLE_CHOICES:
        raise ValidationFailed("Choose a role from the list.", field="role")
    case_role, is_admin = ROLE_CHOICES[role]
    password = auth.generate_password()
    user = auth.create_staff_user(session, school_id=actor.school_id, email=email, name=name,
                                  password=password, case_role=case_role, is_admin=is_admin,
                                  must_change_password=True, actor_id=actor.id)
    return user, password


def report_poster(actor: StaffUser) -> tuple[str, str]:
    """Return the school's report address and a QR code of it as inline SVG."""
    import segno
    from flask import current_app

    require_admin(actor)
    url = f"{current_app.config['SERVER_BASE_URL']}/s/{actor.school.slug}/report"
    qr = segno.make(url, error="q")
    return url, qr.svg_inline(scale=8, border=2, dark="#111", light="#fff")


def set_enabled(session: Session, actor: StaffUser, user_id: int, enabled: bool) -> StaffUser:
    user = _staff_of_school(session, actor, user_id)
    if user.id == actor.id and not enabled:
        raise ValidationFailed("You cannot disable your own account.")
    user.is_enabled = enabled
    user.reset_sessions()
    audit.record(session, "staff.enabled" if enabled else "staff.disabled",
                 school_id=actor.school_id, actor_id=actor.id, target=f"staff_user:{user.id}")
    return user


def reset_account(session: Session, actor: StaffUser, user_id: int) -> tuple[StaffUser, str]:
    """New temporary password, two-factor removed, lockout cleared, signed out everywhere.

    The calendar feed address is switched off too: like a session, it lets whoever
    holds it see the account's sessions without signing in.
    """
    user = _staff_of_school(session, actor, user_id)
    password = auth.generate_password()
    user.password_hash = auth.hash_password(password)
    user.must_change_password = True
    user.totp_secret = None
    user.is_totp_enabled = False
    user.totp_last_step = None
    user.failed_logins = 0
    user.locked_until_dt = None
    user.reset_sessions()
    feed_revoked = user.ical_token_digest is not None
    user.ical_token_digest = None
    audit.record(session, "staff.reset", school_id=actor.school_id, actor_id=actor.id,
                 target=f"staff_user:{user.id}", detail={"calendar_feed_revoked": feed_revoked})
    return user, password
