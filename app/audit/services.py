"""Writing and verifying the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.audit.models import AuditChain, AuditCheckpoint, AuditEntry
from app.db import utcnow
from app.errors import ValidationFailed
from app.policy import require_lead
from app.querystring import date_arg, id_arg

if TYPE_CHECKING:
    from app.auth.models import StaffUser

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


def chain_key(school_id: int | None) -> int:
    """The key of a school's chain in ``audit_chain`` (0: the chain of entries of no school)."""
    return school_id or 0


_CHAIN = AuditChain.__table__
# Built once: a statement keeps its cache key, which is costly to work out afresh.
_TAKE_ONE = (select(_CHAIN.c.chain_key, _CHAIN.c.head_hash)
             .where(_CHAIN.c.chain_key == bindparam("chain_key")).with_for_update())
_TAKE_MANY = (select(_CHAIN.c.chain_key, _CHAIN.c.head_hash)
              .where(_CHAIN.c.chain_key.in_(bindparam("chain_keys", expanding=True)))
              .order_by(_CHAIN.c.chain_key).with_for_update())
_MOVE = (update(_CHAIN).where(_CHAIN.c.chain_key == bindparam("key"))
         .values(head_hash=bindparam("head")))
_NEW_CHAINS = {
    "postgresql": postgresql.insert(_CHAIN).on_conflict_do_nothing(index_elements=["chain_key"]),
    "sqlite": sqlite.insert(_CHAIN).on_conflict_do_nothing(index_elements=["chain_key"]),
}


def take_chains(conn: Connection, school_ids: Iterable[int | None]) -> dict[int | None, str]:
    """Lock the schools' chains until the transaction ends; return each one's head.

    On PostgreSQL the statement waits for an append in progress and then
    reads the head that append left. (SQLite serialises writers itself.) A
    chain without a row yet (a school whose first entry this is) gets one at
    the genesis hash. Several chains are locked in key order, their missing
    rows made first, so two writers never wait on each other in opposite orders.
    """
    wanted = {chain_key(school_id): school_id for school_id in school_ids}
    keys = sorted(wanted)
    if len(keys) == 1:
        heads = dict(_take(conn, keys))
        if not heads:  # one chain, one lock: made and taken without a cycle
            _make_chains(conn, keys)
            heads = dict(_take(conn, keys))
    else:
        # Made before any is locked: a row made after others were locked would be locked
        # out of order. (An existing row is neither written nor waited for here.)
        _make_chains(conn, keys)
        heads = dict(_take(conn, keys))
    return {school_id: heads[key] for key, school_id in wanted.items()}


def _take(conn: Connection, keys: list[int]) -> list[tuple[int, str]]:
    if len(keys) == 1:
        return [tuple(row) for row in conn.execute(_TAKE_ONE, {"chain_key": keys[0]})]
    return [tuple(row) for row in conn.execute(_TAKE_MANY, {"chain_keys": keys})]


def _make_chains(conn: Connection, keys: list[int]) -> None:
    conn.execute(_NEW_CHAINS[conn.dialect.name],
                 [{"chain_key": key, "head_hash": GENESIS} for key in keys])


def move_heads(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Point each chain at the last of ``rows`` (audit_entry rows, as inserted) of its school."""
    heads = {chain_key(row["school_id"]): row["entry_hash"] for row in rows}
    conn.execute(_MOVE, [{"key": key, "head": head} for key, head in heads.items()])


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
    # Pending row changes go first, as the scans take row locks before the chain's
    # lock: the other order could deadlock with them.
    session.flush()
    conn = session.connection()
    head = take_chains(conn, [school_id])[school_id]
    entry = _chained(school_id, head, action=action, actor_kind=actor_kind, actor_id=actor_id,
                     case_id=case_id, target=target, detail=detail, at=at)
    session.add(entry)
    session.flush()
    move_heads(conn, [{"school_id": school_id, "entry_hash": entry.entry_hash}])
    return entry


def _chained(school_id: int | None, prev: str, *, action: str, actor_kind: str,
             actor_id: int | None = None, case_id: int | None = None, target: str | None = None,
             detail: dict[str, Any] | None = None, at: datetime | None = None) -> AuditEntry:
    """A new entry following the one whose hash is ``prev``, with its own hash."""
    entry = AuditEntry(school_id=school_id, created_dt=_utc(at) if at is not None else utcnow(),
                       actor_kind=actor_kind, actor_id=actor_id, action=action, case_id=case_id,
                       target=target, detail=detail or {}, prev_hash=prev)
    entry.entry_hash = compute_hash(entry)
    return entry


_INSERT = insert(AuditEntry.__table__)


def record_many(session: Session, entries: list[dict[str, Any]]) -> int:
    """Append many entries, of one school or several, in three or four statements.

    Each entry is a dict of :func:`record`'s keyword arguments (``school_id``,
    ``action`` and ``actor_kind`` required; ``actor_id``, ``case_id``, ``target``,
    ``detail``, ``at``).
    The schools' chains are taken (:func:`take_chains`: one statement, two for
    several schools); the rows go in as one INSERT, each school's in the order given, which is the
    order of their ids and so of the chain; then the heads move. The caller
    commits.
    """
    if not entries:
        return 0
    session.flush()  # entries added to the session before these come first in their chains
    conn = session.connection()
    rows = chained_rows(take_chains(conn, {item["school_id"] for item in entries}), entries)
    conn.execute(_INSERT, rows)
    move_heads(conn, rows)
    return len(rows)


def chained_rows(heads: dict[int | None, str], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit_entry rows for ``entries`` (as :func:`record_many` takes them), hashed in chain.

    ``heads`` holds each school's chain head, from :func:`take_chains`. Each
    school's rows follow one another in the order given and must be inserted so;
    then :func:`move_heads`.
    """
    by_school: dict[int | None, list[dict[str, Any]]] = {}
    for item in entries:
        by_school.setdefault(item["school_id"], []).append(item)
    rows = []
    for school_id in sorted(by_school, key=chain_key):
        prev = heads[school_id]
        for item in by_school[school_id]:
            entry = _chained(**item, prev=prev)
            prev = entry.entry_hash
            rows.append({column: getattr(entry, column) for column in _ENTRY_COLUMNS})
    return rows


