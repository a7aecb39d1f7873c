from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required

from app.dashboard import bp
from app.dashboard import services as dashboard
from app.extensions import db


@bp.route("/")
@login_required
def index():
    figures = dashboard.now_figures(db.session, current_user)
    return render_template("dashboard/index.html", figures=figures)
