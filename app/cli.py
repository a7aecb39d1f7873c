"""Flask CLI commands: ``flask --app app create-school`` and friends."""

from __future__ import annotations

import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from sqlalchemy import func, select

from app.audit import services as audit
from app.auth import services as auth
from app.auth.models import CaseRole
from app.errors import DomainError
from app.extensions import db
from app.health.cli import workers_status
from app.schools.models import School

ROLES = {"counsellor": (CaseRole.COUNSELLOR, False), "lead": (CaseRole.LEAD, False),
         "admin": (None, True), "lead-admin": (CaseRole.LEAD, True)}


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_school)
    app.cli.add_command(create_user)
    app.cli.add_command(seed_demo)
    app.cli.add_command(seed_if_empty)
    app.cli.add_command(rotate_keys)
    app.cli.add_command(clean_evidence)
    app.cli.add_command(repair_purged_cases)
    app.cli.add_command(set_admin_contact)
    app.cli.add_command(workers_status)


def _create_school(slug: str, name: str, timezone: str) -> School:
    if not slug.replace("-", "").isalnum() or slug != slug.lower():
        raise click.BadParameter("use lower-case letters, digits and hyphens", param_hint="SLUG")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown timezone {timezone!r}", param_hint="--timezone") from None
    if db.session.execute(select(School.id).where(School.slug == slug)).first():
        raise click.ClickException(f"a school with slug {slug!r} already exists")
    school = School(slug=slug, name=name, timezone=timezone)
    db.session.add(school)
    db.session.flush()
    # The school's audit chain begins here (and gets its head row: app.audit.models.AuditChain).
    audit.record(db.session, "school.created", school_id=school.id, actor_kind="system",
                 target=f"school:{school.id}")
    return school


@click.command("create-school")
@click.argument("slug")
@click.argument("name")
@click.option("--timezone", default="Europe/London", show_default=True, help="IANA timezone.")
def create_school(slug: str, name: str, timezone: str) -> None:
    """Create a school. SLUG appears in its report address /s/SLUG/report."""
    school = _create_school(slug, name, timezone)
    db.session.commit()
    click.echo(f"Created school {school.slug!r} ({school.name}), id {school.id}.")


@click.command("set-admin-contact")
@click.argument("slug")
@click.argument("email", required=False)
def set_admin_contact(slug: str, email: str | None) -> None:
    """Set (or, without EMAIL, clear) where a school's level-3 escalations also go.

    Level 3 reaches every lead and admin account, and this address too (the head's,
    say, who may have no account); the worker reads it when it sends.
    """
    school = db.session.execute(select(School).where(School.slug == slug)).scalar_one_or_none()
    if school is None:
        raise click.ClickException(f"no school with slug {slug!r}")
    if email is not None:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            raise click.BadParameter("not an email address", param_hint="EMAIL") from None
    school.admin_contact_email = email
    audit.record(db.session, "school.admin_contact_set", school_id=school.id,
                 actor_kind="system", target=f"school:{school.id}", detail={"set": bool(email)})
    db.session.commit()
    click.echo(f"Level-3 escalations of {school.slug!r} also go to {email}." if email
               else f"Level-3 escalations of {school.slug!r} go to its leads and admins only.")


@click.command("create-user")
@click.argument("school_slug")
@click.argument("email")
@click.option("--name", required=True, help="The person's full name.")
@click.option("--role", type=click.Choice(sorted(ROLES)), required=True,
              help="counsellor, lead (safeguarding lead), admin, or lead-admin.")
@click.option("--password", default=None,
              help="Password to set; by default a temporary one is generated and printed once.")
def create_user(school_slug: str, email: str, name: str, role: str, password: str | None) -> None:
    """Create a staff account in SCHOOL_SLUG."""
    school = db.session.execute(select(School).where(School.slug == school_slug)).scalar_one_or_none()
    if school is None:
        raise click.ClickException(f"no school with slug {school_slug!r}")
    case_role, is_admin = ROLES[role]
    generated = password is None
    password = password or auth.generate_password()
    try:
        user = auth.create_staff_user(db.session, school_id=school.id, email=email, name=name,
                                      password=password, case_role=case_role, is_admin=is_admin,
                                      must_change_password=generated)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Created {user.role_label.lower()} {user.email} in {school.slug}.")
    if generated:
        click.echo(f"Temporary password (shown once; they must change it): {password}")


