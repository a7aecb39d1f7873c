from __future__ import annotations

from datetime import datetime
from typing import Callable

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy.orm.exc import StaleDataError

from app.cases import bp, merging, people, workflow
from app.cases import services as cases
from app.cases.forms import (
    AssignForm,
    MergeForm,
    AccountForm,
    NoteForm,
    StudentForm,
    ReplyForm,
    RevealForm,
    RiskForm,
    StatusForm,
    TakeForm,
    choices,
)
from app.cases.people_models import PersonKind
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, Risk, from_mask
from app.db import utcnow
from app.errors import Conflict, DomainError, ValidationFailed
from app.extensions import db, talisman
from app.ids import parse_id
from app.policy import require_casework

#: Form classes of the case page, by the name the template knows them by.
FORMS = {"take": TakeForm, "reply": ReplyForm, "status": StatusForm, "risk": RiskForm,
         "assign": AssignForm, "note": NoteForm, "student": StudentForm, "account": AccountForm,
         "merge": MergeForm}
#: The policy of an evidence download, in place of the app's page policy.
EVIDENCE_CSP = "default-src 'none'; sandbox"


@bp.after_request
def _never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/")
@login_required
def queue():
    require_casework(current_user)
    error, status = None, 200
    try:
        filters = cases.QueueFilters.parse(request.args)
        page = cases.triage_queue(db.session, current_user, filters,
                                  after=request.args.get("after"))
    except ValidationFailed as exc:
        filters, page = cases.QueueFilters(), cases.QueuePage([], None)
        error, status = exc.message, exc.status_code
    return render_template(
        "cases/queue.html", page=page, filters=filters, now=utcnow(), error=error,
        statuses=list(CaseStatus), risks=list(Risk), kinds=list(IncidentKind),
        platforms=list(Platform),
        kinds_of=lambda c: from_mask(IncidentKind, c.kinds_mask),
        platforms_of=lambda c: from_mask(Platform, c.platforms_mask),
    ), status


# -- the case page --------------------------------------------------------------------
def _forms(case, posted: tuple[str, FlaskForm] | None) -> dict[str, FlaskForm]:  # noqa: ANN001
    forms = {name: cls(formdata=None) for name, cls in FORMS.items()}
    if posted:
        forms[posted[0]] = posted[1]
    for form in forms.values():
        # The page shows the case as it is now, so a form sent from it is current.
        form.version.data = str(case.version)
    forms["status"].to_status.choices = choices(
        (to.value, workflow.move_label(case.status, to))
        for to in workflow.ALLOWED_MOVES[case.status])
    if current_user.is_lead:  # only leads see the assign form
        forms["assign"].assignee.choices = choices([("", "Nobody (unassigned)")] + [
            (str(s.id), f"{s.name} ({s.role_label})")
            for s in cases.casework_staff(db.session, current_user)])
    if not posted or posted[0] != "assign":
        forms["assign"].assignee.data = str(case.assignee_id or "")
    if not posted or posted[0] != "risk":
        forms["risk"].risk.data = case.risk.value
    forms["merge"].report_id.choices = choices([("", "The whole case (every report)")] + [
        (str(r.id), f"Only report {i} of {len(case.reports)}")
        for i, r in enumerate(case.reports, 1)]) if len(case.reports) > 1 else []
    return forms


