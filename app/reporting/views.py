"""Student pages. No address, user agent or tracking cookie is kept (see app/logging.py)."""

from __future__ import annotations

import functools

import hashlib
import hmac
import re
import secrets
import time

from flask import (current_app, g, make_response, redirect, render_template, request,
                   session, url_for)
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from app.cases.vocabulary import Risk
from app.errors import DomainError
from app.extensions import db, limiter, login_manager
from app.reporting import bp
from app.reporting import services as reporting
from app.reporting.evidence import size_words
from app.reporting.forms import (EndForm, EvidenceForm, KeyForm, MessageForm, ReplyEmailForm,
                                 ReportForm, quick_report_data)
from app.reporting.models import Report
from app.reporting.ratelimit import WRONG_KEY_LIMITS, anonymous_client_key, key_attempt_failed
from app.reporting.sent_forms import sent_forms
from app.sessions import is_student_request

REPORTER_IDLE_SECONDS = 20 * 60
NOTHING_TO_SAVE = ('Nothing was changed. Type an email address to save it; to remove a saved '
                   'one, tick "Delete my email address".')



@bp.before_app_request
def _no_staff_login_on_student_pages() -> None:
    """Make the user of a student page anonymous without asking Flask-Login.

    Flask-Login's "strong" session protection fingerprints the client (a hash of its
    address and user agent) and, finding none in the student cookie, writes into it and
    sends a second cookie deleting ``remember_token``: student pages must set only their
    own cookie and derive nothing from the device. An app-wide hook registered with the
    blueprint runs before the staff session hook, the first thing to read ``current_user``.
    """
    if is_student_request():
        g._login_user = login_manager.anonymous_user()


@bp.after_request
def _never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<slug>/")
def start(slug: str):
    school = reporting.get_school(db.session, slug)
    return render_template("reporting/start.html", school=school)


def _report_input(data: dict) -> reporting.ReportInput:
    """The report from the form's data (``ReportForm.data``, or ``quick_report_data``)."""
    confidential = data["identity"] == "confidential"
    return reporting.ReportInput(
        details=data["details"] or "",
        reporter_role=data["reporter_role"] or "",
        is_danger=data["is_danger"] == "yes",
        is_self_harm=data["is_self_harm"] == "yes",
        kinds=data["kinds"] or [],
        platforms=data["platforms"] or [],
        occurred_period=data["occurred_period"] or None,
        is_ongoing=data["is_ongoing"] == "yes",
        involved=data["involved"],
        handles=[{"platform": h["platform"] or "other", "handle": h["handle"] or ""}
                 for h in data["handles"]],
        is_anonymous=not confidential,
        reporter_name=data["reporter_name"] if confidential else None,
        year_group=int(data["year_group"]) if confidential and data["year_group"] else None,
        contact=data["contact"] if confidential else None,
        reply_email=data["reply_email"] or None,
    )


_EMPTY_PAGES = "safe_report.empty_report_pages"
#: Where the CSRF token and the form's id go in a kept page: random per process, so no
#: text a school could put in its name can stand in for them.
_TOKEN_SLOT = secrets.token_hex(16)
_FORM_ID_SLOT = secrets.token_hex(16)
_FORM_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def _new_form_id() -> str:
    """A random id for one report form page: it is claimed when the page's form is sent."""
    return secrets.token_urlsafe(16)


def _posted_form_id() -> str | None:
    """The id of the report form page this POST came from, if it is one of ours."""
    form_id = request.form.get("form_id", "")
    return form_id if _FORM_ID.fullmatch(form_id) else None


def _empty_report_page(school) -> str:  # noqa: ANN001
    """The empty report page of ``school``, rendered once per process; only the CSRF token
    and the form id vary.

    Every visitor gets the same empty form (defaults only: no request data
    reaches it), and rendering its sixty-odd inputs and the layout was most of
    the page's cost. The CSRF token, the only part of the page that is the
    visitor's, and the form id drawn for each page (see app/reporting/sent_forms.py)
    are put in per request. A page is kept per school and name (the only
    school attribute the page shows: a template that shows another must add
    it to the key), so a renamed school gets a new one; templates that reload
    (development) are rendered each time.
    """
    pages = current_app.extensions.setdefault(_EMPTY_PAGES, {})
    key = (school.id, school.name)
    page = pages.get(key)
    if page is None:
        form = ReportForm(formdata=None, meta={"csrf": False})
        page = render_template("reporting/report.html", school=school, form=None, error=None,
                               fields=Markup(render_template("reporting/_report_fields.html",
                                                             form=form)),
                               csrf_value=_TOKEN_SLOT, form_id=_FORM_ID_SLOT)
        if not current_app.jinja_env.auto_reload:
            if len(pages) >= 10_000:  # schools renamed again and again: start afresh
                pages.clear()
            pages[key] = page
    return page.replace(_TOKEN_SLOT, generate_csrf(), 1).replace(_FORM_ID_SLOT, _new_form_id(), 1)


