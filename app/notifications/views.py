from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.admin.forms import ConfirmForm
from app.errors import DomainError, Forbidden
from app.extensions import db
from app.notifications import bp
from app.notifications import services
from app.notifications.content import kind_label
from app.notifications.mail import list_kept_mail, read_kept_mail
from app.policy import require_admin


@bp.app_context_processor
def _notification_helpers() -> dict:
    def unread_notifications() -> int:
        """The signed-in staff member's unread count, for the staff header."""
        if not current_user or not current_user.is_authenticated:
            return 0
        return services.unread_count(db.session, current_user)

    return {"unread_notifications": unread_notifications, "notification_label": kind_label}


@bp.route("/notifications/")
@login_required
def index():
    notes = services.inbox(db.session, current_user)
    # Shown with the unread marks they had; read from now on.
    unread = {n.id for n in notes if not n.is_read}
    db.session.commit()
    return render_template("notifications/index.html", notes=notes, unread=unread)


# -- workers page (admins) ---------------------------------------------------------------
@bp.route("/admin/workers")
@login_required
def workers():
    require_admin(current_user)
    config = current_app.config
    beat = services.last_beat(db.session)
    return render_template(
        "notifications/workers.html",
        outbox=services.outbox_status(db.session, school_id=current_user.school_id),
        failed=services.failed_notifications(db.session, school_id=current_user.school_id),
        beat=beat,
        # Three missed intervals: beat, or every worker, has stopped.
        beat_late=beat is not None and services.is_beat_late(
            beat, config["HEARTBEAT_INTERVAL_SECONDS"]),
        queue=services.broker_queue_depth(config),
        action_form=ConfirmForm(),
    )


@bp.route("/admin/workers/notifications/<int:notification_id>/retry", methods=["POST"])
@login_required
def retry(notification_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400, "The CSRF token is missing or invalid.")
    try:
        services.retry_notification(db.session, current_user, notification_id)
    except DomainError as exc:
        db.session.rollback()
        if exc.status_code in (403, 404):
            raise
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash("The notification is back in the outbox and will be sent within a minute.",
              "success")
    return redirect(url_for("notifications.workers"))


# -- the development mail folder ---------------------------------------------------------
def _mail_folder() -> Path:
    """The kept-mail folder, or a 404 outside development and testing."""
    folder = current_app.config.get("MAIL_OUTBOX_DIR")
    if current_app.config.get("ENV_NAME") == "production" or not folder:
        abort(404)
    if not (current_user.is_admin or current_user.is_lead):
        raise Forbidden("Only admins and safeguarding leads can read the kept mail.")
    return Path(folder)


@bp.route("/dev/mail")
@login_required
def dev_mail():
    folder = _mail_folder()
    return render_template("notifications/dev_mail.html", messages=list_kept_mail(folder),
                           folder=folder)


@bp.route("/dev/mail/<name>")
@login_required
def dev_mail_message(name: str):
    found = read_kept_mail(_mail_folder(), name)
    if found is None:
        abort(404)
    message, text = found
    return render_template("notifications/dev_mail_message.html", message=message, text=text)
