"""The operator's commands: what they write, and what they refuse."""

from __future__ import annotations

from sqlalchemy import select

from app.audit import services as audit
from app.audit.models import AuditChain, AuditEntry
from app.schools.models import School
from tests.conftest import throwaway_app


def test_create_school_starts_the_schools_audit_chain(backends):
    from app.extensions import db

    with throwaway_app(backends, "cli_create_school") as app:
        result = app.test_cli_runner().invoke(args=["create-school", "hill-top", "Hill Top"])
        assert result.exit_code == 0, result.output
        school = db.session.execute(select(School).where(School.slug == "hill-top")).scalar_one()
        entry = db.session.execute(select(AuditEntry).where(
            AuditEntry.school_id == school.id)).scalar_one()
        assert (entry.action, entry.actor_kind, entry.target) == (
            "school.created", "system", f"school:{school.id}")
        assert entry.prev_hash == audit.GENESIS
        assert db.session.get(AuditChain, school.id).head_hash == entry.entry_hash

        again = app.test_cli_runner().invoke(args=["create-school", "hill-top", "Other"])
        assert again.exit_code != 0 and "already exists" in again.output
        assert db.session.scalars(select(School.name).where(School.slug == "hill-top")).all() \
            == ["Hill Top"]
