from __future__ import annotations

from flask import render_template, request
from flask_login import current_user, login_required

from app.cases import bp
from app.cases import services as cases
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, Risk, from_mask
from app.db import utcnow
from app.extensions import db


@bp.route("/")
@login_required
def queue():
    filters = cases.QueueFilters.parse(request.args)
    page = cases.triage_queue(db.session, current_user, filters, after=request.args.get("after"))
    return render_template(
        "cases/queue.html", page=page, filters=filters, now=utcnow(),
        statuses=list(CaseStatus), risks=list(Risk),
        kinds_of=lambda c: from_mask(IncidentKind, c.kinds_mask),
        platforms_of=lambda c: from_mask(Platform, c.platforms_mask),
    )
