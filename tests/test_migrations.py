"""The Alembic revisions build exactly the schema the models describe, and undo it cleanly.

In the spirit of SecureDrop's ``tests/test_alembic.py``: every revision is run
up one step at a time from an empty database, autogenerate must then find
nothing left to do, every revision is run back down to an empty database, and
the way up works again. Runs on PostgreSQL when it answers, and on an SQLite
file always (the embedded default of ``make run``).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from tests.conftest import other_app

_labels = itertools.count()


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_app(request, backends):
    """An app on a brand-new, empty database of the given kind."""
    if request.param == "postgresql":
        if not backends.has_postgres:
            pytest.skip(f"PostgreSQL unavailable ({backends.postgres_error}); SQLite still runs")
        url = backends.new_database(f"alembic_{next(_labels)}")
    else:
        url = f"sqlite:///{backends.tmp / f'alembic_{next(_labels)}.sqlite'}"

    with other_app(backends, url) as app:
        yield app


def _revisions(app) -> list[str]:
    """Every revision id, oldest first."""
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def _schema_differences(app) -> list:
    """Compare the migrated database with the models, using env.py's own MigrationContext.

    env.py is run as ``flask db migrate`` would run it, so the comparison uses
    exactly its options (compare_type, render_item, render_as_batch, ...) and
    cannot drift from them.
    """
    from app.extensions import db

    found: list = []
    seen_opts: dict = {}

    def compare(_rev, context):  # noqa: ANN001
        seen_opts.update(context.opts)
        found.extend(compare_metadata(context, context.opts["target_metadata"]))
        return []

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        script = ScriptDirectory.from_config(config)
        with EnvironmentContext(config, script, fn=compare):
            script.run_env()
        assert seen_opts["target_metadata"] is db.metadata
    assert seen_opts["compare_type"] is True, "env.py must compare column types"
    assert "render_item" in seen_opts
    return found


def _model_tables() -> set[str]:
    from app.extensions import db

    return set(db.metadata.tables)


def _leftovers(app) -> list[str]:
    """Schema objects other than ``alembic_version`` still in the database."""
    from app.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        found = [f"table {t}" for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]
        if conn.dialect.name == "postgresql":
            found += [f"function {n}" for n in conn.scalars(sa.text(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'public'"))]
            found += [f"type {n}" for n in conn.scalars(sa.text(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                " WHERE n.nspname = 'public' AND t.typtype = 'e'"))]
            found += [f"sequence {n}" for n in conn.scalars(sa.text(
                "SELECT sequence_name FROM information_schema.sequences"
                " WHERE sequence_schema = 'public'"))]
        else:
            found += [f"{kind} {n}" for kind, n in conn.execute(sa.text(
                "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger', 'view')"
                " AND name NOT LIKE 'sqlite_%'"))]
    return found


def test_upgrade_from_empty_gives_exactly_the_models_schema(empty_app):
    with empty_app.app_context():
        flask_migrate.upgrade()
    differences = _schema_differences(empty_app)
    assert differences == [], (
        "the models and the migrations disagree; write a revision with `flask db migrate`:\n"
        + "\n".join(map(str, differences))
    )
    from app.extensions import db

    with empty_app.app_context(), db.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert _model_tables() <= tables


def test_every_revision_goes_down_to_empty_and_back_up(empty_app):
    revisions = _revisions(empty_app)
    assert revisions, "no Alembic revisions found"
    with empty_app.app_context():
        for revision in revisions:
            flask_migrate.upgrade(revision=revision)
        for _ in revisions:
            flask_migrate.downgrade(revision="-1")

    assert _leftovers(empty_app) == []
    from app.extensions import db

    with empty_app.app_context(), db.engine.connect() as conn:
        assert conn.scalars(sa.text("SELECT version_num FROM alembic_version")).all() == []

    with empty_app.app_context():
        flask_migrate.upgrade()
    assert _schema_differences(empty_app) == []


def test_audit_log_is_append_only_in_postgresql(empty_app):
    from app.extensions import db

    with empty_app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the append-only trigger exists only on PostgreSQL; "
                        "SQLite has no equivalent and relies on the hash chain alone")
        flask_migrate.upgrade()
        from app.audit import services as audit

        with Session(db.engine) as session:
            entry = audit.record(session, "test.appended", school_id=None, actor_kind="system",
                                 at=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc))
            session.commit()
            entry_id = entry.id

        with db.engine.connect() as conn:
            for statement in ("UPDATE audit_entry SET action = 'rewritten' WHERE id = :id",
                              "DELETE FROM audit_entry WHERE id = :id"):
                with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                    with conn.begin():
                        conn.execute(sa.text(statement), {"id": entry_id})
            # appending still works, and the first entry is untouched
            with Session(bind=conn) as session:
                audit.record(session, "test.appended", school_id=None, actor_kind="system")
                session.commit()
            rows = conn.execute(sa.text("SELECT id, action FROM audit_entry ORDER BY id")).all()
        assert [tuple(r) for r in rows][0] == (entry_id, "test.appended")
        assert len(rows) == 2


def test_the_comparison_notices_a_model_the_migrations_do_not_match(empty_app, monkeypatch):
    """Guard the guard: a changed column type and an extra column must show up as differences."""
    from app.extensions import db

    with empty_app.app_context():
        flask_migrate.upgrade()
    # Change a copy of the models' metadata, never the real one other tests use.
    changed = sa.MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    school = changed.tables["school"]
    school.c.slug.type = sa.String(length=65)
    school.append_column(sa.Column("not_migrated", sa.Integer(), nullable=True))
    monkeypatch.setitem(db.metadatas, None, changed)
    differences = _schema_differences(empty_app)
    kinds = [(d[0][0], d[0][3]) if isinstance(d, list) else (d[0], d[3].name)
             for d in differences]
    assert ("modify_type", "slug") in kinds
    assert ("add_column", "not_migrated") in kinds


def test_audit_log_cannot_be_truncated_in_postgresql(empty_app):
    from app.extensions import db

    with empty_app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the append-only trigger exists only on PostgreSQL")
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                with conn.begin():
                    conn.execute(sa.text("TRUNCATE audit_entry"))


def test_the_chain_head_revision_starts_each_chain_at_its_newest_entry(empty_app):
    """0007 fills audit_chain from the log as it stands, and appends go on from there."""
    from app.extensions import db

    with empty_app.app_context():
        flask_migrate.upgrade(revision="0006_audit_checkpoint")
        insert = sa.text(
            "INSERT INTO audit_entry (school_id, created_dt, actor_kind, action, detail,"
            " prev_hash, entry_hash) VALUES (:school, :at, 'system', 'test.old', '{}',"
            " :prev, :hash)")
        at = datetime(2024, 1, 2, tzinfo=timezone.utc)
        with db.engine.begin() as conn:
            from app.inserts import full_row
            from app.schools.models import School

            conn.execute(sa.insert(School.__table__), full_row(School.__table__, {
                "id": 9, "slug": "quiet", "name": "Quiet", "timezone": "Europe/London"}))
            for school, hash_ in ((3, "a"), (None, "b"), (3, "c"), (4, "d"), (None, "e")):
                conn.execute(insert, {"school": school, "at": at, "prev": "0" * 64,
                                      "hash": hash_ * 64})
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            heads = dict(conn.execute(sa.text(
                "SELECT chain_key, head_hash FROM audit_chain")).all())
        # ... and a school with no entry yet starts at the genesis hash
        assert heads == {3: "c" * 64, 4: "d" * 64, 0: "e" * 64, 9: "0" * 64}

        from app.audit import services as audit

        with Session(db.engine) as session:
            entry = audit.record(session, "test.new", school_id=3, actor_kind="system")
            session.commit()
            assert entry.prev_hash == "c" * 64
