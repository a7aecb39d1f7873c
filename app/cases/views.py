from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.cases import bp
from app.cases import services as cases
from app.cases.forms import ReplyForm, RevealForm, TakeForm
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, Risk, from_mask
from app.db import utcnow
from app.errors import DomainError
from app.extensions import db
from app.reporting import services as reporting


@bp.after_request
def _never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    return response


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


def _render_case(case, *, status: int = 200, reply_form=None, identity=None, error=None):  # noqa: ANN001
    db.session.flush()
    return render_template(
        "cases/case.html", case=case, now=utcnow(),
        reports=cases.case_reports(db.session, current_user, case),
        events=cases.chronology(db.session, current_user, case),
        evidence=cases.case_evidence(db.session, current_user, case),
        kinds=from_mask(IncidentKind, case.kinds_mask),
        platforms=from_mask(Platform, case.platforms_mask),
        can_work=cases.can_work_case(current_user, case),
        reply_form=reply_form or ReplyForm(formdata=None, version=case.version),
        take_form=TakeForm(formdata=None, version=case.version),
        reveal_form=RevealForm(formdata=None), identity=identity, error=error,
    ), status


@bp.route("/<int:case_id>")
@login_required
def case(case_id: int):
    case = cases.open_case(db.session, current_user, case_id)
    response = _render_case(case)
    db.session.commit()
    return response


@bp.route("/<int:case_id>/take", methods=["POST"])
@login_required
def take(case_id: int):
    form = TakeForm()
    if not form.validate_on_submit():
        flash("The form expired. Please try again.", "error")
        return redirect(url_for("cases.case", case_id=case_id))
    try:
        cases.take_case(db.session, current_user, case_id, version=form.version_value())
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash("You have taken this case.", "success")
    return redirect(url_for("cases.case", case_id=case_id))


@bp.route("/<int:case_id>/reply", methods=["POST"])
@login_required
def reply(case_id: int):
    case = cases.get_case(db.session, current_user, case_id)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            cases.check_version(case, form.version_value())
            report = None
            if form.report_id.data:
                report = next((r for r in case.reports if r.id == form.report_id.data), None)
                if report is None:
                    raise DomainError("Choose one of this case's reports.")
            reporting.reply_to_reporter(db.session, current_user, case, form.message.data,
                                        report=report)
        except DomainError as exc:
            if exc.status_code == 404:
                raise
            db.session.rollback()
            case = cases.get_case(db.session, current_user, case_id)
            return _render_case(case, status=exc.status_code if exc.status_code >= 400 else 422,
                                reply_form=form, error=exc.message)
        db.session.commit()
        flash("Your reply was sent. The reporter sees it when they check with their case key.",
              "success")
        return redirect(url_for("cases.case", case_id=case_id))
    return _render_case(case, status=422, reply_form=form)


@bp.route("/<int:case_id>/identity", methods=["POST"])
@login_required
def reveal(case_id: int):
    form = RevealForm()
    if not form.validate_on_submit():
        flash("The form expired. Please try again.", "error")
        return redirect(url_for("cases.case", case_id=case_id))
    identity = cases.reveal_identity(db.session, current_user, case_id, form.report_id.data)
    case = cases.get_case(db.session, current_user, case_id)
    response = _render_case(case, identity={"report_id": form.report_id.data, **identity})
    db.session.commit()
    return response


@bp.route("/<int:case_id>/evidence/<int:evidence_id>")
@login_required
def evidence(case_id: int, evidence_id: int):
    item, data = cases.open_evidence(db.session, current_user, case_id, evidence_id)
    db.session.commit()
    from app.reporting.evidence import EXTENSIONS

    name = f"evidence-{item.id}.{EXTENSIONS.get(item.content_type, 'bin')}"
    return Response(data, mimetype=item.content_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
    })