@bp.route("/<slug>/report", methods=["GET", "POST"])
@limiter.limit("20 per minute; 200 per hour", key_func=anonymous_client_key, methods=["POST"])
def report(slug: str):
    school = reporting.get_school(db.session, slug)
    if request.method == "GET":
        return _empty_report_page(school)
    form_id = _posted_form_id()
    # A report filled in as the page offers it skips building the form (see
    # quick_report_data); any other is checked by the form, which has the messages.
    # Both read the form fields only: the report form has no file field, and a
    # file part named like a field must not stand in for it.
    form = None
    data = quick_report_data(request.form)
    if data is None:
        form = ReportForm(formdata=request.form)
        data = form.data if form.validate_on_submit() else None
    error = None
    if data is not None:
        # Claimed only once the form is fit to send, so that two clicks on a form with a
        # mistake both get the mistake back, not "already sent".
        if form_id is not None and not sent_forms().claim(form_id):
            return render_template("reporting/already_sent.html", school=school), 409
        try:
            result = reporting.submit_report(db.session, school, _report_input(data))
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            _release(form_id)
            form = form or ReportForm(formdata=request.form)
            error = exc.message
            if exc.field and hasattr(form, exc.field):
                # The form passed its own checks, so the service's message is the only one
                # (a list of handles would otherwise still hold an empty dict per row).
                getattr(form, exc.field).errors = [exc.message]
                error = None
        except BaseException:
            _release(form_id)  # the report was not stored: a resend of this form must go through
            raise
        else:
            # Shown once, in this response only: never in a URL, a cookie or a log. The
            # student cookie is left as it was: a send writes nothing to the device.
            return render_template("reporting/submitted.html", school=school,
                                   case_key=result.case_key, is_urgent=result.risk is Risk.CRITICAL)
    status = 422 if (error or form.errors) else 200
    # The page sent back keeps its form id: corrected and sent, it is still the one form.
    return render_template("reporting/report.html", school=school, form=form, error=error,
                           form_id=form_id or _new_form_id()), status


def _release(form_id: str | None) -> None:
    if form_id is not None:
        sent_forms().release(form_id)


def _session_tag(report: Report) -> str:
    """A value only the case key's digest gives, kept in the (signed, readable) cookie.

    The cookie alone must not open a report: anyone holding SECRET_KEY could
    otherwise sign ``{"report": n}`` for every n. A purge, which replaces the
    digest, also ends any open session of the report.
    """
    return hashlib.sha256(b"reporter-session:" + report.case_key_digest.encode()).hexdigest()[:32]


def _current_report(school) -> Report | None:  # noqa: ANN001
    data = session.get("reporter")
    if not isinstance(data, dict) or data.get("school") != school.id:
        return None
    if time.time() - data.get("seen", 0) > REPORTER_IDLE_SECONDS:
        session.pop("reporter", None)
        return None
    report_id = data.get("report")
    report = db.session.get(Report, report_id) if isinstance(report_id, int) else None
    if (report is None or report.school_id != school.id
            or not hmac.compare_digest(str(data.get("tag", "")), _session_tag(report))):
        session.pop("reporter", None)
        return None
    data["seen"] = time.time()
    session["reporter"] = data
    return report


def _render_case(school, report, *, status: int = 200, **forms):  # noqa: ANN001
    view = reporting.reporter_view(db.session, report)
    context = {
        "message_form": forms.get("message_form") or MessageForm(formdata=None),
        "evidence_form": forms.get("evidence_form") or EvidenceForm(formdata=None),
        "email_form": forms.get("email_form") or ReplyEmailForm(formdata=None),
        "end_form": EndForm(formdata=None),
        "error": forms.get("error"),
    }
    return render_template("reporting/case.html", school=school, view=view,
                           max_size=size_words(current_app.config["EVIDENCE_MAX_BYTES"]),
                           max_files=current_app.config["EVIDENCE_MAX_FILES"], **context), status


