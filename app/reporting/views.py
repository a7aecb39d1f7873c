from __future__ import annotations

from flask import render_template

from app.extensions import db
from app.reporting import bp
from app.reporting import services as reporting


@bp.route("/<slug>/")
def start(slug: str):
    school = reporting.get_school(db.session, slug)
    return render_template("reporting/start.html", school=school)