def _as_datetime(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _render_case(case, *, status: int = 200, posted: tuple[str, FlaskForm] | None = None,  # noqa: ANN001
                 identity=None, error: str | None = None):  # noqa: ANN001
    db.session.flush()
    return render_template(
        "cases/case.html", case=case, now=utcnow(),
        reports=cases.case_reports(db.session, current_user, case),
        events=cases.chronology(db.session, current_user, case),
        evidence=cases.case_evidence(db.session, current_user, case),
        people=people.case_people(db.session, current_user, case),
        repeats=people.repeat_names(db.session, current_user, case),
        merged_into=cases.merged_into(db.session, case),
        kinds=from_mask(IncidentKind, case.kinds_mask),
        platforms=from_mask(Platform, case.platforms_mask),
        can_work=(cases.can_work_case(current_user, case) and case.merged_into_id is None
                  and not case.is_purged),
        can_reveal=cases.can_work_case(current_user, case),
        is_lead=current_user.is_lead, forms=_forms(case, posted),
        describe_person=people.describe_person, role_labels=people.ROLE_LABELS,
        status_labels={s.value: s.label for s in CaseStatus}, as_datetime=_as_datetime,
        risk_labels={r.value: r.label for r in Risk},
        reveal_form=RevealForm(formdata=None), identity=identity, error=error,
    ), status


@bp.route("/<int:case_id>")
@login_required
def case(case_id: int):
    case = cases.open_case(db.session, current_user, case_id)
    response = _render_case(case)
    db.session.commit()
    return response


def _act(case_id: int, name: str, run: Callable[[FlaskForm], object], done: str):
    """Run one action of the case page: re-show the page with the message if refused."""
    cases.get_case(db.session, current_user, case_id)  # another school's: 404 before anything
    form = FORMS[name]()
    error = None
    if form.validate_on_submit():
        try:
            run(form)
            try:
                db.session.commit()
            except StaleDataError:
                raise Conflict(cases.STALE_MESSAGE) from None
        except DomainError as exc:
            if exc.status_code == 404:
                raise
            db.session.rollback()
            field = getattr(form, exc.field, None) if exc.field else None
            if field is not None and field.type not in ("HiddenField", "CSRFTokenField"):
                field.errors = [exc.message]
            else:
                error = exc.message
            status = exc.status_code
        else:
            flash(done, "success")
            return redirect(url_for("cases.case", case_id=case_id))
    else:
        status = 422
        if form.csrf_token.errors:
            status = 400
    case = cases.open_case(db.session, current_user, case_id)
    response = _render_case(case, status=status, posted=(name, form), error=error)
    db.session.commit()
    return response


@bp.route("/<int:case_id>/take", methods=["POST"])
@login_required
def take(case_id: int):
    return _act(case_id, "take", lambda f: cases.take_case(
        db.session, current_user, case_id, version=f.version_value()),
        "You have taken this case.")


@bp.route("/<int:case_id>/assign", methods=["POST"])
@login_required
def assign(case_id: int):
    def run(f: AssignForm) -> None:
        assignee_id = parse_id(f.assignee.data, field="assignee",
                               message="Choose someone from the list.")
        workflow.assign_case(db.session, current_user, case_id, assignee_id,
                             version=f.version_value())

    return _act(case_id, "assign", run, "The case has been assigned.")


@bp.route("/<int:case_id>/status", methods=["POST"])
@login_required
def move(case_id: int):
    return _act(case_id, "status", lambda f: workflow.move_status(
        db.session, current_user, case_id, f.to_status.data or "", reason=f.reason.data,
        version=f.version_value()), "The status has been changed.")


@bp.route("/<int:case_id>/risk", methods=["POST"])
@login_required
def risk(case_id: int):
    return _act(case_id, "risk", lambda f: workflow.set_risk(
        db.session, current_user, case_id, f.risk.data or "", reason=f.reason.data,
        version=f.version_value()), "The risk has been changed and the deadline recalculated.")


@bp.route("/<int:case_id>/notes", methods=["POST"])
@login_required
def note(case_id: int):
    return _act(case_id, "note", lambda f: workflow.add_note(
        db.session, current_user, case_id, f.body.data, is_restricted=f.is_restricted.data,
        version=f.version_value()), "Your note has been added.")


@bp.route("/<int:case_id>/people/student", methods=["POST"])
@login_required
def student(case_id: int):
    return _act(case_id, "student", lambda f: people.record_person(
        db.session, current_user, case_id,
        people.PersonInput(kind=PersonKind.STUDENT.value, role=f.role.data or "",
                           name=f.name.data, year_group=f.year_group.data),
        version=f.version_value()), "The student has been recorded.")


@bp.route("/<int:case_id>/people/account", methods=["POST"])
@login_required
def account(case_id: int):
    return _act(case_id, "account", lambda f: people.record_person(
        db.session, current_user, case_id,
        people.PersonInput(kind=PersonKind.ONLINE_ACCOUNT.value, role=f.role.data or "",
                           platform=f.platform.data, handle=f.handle.data),
        version=f.version_value()), "The online account has been recorded.")


@bp.route("/<int:case_id>/merge", methods=["POST"])
@login_required
def merge(case_id: int):
    def run(f: MergeForm) -> None:
        report_id = parse_id(f.report_id.data, field="report_id",
                             message="Choose one of this case's reports.")
        merging.merge_cases(db.session, current_user, case_id, f.target.data,
                            version=f.version_value(), report_id=report_id,
                            reason=f.reason.data)

    return _act(case_id, "merge", run, "The report has been moved.")


@bp.route("/<int:case_id>/reply", methods=["POST"])
@login_required
def reply(case_id: int):
    return _act(case_id, "reply", lambda f: cases.reply(
        db.session, current_user, case_id, f.message.data, version=f.version_value(),
        report_id=f.report_id.data),
        "Your reply was sent. The reporter sees it when they check with their case key.")


@bp.route("/<int:case_id>/identity", methods=["POST"])
@login_required
def reveal(case_id: int):
    cases.get_case(db.session, current_user, case_id)
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
# Talisman would replace the download's own policy with the app's: a file a browser
# opens in place by mistake must run nothing and load nothing.
@talisman(content_security_policy=EVIDENCE_CSP)
@login_required
def evidence(case_id: int, evidence_id: int):
    item, data = cases.open_evidence(db.session, current_user, case_id, evidence_id)
    db.session.commit()
    from app.reporting.evidence import EXTENSIONS

    name = f"evidence-{item.id}.{EXTENSIONS.get(item.content_type, 'bin')}"
    return Response(data, mimetype=item.content_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    })