@click.command("seed-demo")
@click.option("--reports", default=36, show_default=True, help="How many fake reports to make.")
def seed_demo(reports: int) -> None:
    """Create the demo school, one account per role, and fake reports."""
    from app.demo import seed_demo_school

    if db.session.execute(select(School.id).where(School.slug == "demo")).first():
        raise click.ClickException("the demo school exists already")
    password = current_app.config.get("DEMO_PASSWORD")
    generated = not password
    password = password or secrets.token_urlsafe(12)
    seed_demo_school(db.session, password=password, reports=reports)
    db.session.commit()
    click.echo("Demo school 'demo' (Demo High School) created with accounts:")
    for email in ("counsellor@demo.example", "lead@demo.example", "admin@demo.example"):
        click.echo(f"  {email}")
    if generated:
        click.echo(f"Password for all three (shown once): {password}")
    else:
        click.echo("Password: the value of DEMO_PASSWORD.")


@click.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt all stored data under the first key of DATA_ENCRYPTION_KEYS.

    Put the new key first and keep the old ones after it; once this has run,
    the old keys can be removed.
    """
    from app.keys import rotate
    from app.security import keyring

    click.echo(f"Re-encrypting under key {keyring().current.key_id!r} ...")
    counts = rotate(db.session)
    for name, count in counts.items():
        click.echo(f"  {name}: {count} re-encrypted")
    click.echo(f"Done: {sum(counts.values())} values re-encrypted.")


@click.command("clean-evidence")
@click.option("--batch", default=20, show_default=True, help="PDFs per transaction.")
def clean_evidence(batch: int) -> None:
    """Strip the metadata of PDF evidence stored before uploaded PDFs were cleaned.

    Safe to run again: a cleaned PDF is not touched twice. A PDF the cleaner
    refuses is left as it is; its evidence id is printed for an admin to look at.
    """
    from app.reporting.evidence import clean_stored_pdfs

    cleaned, refused, after_id = 0, [], 0
    while True:
        done = clean_stored_pdfs(db.session, after_id=after_id, limit=batch)
        db.session.commit()
        cleaned += done.cleaned
        refused += done.refused
        after_id = done.last_id
        if done.seen < batch:
            break
    click.echo(f"PDFs cleaned: {cleaned}.")
    click.echo(f"PDFs that could not be cleaned (left as they are): {len(refused)}.")
    if refused:
        click.echo("  evidence ids: " + ", ".join(str(i) for i in refused))


@click.command("repair-purged-cases")
@click.option("--batch", default=50, show_default=True, help="Cases per transaction.")
def repair_purged_cases(batch: int) -> None:
    """Close, and purge again, cases reopened or worked on after retention purged them.

    Safe to run again: a repaired case is closed and empty, and is not touched twice.
    """
    from app.cases.retention import repair_purged
    from app.db import utcnow

    repaired, closed, after_id = 0, 0, 0
    while True:
        ids, closed_now = repair_purged(db.session, now=utcnow(), after_id=after_id, limit=batch)
        db.session.commit()
        repaired += len(ids)
        closed += closed_now
        if len(ids) < batch:
            break
        after_id = ids[-1]
    click.echo(f"Purged cases still open, now closed: {closed}.")
    click.echo(f"Purged cases whose later content was deleted again: {repaired}.")


@click.command("seed-if-empty", hidden=True)
@click.pass_context
def seed_if_empty(ctx: click.Context) -> None:
    """Seed the demo school when the database has no school (used by ``make run``)."""
    if db.session.execute(select(func.count()).select_from(School)).scalar_one():
        click.echo("Database already has data; not seeding.")
        return
    ctx.invoke(seed_demo)

