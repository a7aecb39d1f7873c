"""The audit log is a hash chain per school, and any edit or removal shows up on verification."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from app.audit import services as audit
from app.audit.models import AuditChain, AuditEntry
from tests.factories import SchoolFactory

T0 = datetime(2024, 11, 5, 8, 30, 15, 123456, tzinfo=timezone.utc)


def _chain(session, school_id):
    return list(session.execute(
        select(AuditEntry).where(AuditEntry.school_id == school_id).order_by(AuditEntry.id)
    ).scalars())


def _record_some(session, school_id, n, *, start=T0):
    return [
        audit.record(session, f"test.step{i}", school_id=school_id, actor_id=i,
                     target=f"thing:{i}", detail={"step": i}, at=start + timedelta(seconds=i))
        for i in range(n)
    ]


def _allow_rewrites(session):
    """Switch off the PostgreSQL append-only trigger, inside this test's transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))


@pytest.fixture
def two_schools(session):
    return SchoolFactory(), SchoolFactory()


def test_entries_chain_per_school_from_the_genesis_hash(session, two_schools):
    a, b = two_schools
    # interleave the two schools' entries: each chain must skip the other's
    for i in range(3):
        audit.record(session, "test.a", school_id=a.id, detail={"i": i}, at=T0)
        audit.record(session, "test.b", school_id=b.id, detail={"i": i}, at=T0)
    session.commit()
    session.expire_all()

    for school in (a, b):
        chain = _chain(session, school.id)
        assert len(chain) == 3
        assert chain[0].prev_hash == audit.GENESIS
        for before, entry in zip(chain, chain[1:]):
            assert entry.prev_hash == before.entry_hash
        assert all(e.entry_hash == audit.compute_hash(e) for e in chain)
        check = audit.verify_chain(session, school.id)
        assert check.is_intact and check.entries_checked == 3 and check.broken_at_id is None

    # same contents, different chains: no entry hash repeats
    hashes = [e.entry_hash for s in (a, b) for e in _chain(session, s.id)]
    assert len(set(hashes)) == 6


def test_entries_outside_any_school_have_their_own_chain(session, two_schools):
    a, _ = two_schools
    first = audit.record(session, "auth.login.failed", school_id=None, actor_kind="anonymous")
    audit.record(session, "test.a", school_id=a.id)
    second = audit.record(session, "auth.login.failed", school_id=None, actor_kind="anonymous")
    session.commit()
    assert second.prev_hash == first.entry_hash
    assert audit.verify_chain(session, None).is_intact


def test_editing_an_entry_is_detected_at_that_entry(session, two_schools):
    a, b = two_schools
    entries = _record_some(session, a.id, 4)
    _record_some(session, b.id, 2)
    session.commit()
    _allow_rewrites(session)
    target = entries[1]
    session.execute(
        sa.update(AuditEntry).where(AuditEntry.id == target.id).values(detail={"step": 99})
    )
    session.commit()
    session.expire_all()

    check = audit.verify_chain(session, a.id)
    assert not check.is_intact
    assert check.broken_at_id == target.id
    assert "changed" in check.reason
    assert check.entries_checked == 2
    # the other school's chain is independent and still verifies
    assert audit.verify_chain(session, b.id).is_intact


def test_rewriting_an_entry_and_its_hash_is_detected_at_the_next_entry(session, two_schools):
    a, _ = two_schools
    entries = _record_some(session, a.id, 3)
    session.commit()
    _allow_rewrites(session)
    forged = entries[1]
    forged.action = "test.forged"
    forged.entry_hash = audit.compute_hash(forged)
    session.commit()
    session.expire_all()

    check = audit.verify_chain(session, a.id)
    assert not check.is_intact
    assert check.broken_at_id == entries[2].id
    assert "removed or changed" in check.reason


@pytest.mark.parametrize("removed, detected_at", [(1, 2), (0, 1)])
def test_deleting_an_entry_is_detected_at_the_following_entry(session, two_schools, removed,
                                                               detected_at):
    a, _ = two_schools
    entries = _record_some(session, a.id, 4)
    session.commit()
    ids = [e.id for e in entries]
    _allow_rewrites(session)
    session.execute(sa.delete(AuditEntry).where(AuditEntry.id == ids[removed]))
    session.commit()
    session.expire_all()

    check = audit.verify_chain(session, a.id)
    assert not check.is_intact
    assert check.broken_at_id == ids[detected_at]
    assert "removed" in check.reason