_ENTRY_COLUMNS = ("school_id", "created_dt", "actor_kind", "actor_id", "action", "case_id",
                  "target", "detail", "prev_hash", "entry_hash")


@dataclass(frozen=True)
class ChainCheck:
    is_intact: bool
    entries_checked: int
    #: Id of the first entry that does not fit the chain.
    broken_at_id: int | None = None
    reason: str | None = None
    #: The chain's last entry, when intact.
    last_id: int | None = None
    last_hash: str | None = None
    #: When the entries up to the checkpoint were last checked in full (``None``: just now).
    checkpoint_dt: datetime | None = None


def verify_chain(session: Session, school_id: int | None, *,
                 after: AuditCheckpoint | None = None) -> ChainCheck:
    """Walk a school's chain in order and report the first entry that breaks it.

    With ``after``, start from a checkpoint: its entries count as checked and
    the walk begins at the entry following it. The chain's head is read
    first, so the walk must pass it (entries appended meanwhile come after
    it); a walk that does not has lost entries at its end.
    """
    head = session.execute(select(AuditChain.head_hash).where(
        AuditChain.chain_key == chain_key(school_id))).scalar_one_or_none()
    prev, count, last_id = GENESIS, 0, None
    query = (select(AuditEntry)
             .where(AuditEntry.school_id.is_(None) if school_id is None
                    else AuditEntry.school_id == school_id)
             .order_by(AuditEntry.id).execution_options(yield_per=1000))
    if after is not None:
        prev, count, last_id = after.entry_hash, after.entries, after.entry_id
        query = query.where(AuditEntry.id > after.entry_id)
    reached = head in (None, prev)
    for entry in session.execute(query).scalars():
        count += 1
        if entry.prev_hash != prev:
            return ChainCheck(False, count, entry.id, "an entry before it was removed or changed")
        if compute_hash(entry) != entry.entry_hash:
            return ChainCheck(False, count, entry.id, "its contents were changed")
        prev, last_id = entry.entry_hash, entry.id
        reached = reached or prev == head
    if head is None and last_id is not None:
        return ChainCheck(False, count, None, "the record of the log's newest entry is gone")
    if not reached:  # cut at the end: no entry is out of place, the newest are missing
        return ChainCheck(False, count, None, f"the entries after entry {last_id} were removed"
                          if last_id else "all its entries were removed")
    return ChainCheck(True, count, last_id=last_id, last_hash=prev if last_id else None)


def check_chain(session: Session, school_id: int) -> ChainCheck:
    """The log viewer's check: the entries since the last full check, from its checkpoint.

    Without a checkpoint the whole chain is walked. If the checkpointed entry
    itself is gone or changed, the log was tampered with (it is append-only):
    the whole chain is walked to show where, and it is broken even if the
    walk finds the rest consistent (the newest entries and the head rolled back).
    """
    point = session.get(AuditCheckpoint, school_id)
    if point is not None:
        anchor = session.execute(select(AuditEntry.entry_hash).where(
            AuditEntry.id == point.entry_id, AuditEntry.school_id == school_id)
        ).scalar_one_or_none()
        if anchor != point.entry_hash:
            check = verify_chain(session, school_id)
            if check.is_intact:
                check = ChainCheck(False, check.entries_checked, None,
                                   f"entry {point.entry_id}, checked intact by the nightly check"
                                   f" on {point.checked_dt:%d %B %Y}, was removed or changed")
            return check
    check = verify_chain(session, school_id, after=point)
    return replace(check, checkpoint_dt=point.checked_dt if point is not None else None)


