"""Session pages: parse the form, call one service, commit, render."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError
from wtforms.fields.choices import SelectChoice

from app.cases import services as cases
from app.db import utcnow
from app.errors import Conflict, DomainError
from app.extensions import db, limiter
from app.policy import require_case_work, require_casework
from app.scheduling import bp, feed_bp
from app.scheduling import feed as calendar
from app.scheduling import services
from app.scheduling.chart import render_outcome_chart
from app.scheduling.forms import (CancelForm, CompleteForm, FeedForm, MissedForm, RescheduleForm,
                                  ScheduleForm)


@bp.after_request
def _never_cache(response):  # noqa: ANN001, ANN202
    response.headers["Cache-Control"] = "no-store"
    return response


def _field_error(form, exc: DomainError) -> str | None:  # noqa: ANN001
    """Show a service's message at its field; return it for the page when it has none."""
    if exc.field and exc.field in form:
        form[exc.field].errors = [*form[exc.field].errors, exc.message]
        return None
    return exc.message


def _attempt(action):  # noqa: ANN001, ANN202
    """Run a service call and commit; answer a domain refusal with its message."""
    try:
        result = action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        if exc.status_code in (403, 404):
            raise
        return None, exc
    except StaleDataError:
        # Someone else changed the case between our read and our write.
        db.session.rollback()
        return None, Conflict()
    return result, None


def _counsellor_choices(form: ScheduleForm) -> list[Any]:
    staff = services.schedulable_counsellors(db.session, current_user)
    form.counsellor_id.choices = [SelectChoice(str(u.id), u.name) for u in staff]
    if not form.counsellor_id.data:
        form.counsellor_id.data = str(current_user.id)
    return staff


# -- the case page part ---------------------------------------------------------------
@bp.app_context_processor
def _case_sessions_helper() -> dict[str, Any]:
    return {"case_sessions": _case_sessions_panel}


def _case_sessions_panel(case) -> SimpleNamespace | None:  # noqa: ANN001
    """What ``scheduling/_case_sessions.html`` shows on the case page."""
    if not current_user.is_authenticated or not current_user.is_casework_staff:
        return None
    data = services.case_sessions(db.session, current_user, case)
    form = ScheduleForm(formdata=None)
    _counsellor_choices(form)
    return SimpleNamespace(data=data, form=form, is_lead=current_user.is_lead)


# -- scheduling and the moves of one session ------------------------------------------
@bp.route("/case/<int:case_id>/new", methods=["GET", "POST"])
@login_required
def schedule(case_id: int):
    case = cases.get_case(db.session, current_user, case_id)
    require_case_work(current_user, case)
    form = ScheduleForm()
    _counsellor_choices(form)
    error, status = None, 200
    if form.validate_on_submit():
        data = services.ScheduleInput(
            start_local=form.start.data, kind=form.kind.data, mode=form.mode.data,
            duration_minutes=form.duration.data, location=form.location.data,
            counsellor_id=form.counsellor_id.data)
        fs, exc = _attempt(lambda: services.schedule_session(
            db.session, current_user, case_id, data, now=utcnow()))
        if exc is None:
            when = fs.start_dt.astimezone(current_user.school.tz)
            flash(f"Session booked for {when:%a %d %b %Y, %H:%M}. Reminders go out 24 hours "
                  "and 1 hour before.", "success")
            return redirect(url_for("cases.case", case_id=case_id, _anchor="sessions"))
        error, status = _field_error(form, exc), exc.status_code
        case = cases.get_case(db.session, current_user, case_id)
    elif request.method == "POST":
        status = 422
    return render_template("scheduling/schedule.html", case=case, form=form, error=error,
                           is_lead=current_user.is_lead), status


def _render_session(fs, *, status: int = 200, error: str | None = None,  # noqa: ANN001
                    **forms: Any):
    school = current_user.school
    complete = forms.get("complete_form") or CompleteForm(formdata=None)
    for f, label in zip(complete.outcome_fields(), services.outcome_labels(school)):
        f.label.text = label
    for f, label in zip(complete.session_fields(), services.session_labels(school)):
        f.label.text = label
    reschedule = forms.get("reschedule_form") or RescheduleForm(
        formdata=None, start=fs.start_dt.astimezone(school.tz).replace(tzinfo=None),
        duration=str(fs.duration_minutes), location=fs.location or "")
    return render_template(
        "scheduling/session.html", fs=fs, case=fs.case, now=utcnow(), error=error,
        may_act=services.may_act_on(current_user, fs),
        outcome_labels=services.outcome_labels(school),
        session_labels=services.session_labels(school),
        complete_form=complete, reschedule_form=reschedule,
        cancel_form=forms.get("cancel_form") or CancelForm(formdata=None),
        missed_form=MissedForm(formdata=None),
    ), status


@bp.route("/<int:session_id>")
@login_required
def session_page(session_id: int):
    fs = services.view_session(db.session, current_user, session_id, now=utcnow())
    response = _render_session(fs)
    db.session.commit()
    return response


def _show_again(session_id: int, *, status: int, error: str | None = None, **forms: Any):
    """Re-show the session page after a refused action: it shows the notes, so it is audited.

    The action changed nothing (it was rolled back, or never ran); only the view is committed.
    """
    fs = services.view_session(db.session, current_user, session_id, now=utcnow())
    response = _render_session(fs, status=status, error=error, **forms)
    db.session.commit()
    return response


