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


def test_set_admin_contact_stores_a_checked_address_audits_it_and_clears_it(backends):
    from app.extensions import db

    with throwaway_app(backends, "cli_admin_contact") as app:
        run = app.test_cli_runner().invoke
        assert run(args=["create-school", "vale", "Vale"]).exit_code == 0
        school = db.session.execute(select(School).where(School.slug == "vale")).scalar_one()

        refused = run(args=["set-admin-contact", "vale", "not an address"])
        assert refused.exit_code != 0 and "not an email address" in refused.output
        assert run(args=["set-admin-contact", "nowhere", "head@vale.example"]).exit_code != 0
        db.session.refresh(school)
        assert school.admin_contact_email is None

        assert run(args=["set-admin-contact", "vale", "Head@Vale.example"]).exit_code == 0
        db.session.refresh(school)
        assert school.admin_contact_email == "Head@vale.example"  # the domain normalised
        assert run(args=["set-admin-contact", "vale"]).exit_code == 0
        db.session.refresh(school)
        assert school.admin_contact_email is None
        details = db.session.scalars(select(AuditEntry.detail).where(
            AuditEntry.school_id == school.id,
            AuditEntry.action == "school.admin_contact_set").order_by(AuditEntry.id)).all()
        assert details == [{"set": True}, {"set": False}]
        assert audit.verify_chain(db.session, school.id).is_intact
