"""The audit log viewer (leads only): filtered entries and the state of the hash chain."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from app.audit import bp
from app.audit import services as audit
from app.auth.models import StaffUser
from app.cases.models import Case
from app.extensions import db
from app.policy import require_lead


@bp.after_request
def _never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/")
@login_required
def index():
    require_lead(current_user)
    filters = audit.AuditFilters.parse(request.args)
    entries = audit.audit_entries(db.session, current_user, filters)
    check = audit.check_chain(db.session, current_user.school_id)
    staff = db.session.execute(select(StaffUser).where(
        StaffUser.school_id == current_user.school_id).order_by(StaffUser.name)).scalars().all()
    case_ids = {e.case_id for e in entries if e.case_id}
    references = dict(db.session.execute(
        select(Case.id, Case.reference).where(Case.school_id == current_user.school_id,
                                              Case.id.in_(case_ids))).all()) if case_ids else {}
    # Reading the log is itself on the record: who looked, and for what.
    audit.record(db.session, "audit.viewed", school_id=current_user.school_id,
                 actor_id=current_user.id, detail=filters.query_args())
    db.session.commit()
    return render_template("audit/index.html", entries=entries, check=check, filters=filters,
                           staff=staff, names={s.id: s.name for s in staff},
                           references=references,
                           actions=audit.known_actions(db.session, current_user.school_id),
                           next_before=entries[-1].id if len(entries) == audit.PAGE_SIZE else None)