@bp.route("/<slug>/check", methods=["GET", "POST"])
@limiter.limit(WRONG_KEY_LIMITS, key_func=anonymous_client_key, methods=["POST"],
               deduct_when=key_attempt_failed)
def check(slug: str):
    school = reporting.get_school(db.session, slug)
    if request.method == "GET":
        report = _current_report(school)
        if report is not None:
            return _render_case(school, report)
    form = KeyForm()
    error = None
    if form.validate_on_submit():
        try:
            report = reporting.find_report_by_key(db.session, school, form.case_key.data)
        except reporting.KeyNotRecognised as exc:
            error = exc.message
        else:
            session.clear()
            session["reporter"] = {"school": school.id, "report": report.id, "seen": time.time(),
                                   "tag": _session_tag(report)}
            return redirect(url_for("reporting.check", slug=slug), code=303)
    status = 422 if (error or form.errors) else 200
    response = make_response(render_template("reporting/check.html", school=school, form=form,
                                             error=error), status)
    response.key_attempt_failed = error is not None  # type: ignore[attr-defined]
    return response


def _with_open_report(view):  # noqa: ANN001, ANN202
    """Give the view the school and the report this browser opened with its key, or send it to the key page."""

    @functools.wraps(view)
    def wrapper(slug: str):  # noqa: ANN202
        school = reporting.get_school(db.session, slug)
        report = _current_report(school)
        if report is None:
            return redirect(url_for("reporting.check", slug=slug), code=303)
        return view(school, report)

    return wrapper


@bp.route("/<slug>/check/message", methods=["POST"])
@_with_open_report
def send_message(school, report):  # noqa: ANN001
    slug = school.slug
    form = MessageForm()
    if form.validate_on_submit():
        try:
            reporting.send_reporter_message(db.session, report, form.message.data)
        except DomainError as exc:
            db.session.rollback()
            form.message.errors = [exc.message]
        else:
            db.session.commit()
            return redirect(url_for("reporting.check", slug=slug, sent=1), code=303)
    return _render_case(school, report, status=422, message_form=form)


@bp.route("/<slug>/check/evidence", methods=["POST"])
@_with_open_report
def add_evidence(school, report):  # noqa: ANN001
    slug = school.slug
    form = EvidenceForm()
    if form.validate_on_submit():
        upload = form.file.data
        if not upload or not getattr(upload, "filename", None):
            form.file.errors = ["Choose a file to add."]
        else:
            data = upload.read(current_app.config["EVIDENCE_MAX_BYTES"] + 1)
            try:
                reporting.add_evidence(db.session, report, filename=upload.filename, data=data,
                                       max_bytes=current_app.config["EVIDENCE_MAX_BYTES"],
                                       max_files=current_app.config["EVIDENCE_MAX_FILES"])
            except DomainError as exc:
                db.session.rollback()
                form.file.errors = [exc.message]
                if exc.status_code == 413:
                    return _render_case(school, report, status=413, evidence_form=form)
            else:
                db.session.commit()
                return redirect(url_for("reporting.check", slug=slug, added=1), code=303)
    return _render_case(school, report, status=422, evidence_form=form)


@bp.route("/<slug>/check/email", methods=["POST"])
@_with_open_report
def reply_email(school, report):  # noqa: ANN001
    slug = school.slug
    form = ReplyEmailForm()
    if form.validate_on_submit():
        # Only the tick box deletes: Save with the field left empty keeps what is stored.
        email = None if form.delete.data else (form.reply_email.data or "").strip()
        if email == "":
            form.reply_email.errors = [NOTHING_TO_SAVE]
            return _render_case(school, report, status=422, email_form=form)
        try:
            reporting.set_reply_email(db.session, report, email)
        except DomainError as exc:
            db.session.rollback()
            form.reply_email.errors = [exc.message]
        else:
            db.session.commit()
            return redirect(url_for("reporting.check", slug=slug, email=1), code=303)
    return _render_case(school, report, status=422, email_form=form)


@bp.route("/<slug>/check/end", methods=["POST"])
def end(slug: str):
    reporting.get_school(db.session, slug)
    if EndForm().validate_on_submit():
        session.clear()
    return redirect(url_for("reporting.check", slug=slug), code=303)