def checkpoint_chains(session: Session, *, now: datetime) -> dict[str, int]:
    """Check every school's whole chain (the nightly job); the caller commits.

    An intact chain's checkpoint moves to its last entry; a broken chain loses
    its checkpoint, so the viewer walks it all and shows where it breaks.
    """
    from app.schools.models import School  # the schools package imports nothing from here

    counts = {"intact": 0, "broken": 0}
    for school_id in list(session.scalars(select(School.id).order_by(School.id))):
        check = verify_chain(session, school_id)
        point = session.get(AuditCheckpoint, school_id)
        if not check.is_intact:
            counts["broken"] += 1
            if point is not None:
                session.delete(point)
            continue
        counts["intact"] += 1
        if check.last_id is None:
            continue
        point = point or AuditCheckpoint(school_id=school_id)
        point.entry_id, point.entry_hash = check.last_id, check.last_hash
        point.entries, point.checked_dt = check.entries_checked, now
        session.add(point)
    return counts


# -- reading the log -----------------------------------------------------------------------
PAGE_SIZE = 100
_REFERENCE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


@dataclass(frozen=True)
class AuditFilters:
    """Who (a staff id), what (an action), which case (its reference) and when (school dates)."""

    actor_id: int | None = None
    action: str | None = None
    case_reference: str | None = None
    start: date | None = None
    end: date | None = None
    #: Paging: only entries older than this id.
    before_id: int | None = None

    @classmethod
    def parse(cls, args) -> "AuditFilters":  # noqa: ANN001 - a MultiDict
        """Read the filters from a query string; a value that makes no sense is a clear 422."""
        actor = id_arg(args, "who", "Choose who from the list.")
        action = (args.get("what") or "").strip()
        if action and (len(action) > 64 or not action.isascii()
                       or not all(c.isalnum() or c in "._" for c in action)):
            raise ValidationFailed("Choose what from the list.", field="what")
        start, end = date_arg(args, "from"), date_arg(args, "to")
        if start and end and start > end:
            raise ValidationFailed("The start of the period must be on or before its end.",
                                   field="from")
        reference = (args.get("case") or "").strip().upper() or None
        if reference and (len(reference) > 20 or not set(reference) <= _REFERENCE_CHARS):
            raise ValidationFailed("That is not a case reference: copy it from the case page, "
                                   "for example DEM-7K3QMX.", field="case")
        before = id_arg(args, "before", "That page of the log does not exist.")
        return cls(actor, action or None, reference, start, end, before)

    def query_args(self) -> dict[str, str]:
        """The filters (without paging) as query-string values."""
        args = {"who": self.actor_id, "what": self.action, "case": self.case_reference,
                "from": self.start and self.start.isoformat(),
                "to": self.end and self.end.isoformat()}
        return {k: str(v) for k, v in args.items() if v is not None}


def audit_entries(session: Session, user: "StaffUser", filters: AuditFilters, *,
                  limit: int | None = None) -> list[AuditEntry]:
    """A page of the school's audit log (``PAGE_SIZE`` entries), newest first, filtered."""
    # Imported here: the cases package imports this module (through its views).
    from app.cases.models import Case

    require_lead(user)
    stmt = (select(AuditEntry).where(AuditEntry.school_id == user.school_id)
            .order_by(AuditEntry.id.desc()).limit(limit or PAGE_SIZE))
    if filters.actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_kind == "staff", AuditEntry.actor_id == filters.actor_id)
    if filters.action:
        stmt = stmt.where(AuditEntry.action == filters.action)
    if filters.case_reference:
        stmt = stmt.where(AuditEntry.case_id.in_(select(Case.id).where(
            Case.school_id == user.school_id, Case.reference == filters.case_reference)))
    tz = user.school.tz
    if filters.start:
        stmt = stmt.where(AuditEntry.created_dt >= datetime.combine(filters.start, time.min, tz))
    if filters.end:
        stmt = stmt.where(AuditEntry.created_dt < datetime.combine(
            filters.end + timedelta(days=1), time.min, tz))
    if filters.before_id is not None:
        stmt = stmt.where(AuditEntry.id < filters.before_id)
    return list(session.execute(stmt).scalars())


def known_actions(session: Session, school_id: int) -> list[str]:
    """Every action the school's log holds, for the "what" filter."""
    return list(session.execute(
        select(AuditEntry.action).where(AuditEntry.school_id == school_id)
        .group_by(AuditEntry.action).order_by(AuditEntry.action)).scalars())
