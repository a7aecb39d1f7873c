"""Staff sign-in, lockout and two-factor: typed functions over an explicit session."""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import pyotp
import segno
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.auth.models import CaseRole, StaffUser
from app.db import utcnow
from app.errors import DomainError, ValidationFailed
from app.security import hash_password, keyring, password_needs_rehash, verify_password

MIN_PASSWORD_LENGTH = 12
MAX_LOCK_MINUTES = 60
#: A wrong password this long after the last lock ended starts a fresh count.
FORGET_LOCK_AFTER = timedelta(days=1)
TOTP_ISSUER = "Safe Report"
EMAIL_TAKEN = "An account with this email address already exists."


class SignInFailed(DomainError):
    status_code = 200
    # Said of every failure, locked or not, known address or not: a lock must not tell
    # anyone that the address is an account, and its owner still learns why.
    default_message = (
        "The email address or password is not right. After several wrong attempts an "
        f"account is locked for up to {MAX_LOCK_MINUTES} minutes: if you are sure of both, "
        "try again later or ask your school's admin."
    )


class AccountLocked(SignInFailed):
    pass


class DeviceBudget(Protocol):
    """The wrong tries left to the browsers holding an account's mark while it is locked.

    One budget per account, shared by every browser and every copy of the cookie
    that holds its mark (see :func:`device_mark`); the views' is counted in the
    rate limiter's storage (``app.auth.ratelimit``).
    """

    def has_left(self, user: StaffUser) -> bool: ...

    def spend(self, user: StaffUser) -> None: ...


@dataclass(frozen=True)
class SignInOutcome:
    user: StaffUser
    #: The password was right; a TOTP code is still needed.
    needs_second_factor: bool


def find_by_email(session: Session, email: str) -> StaffUser | None:
    return session.execute(
        select(StaffUser).where(StaffUser.email == email.strip().lower())
    ).scalar_one_or_none()


def lock_minutes(failed_logins: int, threshold: int) -> int:
    """Minutes an account stays locked after ``failed_logins`` failures: doubling, capped."""
    if failed_logins < threshold:
        return 0
    return min(2 ** (failed_logins - threshold), MAX_LOCK_MINUTES)


def check_password(
    session: Session,
    email: str,
    password: str,
    *,
    threshold: int,
    now: datetime | None = None,
    device_marks: Sequence[str] = (),
    device_budget: DeviceBudget | None = None,
) -> SignInOutcome:
    """Check an email and password; record the outcome; raise on failure.

    Failures are counted per account and lock it for a doubling number of
    minutes once ``threshold`` is reached. The lock does not hold up a browser
    that has signed in to the account before (one of ``device_marks`` is the
    account's) while ``device_budget`` has wrong tries left, so others' wrong
    guesses cannot keep the owner out. The caller commits either way, so that
    the counter and the audit entry persist.
    """
    now = now or utcnow()
    user = find_by_email(session, email)
    # Always one hash, whatever the account's state: the time taken tells nothing.
    is_right = verify_password(user.password_hash if user else None, password)
    if user is None:
        audit.record(session, "auth.login.failed", school_id=None, actor_kind="anonymous",
                     detail={"reason": "unknown_account"})
        raise SignInFailed()
    hold_account(session, user)
    forget_old_lock(user, now=now)
    while_locked = is_locked(user, now=now)
    if while_locked and (refusal := lock_refusal(user, device_marks, device_budget)):
        audit.record(session, "auth.login.refused", school_id=user.school_id, actor_id=user.id,
                     detail={"reason": refusal})
        raise AccountLocked()
    if not is_right:
        if while_locked:
            assert device_budget is not None  # lock_refusal lets no one past without one
            device_budget.spend(user)
        minutes = count_failure(user, threshold=threshold, now=now)
        audit.record(session, "auth.login.failed", school_id=user.school_id, actor_id=user.id,
                     detail={"reason": "wrong_password", "failed_logins": user.failed_logins,
                             "locked_minutes": minutes})
        raise AccountLocked() if minutes else SignInFailed()
    if not user.is_enabled:
        audit.record(session, "auth.login.refused", school_id=user.school_id, actor_id=user.id,
                     detail={"reason": "disabled"})
        raise SignInFailed("This account is disabled. Ask your school's admin.")
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.is_totp_enabled:
        return SignInOutcome(user, needs_second_factor=True)
    complete_sign_in(session, user, now=now, method="password", while_locked=while_locked)
    return SignInOutcome(user, needs_second_factor=False)


def hold_account(session: Session, user: StaffUser) -> None:
    """Re-read ``user`` under a row lock kept until commit, to count or clear its failures.

    Read without it, attempts in parallel each wrote back the count they had read
    plus one, so K wrong tries added 1. Sign-in takes it after the password hash
    (one per attempt, whatever the account: its time tells nothing), and before any
    audit entry: staff rows are locked before a school's audit chain (see
    ``notifications.recipients.hold_recipients``). FOR NO KEY UPDATE, as the
    counter's own UPDATE takes: rows that only refer to the account still go by.
    """
    session.flush()  # a refresh drops the row's pending changes: write them first
    session.refresh(user, with_for_update={"key_share": True})


