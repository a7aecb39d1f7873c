"""The audit log: append-only, each entry carrying the hash of the one before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class AuditEntry(Base):
    """Who did what, when. Holds ids and categories, never case content."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_school_id_id", "school_id", "id"),
        Index("ix_audit_entry_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``None`` for events outside any school (e.g. a sign-in with an unknown address).
    school_id: Mapped[int | None]
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    #: staff / reporter / system / anonymous
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None]
    #: Dotted verb, e.g. ``auth.login.failed`` or ``case.viewed``.
    action: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None]
    #: What was acted on, e.g. ``staff_user:12`` or ``evidence:9``.
    target: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: ``entry_hash`` of the previous entry of the same school (chain per school).
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChain(Base):
    """The newest entry of each chain: what an append waits for, and the hash it follows.

    One row per school, and ``chain_key`` 0 for the entries of no school. An
    append takes the row (``SELECT ... FOR UPDATE``), which waits for the
    append before it and then reads that one's hash, in one statement; it
    moves the head in its own transaction. A walk of the chain that never
    reaches the head shows entries removed from its end, which the hashes
    alone cannot.
    """

    __tablename__ = "audit_chain"

    chain_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: ``entry_hash`` of the chain's newest entry (the genesis hash before the first).
    head_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """How far a full check (the nightly job) found a school's chain intact.

    The log viewer checks only the entries after it, so a view costs what was
    added since, not the whole history; the nightly job walks every entry again
    and drops the checkpoint when anything before it was changed.
    """

    __tablename__ = "audit_checkpoint"

    school_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: The last entry checked, and its hash (the viewer goes on from here).
    entry_id: Mapped[int]
    entry_hash: Mapped[str] = mapped_column(String(64))
    #: Entries of the chain up to and including ``entry_id``.
    entries: Mapped[int]
    checked_dt: Mapped[datetime] = mapped_column(default=utcnow)