def test_the_append_only_trigger_refuses_edits_in_postgresql(session, two_schools):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the append-only trigger exists only on PostgreSQL")
    a, _ = two_schools
    entry = audit.record(session, "test.a", school_id=a.id)
    session.commit()
    for statement in (sa.update(AuditEntry).where(AuditEntry.id == entry.id).values(action="x"),
                      sa.delete(AuditEntry).where(AuditEntry.id == entry.id)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with session.begin_nested():
                session.execute(statement)
    session.expire_all()
    assert session.get(AuditEntry, entry.id).action == "test.a"
    assert audit.verify_chain(session, a.id).is_intact


@pytest.mark.parametrize("at", [
    T0,
    datetime(2024, 3, 31, 0, 59, 59, 999999, tzinfo=timezone.utc),
    datetime(2024, 6, 1, 14, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    datetime(2024, 1, 1, 0, 0, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
])
def test_created_dt_round_trips_exactly_so_the_chain_verifies_after_reload(session, two_schools,
                                                                           at):
    a, _ = two_schools
    entry = audit.record(session, "test.time", school_id=a.id, at=at)
    audit.record(session, "test.time", school_id=a.id, at=at + timedelta(microseconds=1))
    session.commit()
    entry_id = entry.id
    session.expunge_all()

    reloaded = session.get(AuditEntry, entry_id)
    assert reloaded.created_dt == at
    assert reloaded.created_dt.utcoffset() == timedelta(0)
    assert reloaded.created_dt.microsecond == at.astimezone(timezone.utc).microsecond
    assert audit.compute_hash(reloaded) == reloaded.entry_hash
    assert audit.verify_chain(session, a.id).is_intact


def test_a_naive_time_is_refused(session, two_schools):
    a, _ = two_schools
    with pytest.raises((ValueError, sa.exc.StatementError), match="naive"):
        with session.begin_nested():
            audit.record(session, "test.time", school_id=a.id, at=datetime(2024, 1, 1, 12, 0))
    assert _chain(session, a.id) == []


def test_recording_without_a_time_uses_now_in_utc(session, two_schools):
    a, _ = two_schools
    before = datetime.now(timezone.utc)
    entry = audit.record(session, "test.now", school_id=a.id)
    session.commit()
    session.expunge_all()
    reloaded = session.get(AuditEntry, entry.id)
    assert before <= reloaded.created_dt <= datetime.now(timezone.utc)
    assert audit.verify_chain(session, a.id).is_intact


def test_concurrent_appends_to_one_school_keep_a_single_chain(backends):
    """Writers in parallel transactions are serialised, so the chain never forks."""
    if not backends.has_postgres:
        pytest.skip("needs PostgreSQL: SQLite has one writer at a time anyway")
    from sqlalchemy.orm import Session

    from app.extensions import db
    from tests.conftest import throwaway_app
    from tests.helpers import all_at_once

    with throwaway_app(backends, "audit_concurrency"):
        engine = db.engine

        def append(writer: int) -> None:
            for i in range(10):
                with Session(engine) as s:
                    audit.record(s, "test.concurrent", school_id=7,
                                 detail={"writer": writer, "i": i})
                    s.commit()

        assert all_at_once(append, 4) == []
        with Session(engine) as s:
            check = audit.verify_chain(s, 7)
            assert check.is_intact, check
            assert check.entries_checked == 40
            prevs = s.scalars(select(AuditEntry.prev_hash)
                              .where(AuditEntry.school_id == 7)).all()
            assert len(set(prevs)) == 40  # no two entries claim the same predecessor


def test_pending_changes_are_written_before_the_chain_is_locked(session, engine):
    """The scans lock case rows, then the chain; an entry written after an unsaved change
    must do the same (row, then chain) or the two can deadlock on PostgreSQL."""
    from tests.factories import make_case
    from tests.helpers import StatementCounter

    school = SchoolFactory()
    case = make_case(session, school)
    session.commit()
    case.escalation_level = 2  # changed, not yet flushed
    with StatementCounter(engine) as counter:
        audit.record(session, "case.viewed", school_id=school.id, case_id=case.id)
    session.commit()

    sent = counter.statements
    update = next(i for i, s in enumerate(sent) if s.startswith("UPDATE case_file"))
    written = next(i for i, s in enumerate(sent) if s.startswith("INSERT INTO audit_entry"))
    if engine.dialect.name == "postgresql":
        lock = next(i for i, s in enumerate(sent) if "FROM audit_chain" in s and "FOR UPDATE" in s)
        assert update < lock < written, sent
    assert update < written
    session.expire_all()
    assert session.get(type(case), case.id).escalation_level == 2


# -- the chain's head row ----------------------------------------------------------------
def _head(session, school_id):
    return session.execute(select(AuditChain.head_hash).where(
        AuditChain.chain_key == audit.chain_key(school_id))).scalar_one_or_none()


def test_every_append_moves_its_chains_head(session, two_schools):
    a, b = two_schools
    assert _head(session, a.id) is None  # no entry yet, no row
    first = audit.record(session, "test.one", school_id=a.id)
    assert _head(session, a.id) == first.entry_hash
    audit.record_many(session, [
        {"school_id": a.id, "action": "test.many", "actor_kind": "system", "detail": {"i": i}}
        for i in range(3)] + [{"school_id": b.id, "action": "test.many", "actor_kind": "system"},
                              {"school_id": None, "action": "test.many", "actor_kind": "system"}])
    session.commit()
    for school_id in (a.id, b.id, None):
        newest = session.execute(select(AuditEntry.entry_hash).where(
            AuditEntry.school_id.is_(None) if school_id is None
            else AuditEntry.school_id == school_id)
            .order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
        assert _head(session, school_id) == newest
        assert audit.verify_chain(session, school_id).is_intact
    assert session.get(AuditChain, 0).head_hash == _head(session, None)


@pytest.mark.parametrize("removed", [1, 3])
def test_removing_the_newest_entries_is_detected(session, two_schools, removed):
    """The hashes alone cannot show a cut at the end; the head row can."""
    a, b = two_schools
    entries = _record_some(session, a.id, 3)
    _record_some(session, b.id, 2)
    session.commit()
    _allow_rewrites(session)
    session.execute(sa.delete(AuditEntry).where(
        AuditEntry.id.in_([e.id for e in entries[-removed:]])))
    session.commit()
    session.expire_all()

    check = audit.verify_chain(session, a.id)
    assert not check.is_intact and check.broken_at_id is None  # no entry is out of place
    if removed == 3:
        assert check.reason == "all its entries were removed"
    else:
        assert check.reason == f"the entries after entry {entries[1].id} were removed"
    assert audit.verify_chain(session, b.id).is_intact


def test_a_lost_head_row_is_detected_and_a_new_school_starts_from_genesis(session, two_schools):
    a, b = two_schools
    _record_some(session, a.id, 2)
    session.commit()
    session.execute(sa.delete(AuditChain).where(AuditChain.chain_key == a.id))
    session.commit()
    check = audit.verify_chain(session, a.id)
    assert not check.is_intact and "newest entry is gone" in check.reason

    # b has no row yet: taking its chain makes one, at the genesis hash
    assert audit.take_chains(session.connection(), [b.id, None]) == {
        b.id: audit.GENESIS, None: _head(session, None) or audit.GENESIS}
    assert _head(session, b.id) == audit.GENESIS
    assert audit.verify_chain(session, b.id).is_intact  # an empty chain is intact


def test_an_append_waits_for_the_one_in_progress_and_follows_it(backends):
    """Read committed: the head row is read after the wait, not from the statement's snapshot."""
    if not backends.has_postgres:
        pytest.skip("row locks are PostgreSQL's: SQLite has one writer at a time")
    import threading

    from sqlalchemy.orm import Session

    from app.extensions import db
    from tests.conftest import throwaway_app

    with throwaway_app(backends, "audit_head_wait"):
        engine = db.engine
        with Session(engine) as s:
            audit.record(s, "test.start", school_id=5)
            s.commit()
        first = Session(engine)
        appended = audit.record(first, "test.first", school_id=5).entry_hash  # holds the row
        taken: dict = {}
        second_started = threading.Event()

        def second() -> None:
            with Session(engine) as s:
                second_started.set()
                taken.update(audit.take_chains(s.connection(), [5]))
                s.rollback()

        thread = threading.Thread(target=second)
        thread.start()
        second_started.wait(5)
        thread.join(0.5)
        assert thread.is_alive() and taken == {}  # waiting for the first append
        first.commit()
        first.close()
        thread.join(10)
        assert taken == {5: appended}


def test_chains_taken_together_are_made_before_any_is_locked(session, engine, two_schools):
    """Locks in key order only: a row made after others were locked could close a cycle."""
    from tests.helpers import StatementCounter

    a, b = two_schools
    audit.record(session, "test.one", school_id=b.id)  # b's row exists, a's does not
    session.commit()
    with StatementCounter(engine, work_only=True) as counter:
        heads = audit.take_chains(session.connection(), [b.id, a.id])
    session.rollback()

    assert heads[a.id] == audit.GENESIS and heads[b.id] == _head(session, b.id)
    sent = counter.statements
    assert len(sent) == 2, sent
    assert sent[0].startswith("INSERT INTO audit_chain") and "FOR UPDATE" in sent[1], sent
