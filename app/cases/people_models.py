"""People involved in a case, as the counsellor records them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Encrypted, TenantScoped, enum_column, utcnow



class PersonRole(enum.StrEnum):
    TARGET = "target"
    STUDENT_WHO_BULLIED = "student_who_bullied"
    WITNESS = "witness"


class PersonKind(enum.StrEnum):
    STUDENT = "student"
    ONLINE_ACCOUNT = "online_account"


class CasePerson(TenantScoped, Base):
    """A student (name, year group) or an online account (platform, handle) on a case.

    Names and handles are encrypted; a blind index of each is kept in
    ``case_identifier`` so repeat names across cases are found without decrypting.
    """

    __tablename__ = "case_person"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    role: Mapped[PersonRole] = mapped_column(enum_column(PersonRole))
    kind: Mapped[PersonKind] = mapped_column(enum_column(PersonKind))
    name: Mapped[str | None] = mapped_column(Encrypted("case_person.name"))
    year_group: Mapped[int | None] = mapped_column(SmallInteger)
    platform: Mapped[str | None] = mapped_column(String(32))
    handle: Mapped[str | None] = mapped_column(Encrypted("case_person.handle"))
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"))