def lock_refusal(user: StaffUser, device_marks: Sequence[str],
                 device_budget: DeviceBudget | None) -> str | None:
    """Why a lock on ``user`` holds this browser up, or ``None`` when it may try.

    Only a browser holding the account's mark may try, and only while the budget
    all its holders share has wrong tries left: a copy of the cookie must not guess
    without end. Past the budget the right password waits too, so no guess is ever
    confirmed. Without a budget to count them in, nobody gets past a lock.
    """
    if device_budget is None or not is_known_device(user, device_marks):
        return "locked"
    if not device_budget.has_left(user):
        return "known_device_limit"
    return None


def forget_old_lock(user: StaffUser, *, now: datetime) -> None:
    """Drop a lock run that ended long ago, so one more typo does not lock for an hour."""
    if user.locked_until_dt is not None and now - user.locked_until_dt >= FORGET_LOCK_AFTER:
        user.failed_logins = 0
        user.locked_until_dt = None


def is_locked(user: StaffUser, *, now: datetime) -> bool:
    return user.locked_until_dt is not None and user.locked_until_dt > now


def is_known_device(user: StaffUser, device_marks: Sequence[str]) -> bool:
    """Whether the browser holds the mark of a past sign-in to ``user`` (see device_mark)."""
    mark = device_mark(user)
    return any(secrets.compare_digest(mark, m) for m in device_marks)


def count_failure(user: StaffUser, *, threshold: int, now: datetime) -> int:
    """Count a wrong password or code; return the minutes the account is now locked for."""
    user.failed_logins += 1
    minutes = lock_minutes(user.failed_logins, threshold)
    if minutes:  # never shortens a lock (a known browser may fail while one lasts)
        user.locked_until_dt = max(user.locked_until_dt or now, now + timedelta(minutes=minutes))
    return minutes


def device_mark(user: StaffUser) -> str:
    """A secret a browser keeps once it has signed in to ``user``, to pass a lock later.

    A keyed hash of the account and its password hash: a new password (the user's
    own or an admin's reset) forgets every browser; only its holders know the mark.
    (A blind index is the keyed, exact-match hash this needs, under a purpose of its own.)
    """
    return keyring().blind_index("staff_user.device", f"{user.id}:{user.password_hash}")


def complete_sign_in(session: Session, user: StaffUser, *, now: datetime | None = None,
                     method: str, while_locked: bool = False) -> None:
    """Record a sign-in; ``while_locked``: a known browser got past a lock, which stays."""
    detail: dict[str, object] = {"method": method}
    if while_locked:
        # Someone else may still be guessing: the lock holds for them, and a lead
        # reading the log sees that the owner got past it.
        detail["while_locked"] = True
    else:
        user.failed_logins = 0
        user.locked_until_dt = None
    user.last_login_dt = now or utcnow()
    audit.record(session, "auth.login.succeeded", school_id=user.school_id, actor_id=user.id,
                 detail=detail)


def check_second_factor(session: Session, user: StaffUser, code: str, *, threshold: int,
                        now: datetime | None = None, device_marks: Sequence[str] = (),
                        device_budget: DeviceBudget | None = None) -> None:
    """Finish a sign-in with a TOTP code; wrong codes count towards the lockout."""
    now = now or utcnow()
    hold_account(session, user)  # also keeps one code from being used twice at once
    while_locked = is_locked(user, now=now)
    if while_locked and lock_refusal(user, device_marks, device_budget):
        raise AccountLocked("Too many wrong attempts. This account is locked for now.")
    if not verify_totp(user, code, now=now):
        if while_locked:
            assert device_budget is not None  # lock_refusal lets no one past without one
            device_budget.spend(user)
        count_failure(user, threshold=threshold, now=now)
        audit.record(session, "auth.login.failed", school_id=user.school_id, actor_id=user.id,
                     detail={"reason": "wrong_code", "failed_logins": user.failed_logins})
        raise SignInFailed("That code is not right. Use the newest code from your app.")
    complete_sign_in(session, user, now=now, method="password+totp", while_locked=while_locked)


