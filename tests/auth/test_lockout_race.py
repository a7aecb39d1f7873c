"""Wrong passwords and codes sent at once all count towards the lock (PostgreSQL).

Regression: the failure counter was read with the account, before the password
hash, and written back as that value plus one, so K wrong tries hashed at the
same time added about 1, not K: sending them in parallel (a pending two-factor
sign-in can be replayed from many addresses) multiplied the guessing rate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.audit.models import AuditEntry
from app.auth import services as auth
from app.auth.models import CaseRole, StaffUser
from app.schools.models import School
from tests.conftest import throwaway_app
from tests.factories import PASSWORD, _password_hash
from tests.helpers import all_at_once

ATTEMPTS = 8
#: High enough that no attempt is refused by the lock it builds: each must be counted.
THRESHOLD = 100


@pytest.fixture(scope="module")
def engine(backends) -> Iterator:  # noqa: ANN001
    if not backends.has_postgres:
        pytest.skip("the lost update needs real concurrent transactions (PostgreSQL)")
    from app.extensions import db

    with throwaway_app(backends, "lockout_race"):
        yield db.engine


def _new_account(engine, label: str) -> tuple[int, int, str, str]:  # noqa: ANN001
    """A school and an enrolled lead on it, committed; their ids, email and TOTP secret."""
    with Session(engine) as s:
        school = School(slug=f"race-{label}", name=f"Race {label}")
        s.add(school)
        s.flush()
        secret = pyotp.random_base32()
        user = StaffUser(school_id=school.id, email=f"{label}@example.org", name="Lead",
                         password_hash=_password_hash(), case_role=CaseRole.LEAD,
                         totp_secret=secret, is_totp_enabled=True)
        s.add(user)
        s.commit()
        return school.id, user.id, user.email, secret


def _hashing_together(monkeypatch) -> None:  # noqa: ANN001
    """Hold every attempt in its password hash until all are there, as a slow hash does."""
    everyone_hashing = threading.Barrier(ATTEMPTS, timeout=30)
    real = auth.verify_password

    def verify(password_hash: str | None, password: str) -> bool:
        try:
            return real(password_hash, password)
        finally:
            everyone_hashing.wait()

    monkeypatch.setattr(auth, "verify_password", verify)


def _run(engine, attempt: Callable[[Session], None]) -> None:  # noqa: ANN001
    def work(_: int) -> None:
        with Session(engine) as s:
            try:
                attempt(s)
            except auth.DomainError:
                s.commit()  # as the views do: the counter and the audit entry are kept
            else:
                raise AssertionError("a wrong attempt was accepted")

    assert all_at_once(work, ATTEMPTS) == []


def _assert_all_counted(engine, school_id: int, user_id: int, action: str) -> None:  # noqa: ANN001
    with Session(engine) as s:
        assert s.get(StaffUser, user_id).failed_logins == ATTEMPTS
        entries = s.scalars(select(AuditEntry).where(AuditEntry.actor_id == user_id,
                                                     AuditEntry.action == action)).all()
        assert sorted(e.detail["failed_logins"] for e in entries) == list(range(1, ATTEMPTS + 1))
        assert audit.verify_chain(s, school_id).is_intact


def test_wrong_passwords_at_once_each_count(engine, monkeypatch):
    school_id, user_id, email, _ = _new_account(engine, "passwords")
    _hashing_together(monkeypatch)

    _run(engine, lambda s: auth.check_password(s, email, "wrong", threshold=THRESHOLD))

    _assert_all_counted(engine, school_id, user_id, "auth.login.failed")


def test_wrong_codes_at_once_each_count(engine):
    school_id, user_id, _, secret = _new_account(engine, "codes")
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000:06d}"
    loaded = threading.Barrier(ATTEMPTS, timeout=30)

    def attempt(s: Session) -> None:
        # As the two-factor page: the pending account is loaded, then its code checked.
        user = s.get(StaffUser, user_id)
        loaded.wait()
        auth.check_second_factor(s, user, wrong, threshold=THRESHOLD)

    _run(engine, attempt)

    _assert_all_counted(engine, school_id, user_id, "auth.login.failed")


def test_wrong_current_passwords_at_once_each_count(engine, monkeypatch):
    school_id, user_id, _, _ = _new_account(engine, "current")
    _hashing_together(monkeypatch)

    def attempt(s: Session) -> None:
        user = s.get(StaffUser, user_id)  # the signed-in user, as loaded for the request
        auth.change_password(s, user, "wrong", PASSWORD + " but new", threshold=THRESHOLD)

    _run(engine, attempt)

    _assert_all_counted(engine, school_id, user_id, "auth.password.change_failed")


def test_one_code_sent_many_times_at_once_signs_in_once(engine):
    """The row lock also keeps the replay guard: a code is used once, however it is raced."""
    school_id, user_id, _, secret = _new_account(engine, "replay")
    code = pyotp.TOTP(secret).now()
    loaded = threading.Barrier(ATTEMPTS, timeout=30)
    outcomes: list[str] = []

    def work(_: int) -> None:
        with Session(engine) as s:
            user = s.get(StaffUser, user_id)
            loaded.wait()
            try:
                auth.check_second_factor(s, user, code, threshold=THRESHOLD)
            except auth.SignInFailed:
                outcomes.append("refused")
            else:
                outcomes.append("signed in")
            s.commit()

    assert all_at_once(work, ATTEMPTS) == []

    assert sorted(outcomes) == ["refused"] * (ATTEMPTS - 1) + ["signed in"]
    with Session(engine) as s:
        assert len(s.scalars(select(AuditEntry).where(
            AuditEntry.actor_id == user_id, AuditEntry.action == "auth.login.succeeded")).all()) == 1
