from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.notifications import bp
from app.notifications.models import Notification


@bp.route("/")
@login_required
def index():
    notes = db.session.execute(
        select(Notification).where(Notification.recipient_staff_id == current_user.id)
        .order_by(Notification.id.desc()).limit(100)
    ).scalars()
    return render_template("notifications/index.html", notes=list(notes))
