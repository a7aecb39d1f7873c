from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from app.audit import bp
from app.audit import services as audit
from app.audit.models import AuditEntry
from app.extensions import db
from app.policy import require_lead


@bp.route("/")
@login_required
def index():
    require_lead(current_user)
    entries = db.session.execute(
        select(AuditEntry).where(AuditEntry.school_id == current_user.school_id)
        .order_by(AuditEntry.id.desc()).limit(200)
    ).scalars()
    check = audit.verify_chain(db.session, current_user.school_id)
    audit.record(db.session, "audit.viewed", school_id=current_user.school_id,
                 actor_id=current_user.id)
    db.session.commit()
    return render_template("audit/index.html", entries=list(entries), check=check)