def verify_totp(user: StaffUser, code: str, *, now: datetime) -> bool:
    """Accept the current code or its neighbours, each time step only once."""
    code = "".join(code.split())
    # ASCII digits only: "²" and other Unicode digits pass isdigit() but no code has them.
    if not user.totp_secret or not (code.isascii() and code.isdigit()) or len(code) != 6:
        return False
    totp = pyotp.TOTP(user.totp_secret)
    for drift in (0, -1, 1):
        at = now + timedelta(seconds=drift * totp.interval)
        step = totp.timecode(at)
        if secrets.compare_digest(totp.at(at), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


def start_totp_enrolment(user: StaffUser) -> str:
    """Give the user a new, not yet active, TOTP secret and return it."""
    user.totp_secret = pyotp.random_base32()
    user.is_totp_enabled = False
    user.totp_last_step = None
    return user.totp_secret


def totp_uri(user: StaffUser) -> str:
    assert user.totp_secret
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def totp_qr_svg(user: StaffUser) -> str:
    """The enrolment QR code as an inline SVG (no image leaves the server)."""
    return segno.make(totp_uri(user), error="m").svg_inline(scale=5, dark="#111", light="#fff")


def confirm_totp_enrolment(session: Session, user: StaffUser, code: str,
                           now: datetime | None = None) -> None:
    now = now or utcnow()
    if not verify_totp(user, code, now=now):
        raise ValidationFailed("That code is not right. Scan the code again and type the newest one.",
                               field="code")
    user.is_totp_enabled = True
    audit.record(session, "auth.two_factor.enabled", school_id=user.school_id, actor_id=user.id)


def needs_two_factor_enrolment(user: StaffUser, *, required: bool) -> bool:
    """Leads and admins must enrol when the deployment requires it."""
    return required and (user.is_lead or user.is_admin) and not user.is_totp_enabled


def validate_new_password(password: str, *, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"Use at least {MIN_PASSWORD_LENGTH} characters; a few unrelated words work well.",
            field="password",
        )
    if password.strip().lower() == email.strip().lower():
        raise ValidationFailed("Do not use your email address as your password.", field="password")


def change_password(session: Session, user: StaffUser, current: str, new: str, *,
                    threshold: int, now: datetime | None = None) -> None:
    """Set a new password; wrong current passwords count towards the lockout like sign-ins.

    The caller commits either way. Reaching the lock here ends every session of the
    account (someone at an unattended, signed-in computer may be guessing).
    """
    now = now or utcnow()
    if not verify_password(user.password_hash, current):
        hold_account(session, user)
        forget_old_lock(user, now=now)
        minutes = count_failure(user, threshold=threshold, now=now)
        audit.record(session, "auth.password.change_failed", school_id=user.school_id,
                     actor_id=user.id,
                     detail={"reason": "wrong_current_password",
                             "failed_logins": user.failed_logins, "locked_minutes": minutes})
        if minutes:
            user.reset_sessions()
            assert user.locked_until_dt is not None
            left = max(1, math.ceil((user.locked_until_dt - now).total_seconds() / 60))
            raise AccountLocked(
                "Too many wrong attempts at your current password. You have been signed out; "
                f"you can sign in again in {left} minute{'s' if left != 1 else ''}."
            )
        raise ValidationFailed("Your current password is not right.", field="current_password")
    validate_new_password(new, email=user.email)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.reset_sessions()
    audit.record(session, "auth.password.changed", school_id=user.school_id, actor_id=user.id)


def generate_password() -> str:
    """A temporary password an admin can read out: four random words and digits."""
    from app.reporting.case_keys import random_words

    return "-".join(random_words(4)) + "-" + str(secrets.randbelow(90) + 10)


def email_in_use(session: Session, email: str) -> bool:
    """Whether an account of any school has ``email``: addresses are unique across schools."""
    # The table, not the model: an admin's school scope would hide other schools'
    # accounts from this check. Only a yes or no leaves this function.
    table = StaffUser.__table__
    return session.execute(
        select(func.count()).select_from(table).where(table.c.email == email.strip().lower())
    ).scalar_one() > 0


def create_staff_user(
    session: Session,
    *,
    school_id: int,
    email: str,
    name: str,
    password: str,
    case_role: CaseRole | None,
    is_admin: bool = False,
    must_change_password: bool = False,
    actor_id: int | None = None,
) -> StaffUser:
    """Create an account; raise if the address is taken or the password is weak."""
    email = email.strip().lower()
    if not email or "@" not in email:
        raise ValidationFailed("Enter an email address.", field="email")
    if not name.strip():
        raise ValidationFailed("Enter the person's name.", field="name")
    if case_role is None and not is_admin:
        raise ValidationFailed("Choose at least one role.", field="role")
    if email_in_use(session, email):
        raise ValidationFailed(EMAIL_TAKEN, field="email")
    validate_new_password(password, email=email)
    user = StaffUser(
        school_id=school_id,
        email=email,
        name=name.strip(),
        password_hash=hash_password(password),
        case_role=case_role,
        is_admin=is_admin,
        must_change_password=must_change_password,
    )
    try:
        with session.begin_nested():  # two admins adding the same address at once
            session.add(user)
            session.flush()
    except IntegrityError:
        raise ValidationFailed(EMAIL_TAKEN, field="email") from None
    audit.record(session, "staff.created", school_id=school_id, actor_id=actor_id,
                 actor_kind="staff" if actor_id else "system", target=f"staff_user:{user.id}",
                 detail={"role": user.role_label})
    return user
