"""Blind indexes of names and handles, for exact matching without decrypting."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ColumnElement, Enum, ForeignKey, Index, String, and_, not_
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantScoped, utcnow


class IdentifierKind(enum.StrEnum):
    HANDLE = "handle"
    STUDENT_NAME = "student_name"


class CaseIdentifier(TenantScoped, Base):
    """A keyed hash of a handle or student name named on a case.

    The digest is HMAC(blind-index key, kind/platform + normalised value), so
    equal names match while the table alone reveals nothing.
    """

    __tablename__ = "case_identifier"
    # Covers both the lookup by digest and the repeat-name grouping without the table.
    #: Lookups by name (the queue's search) and the dashboard's repeat names, from the
    #: index alone (on PostgreSQL; the search also reads the source).
    __table_args__ = (Index("ix_case_identifier_lookup", "school_id", "digest", "case_id", "kind",
                            postgresql_include=["source"]),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    kind: Mapped[IdentifierKind] = mapped_column(
        Enum(IdentifierKind, native_enum=False, length=20,
             values_callable=lambda e: [m.value for m in e])
    )
    digest: Mapped[str] = mapped_column(String(32))
    #: Where it came from: ``report:<id>`` or ``person:<id>``.
    source: Mapped[str] = mapped_column(String(40))
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)


def is_matchable() -> ColumnElement[bool]:
    """Entries that may link a case to others: all but a confidential reporter's own name.

    That name is indexed with its report (``report:<id>``) so that merging moves
    it and retention deletes it, but matching on it would say which case a
    student reported, to staff who may not see the reporter (and unaudited):
    only the audited reveal says who reported. The search, the case page's
    repeat names and the dashboard's all filter with this one predicate.
    """
    return not_(and_(CaseIdentifier.kind == IdentifierKind.STUDENT_NAME,
                     CaseIdentifier.source.startswith("report:")))
