from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.admin import bp
from app.admin import services as admin
from app.admin.forms import ConfirmForm, NewStaffForm
from app.errors import DomainError
from app.extensions import db


@bp.route("/staff", methods=["GET", "POST"])
@login_required
def staff_list():
    staff = admin.list_staff(db.session, current_user)
    form = NewStaffForm()
    error = None
    created = None
    if form.validate_on_submit():
        try:
            user, password = admin.create_staff(db.session, current_user, email=form.email.data,
                                                name=form.name.data, role=form.role.data)
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
        else:
            db.session.commit()
            created = (user, password)
            staff = admin.list_staff(db.session, current_user)
            form = NewStaffForm(formdata=None)
    status = 422 if (error or form.errors) else 200
    return render_template("admin/staff.html", staff=staff, form=form, error=error,
                           created=created, action_form=ConfirmForm()), status


@bp.route("/staff/<int:user_id>/disable", methods=["POST"])
@login_required
def disable(user_id: int):
    return _toggle(user_id, False)


@bp.route("/staff/<int:user_id>/enable", methods=["POST"])
@login_required
def enable(user_id: int):
    return _toggle(user_id, True)


def _toggle(user_id: int, enabled: bool):
    ConfirmForm().validate_on_submit() or _bad_form()
    try:
        user = admin.set_enabled(db.session, current_user, user_id, enabled)
    except DomainError as exc:
        if exc.status_code in (403, 404):
            raise
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(f"{user.name} is now {'enabled' if enabled else 'disabled'}.", "success")
    return redirect(url_for("admin.staff_list"))


@bp.route("/staff/<int:user_id>/reset", methods=["POST"])
@login_required
def reset(user_id: int):
    ConfirmForm().validate_on_submit() or _bad_form()
    user, password = admin.reset_account(db.session, current_user, user_id)
    db.session.commit()
    return render_template("admin/reset_done.html", user=user, password=password)


@bp.route("/poster")
@login_required
def poster():
    """A printable poster with a QR code of the school's report address."""
    url, qr_svg = admin.report_poster(current_user)
    return render_template("admin/poster.html", url=url, qr_svg=qr_svg)


def _bad_form():
    from werkzeug.exceptions import BadRequest

    raise BadRequest("The CSRF token is missing or invalid.")
