"""Writing and verifying the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.db import utcnow

GENESIS = "0" * 64


def _canonical(entry: AuditEntry) -> bytes:
    body = {
        "school_id": entry.school_id,
        # Always in UTC: that is how the database gives the time back.
        "created_dt": _utc(entry.created_dt).isoformat(timespec="microseconds"),
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "case_id": entry.case_id,
        "target": entry.target,
        "detail": entry.detail or {},
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the audit log")
    return moment.astimezone(timezone.utc)


def compute_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


def _lock_chain(session: Session, school_id: int | None) -> None:
    """Serialise appends to one school's chain until the transaction ends."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"),
            {"ns": 0x5AFE, "key": school_id or 0},
        )
    # SQLite serialises writers itself.


def record(
    session: Session,
    action: str,
    *,
    school_id: int | None,
    actor_kind: str = "staff",
    actor_id: int | None = None,
    case_id: int | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append an entry to the school's chain; the caller commits."""
    _lock_chain(session, school_id)
    prev = session.execute(
        select(AuditEntry.entry_hash)
        .where(
            AuditEntry.school_id.is_(None) if school_id is None else AuditEntry.school_id == school_id
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    entry = AuditEntry(
        school_id=school_id,
        created_dt=_utc(at) if at is not None else utcnow(),
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        case_id=case_id,
        target=target,
        detail=detail or {},
        prev_hash=prev or GENESIS,
    )
    entry.entry_hash = compute_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainCheck:
    is_intact: bool
    entries_checked: int
    #: Id of the first entry that does not fit the chain.
    broken_at_id: int | None = None
    reason: str | None = None


def verify_chain(session: Session, school_id: int | None) -> ChainCheck:
    """Walk a school's chain in order and report the first entry that breaks it."""
    prev = GENESIS
    count = 0
    rows = session.execute(
        select(AuditEntry)
        .where(
            AuditEntry.school_id.is_(None) if school_id is None else AuditEntry.school_id == school_id
        )
        .order_by(AuditEntry.id)
        .execution_options(yield_per=1000)
    ).scalars()
    for entry in rows:
        count += 1
        if entry.prev_hash != prev:
            return ChainCheck(False, count, entry.id, "an entry before it was removed or changed")
        if compute_hash(entry) != entry.entry_hash:
            return ChainCheck(False, count, entry.id, "its contents were changed")
        prev = entry.entry_hash
    return ChainCheck(True, count)
