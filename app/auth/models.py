"""Staff accounts."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Encrypted, TenantScoped, utcnow
from app.schools.models import School


class CaseRole(enum.StrEnum):
    COUNSELLOR = "counsellor"
    LEAD = "lead"


def _nonce() -> str:
    return secrets.token_urlsafe(12)


class StaffUser(TenantScoped, Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-case; one account per address across all schools.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    #: What the person may do on cases; ``None`` for an admin who is not casework staff.
    case_role: Mapped[CaseRole | None] = mapped_column(
        Enum(CaseRole, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    totp_secret: Mapped[str | None] = mapped_column(Encrypted("staff_user.totp_secret"))
    is_totp_enabled: Mapped[bool] = mapped_column(default=False)
    #: The last TOTP time step accepted, so a code cannot be replayed.
    totp_last_step: Mapped[int | None]
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until_dt: Mapped[datetime | None]
    last_login_dt: Mapped[datetime | None]
    #: Part of the session id; changing it signs the account out everywhere.
    session_nonce: Mapped[str] = mapped_column(String(32), default=_nonce)
    #: SHA-256 of the secret in the user's calendar feed address; ``None`` when revoked.
    ical_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[School] = relationship(lazy="joined", innerjoin=True)

    # Flask-Login protocol ------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.is_enabled

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    # Roles ---------------------------------------------------------------------------
    @property
    def is_lead(self) -> bool:
        return self.case_role is CaseRole.LEAD

    @property
    def is_casework_staff(self) -> bool:
        return self.case_role is not None

    @property
    def role_label(self) -> str:
        labels = []
        if self.case_role is CaseRole.LEAD:
            labels.append("Safeguarding lead")
        elif self.case_role is CaseRole.COUNSELLOR:
            labels.append("Counsellor")
        if self.is_admin:
            labels.append("Admin")
        return " and ".join(labels) or "No role"

    def reset_sessions(self) -> None:
        self.session_nonce = _nonce()

    def __repr__(self) -> str:
        return f"<StaffUser {self.id}>"