def _after_action(session_id: int, exc: DomainError | None, form, form_name: str,  # noqa: ANN001
                  done: str):
    if exc is None:
        flash(done, "success")
        return redirect(url_for("scheduling.session_page", session_id=session_id))
    error = _field_error(form, exc)
    return _show_again(session_id, status=exc.status_code, error=error, **{form_name: form})


def _invalid_form(session_id: int, form, form_name: str):  # noqa: ANN001
    return _show_again(session_id, status=422, **{form_name: form})


@bp.route("/<int:session_id>/reschedule", methods=["POST"])
@login_required
def reschedule(session_id: int):
    form = RescheduleForm()
    if not form.validate_on_submit():
        return _invalid_form(session_id, form, "reschedule_form")
    data = services.RescheduleInput(start_local=form.start.data,
                                    duration_minutes=form.duration.data,
                                    location=form.location.data)
    _, exc = _attempt(lambda: services.reschedule_session(
        db.session, current_user, session_id, data, now=utcnow()))
    return _after_action(session_id, exc, form, "reschedule_form",
                         "Session moved. The reminders were moved with it.")


@bp.route("/<int:session_id>/cancel", methods=["POST"])
@login_required
def cancel(session_id: int):
    form = CancelForm()
    if not form.validate_on_submit():
        return _invalid_form(session_id, form, "cancel_form")
    _, exc = _attempt(lambda: services.cancel_session(
        db.session, current_user, session_id, reason=form.reason.data, now=utcnow()))
    return _after_action(session_id, exc, form, "cancel_form", "Session cancelled.")


@bp.route("/<int:session_id>/missed", methods=["POST"])
@login_required
def missed(session_id: int):
    form = MissedForm()
    if not form.validate_on_submit():
        return _invalid_form(session_id, form, "missed_form")
    _, exc = _attempt(lambda: services.mark_missed(
        db.session, current_user, session_id, now=utcnow()))
    return _after_action(session_id, exc, form, "missed_form", "Session marked as missed.")


@bp.route("/<int:session_id>/complete", methods=["POST"])
@login_required
def complete(session_id: int):
    form = CompleteForm()
    if not form.validate_on_submit():
        return _invalid_form(session_id, form, "complete_form")
    data = services.CompletionInput(
        outcome_scores=[f.data for f in form.outcome_fields()],
        session_scores=[f.data for f in form.session_fields()],
        notes=form.notes.data, strategies=form.strategies.data)
    _, exc = _attempt(lambda: services.complete_session(
        db.session, current_user, session_id, data, now=utcnow()))
    return _after_action(session_id, exc, form, "complete_form",
                         "Session recorded. The outcome chart on the case is updated.")


# -- the outcome chart ----------------------------------------------------------------
@bp.route("/case/<int:case_id>/chart.svg")
@login_required
def chart(case_id: int):
    case, data = services.chart_data(db.session, current_user, case_id, now=utcnow())
    svg = render_outcome_chart(data, current_user.school.tz)
    db.session.commit()
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- My week --------------------------------------------------------------------------
@bp.route("/week")
@login_required
def week():
    agenda = services.my_week(db.session, current_user, request.args.get("week"), now=utcnow())
    return render_template("scheduling/week.html", week=agenda,
                           this_week=services.iso_week(utcnow().astimezone(
                               current_user.school.tz).date()))


# -- the calendar feed ----------------------------------------------------------------
@bp.route("/calendar")
@login_required
def calendar_page():
    require_casework(current_user)
    return render_template("scheduling/calendar.html", has_feed=calendar.has_feed(current_user),
                           form=FeedForm(), feed_url=None)


@bp.route("/calendar/create", methods=["POST"])
@login_required
def calendar_create():
    form = FeedForm()
    if not form.validate_on_submit():
        flash("The form expired. Please try again.", "error")
        return redirect(url_for("scheduling.calendar_page"))
    token, exc = _attempt(lambda: calendar.create_feed(db.session, current_user, now=utcnow()))
    if exc is not None:
        flash(exc.message, "error")
        return redirect(url_for("scheduling.calendar_page"))
    # Shown once, on this response only (never stored, never in a redirect).
    url = calendar.feed_url(current_app.config["SERVER_BASE_URL"], token)
    return render_template("scheduling/calendar.html", has_feed=True, form=FeedForm(),
                           feed_url=url)


@bp.route("/calendar/revoke", methods=["POST"])
@login_required
def calendar_revoke():
    form = FeedForm()
    if not form.validate_on_submit():
        flash("The form expired. Please try again.", "error")
        return redirect(url_for("scheduling.calendar_page"))
    revoked, exc = _attempt(lambda: calendar.revoke_feed(db.session, current_user, now=utcnow()))
    if exc is not None:
        flash(exc.message, "error")
    elif revoked:
        flash("Your calendar address is switched off. Calendar apps using it get nothing more.",
              "success")
    else:
        flash("You had no calendar address.", "info")
    return redirect(url_for("scheduling.calendar_page"))


def _feed_rate_key() -> str:
    # Per feed, by digest: the limiter's keys never hold the token itself.
    token = (request.view_args or {}).get("token", "")
    return "ical:" + calendar.token_digest(token)[:24]


@feed_bp.route("/ical/<token>.ics")
@limiter.limit("60 per minute", key_func=_feed_rate_key)
def feed(token: str):
    body = calendar.render_feed(db.session, token, now=utcnow(),
                                base_url=current_app.config["SERVER_BASE_URL"])
    return Response(body, mimetype="text/calendar", headers={
        "Cache-Control": "no-store",
        "Content-Disposition": 'inline; filename="safe-report-sessions.ics"',
        "X-Content-Type-Options": "nosniff",
    })
