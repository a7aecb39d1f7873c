"""Sign-in pages. Each view parses the form, calls one service and renders."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.audit import services as audit
from app.auth import bp
from app.auth import services as auth
from app.auth.forms import ChangePasswordForm, CodeForm, LoginForm
from app.auth.models import StaffUser
from app.auth.ratelimit import known_device_budget
from app.errors import DomainError
from app.extensions import db, limiter

#: Seconds a password-checked user has to type their TOTP code.
PENDING_SECONDS = 300
#: Holds the marks of the accounts signed in on this browser (auth.services.device_mark):
#: a lock that others' wrong guesses put on an account does not hold this browser up
#: while the account's budget of wrong tries lasts (auth.ratelimit). Signing out keeps
#: it: it is for getting back in, which is when a browser is signed out, and it helps
#: only someone who also knows the password, within that budget.
DEVICE_COOKIE = "sr_device"
DEVICE_COOKIE_AGE = timedelta(days=90)
_MARKS_KEPT = 5
_MARK = re.compile(r"[0-9a-f]{32}")


def _device_marks() -> list[str]:
    value = request.cookies.get(DEVICE_COOKIE, "")
    return [m for m in value.split(".")[:_MARKS_KEPT] if _MARK.fullmatch(m)]


def _home_url(user: StaffUser) -> str:
    if user.is_casework_staff:
        return url_for("cases.queue")
    return url_for("admin.staff_list")


def _start_session(user: StaffUser):
    session.clear()  # a fresh session on sign-in: no fixation
    session.permanent = True
    login_user(user)
    session["last_seen"] = session["signed_in_at"] = time.time()
    response = redirect(_home_url(user))
    mark = auth.device_mark(user)
    marks = [mark, *(m for m in _device_marks() if m != mark)][:_MARKS_KEPT]
    response.set_cookie(DEVICE_COOKIE, ".".join(marks), max_age=DEVICE_COOKIE_AGE,
                        path=url_for("auth.login"), httponly=True, samesite="Strict",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("30 per minute", key_func=lambda: "login:" + (request.remote_addr or "-"),
               methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_home_url(current_user))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            outcome = auth.check_password(
                db.session, form.email.data, form.password.data,
                threshold=current_app.config["LOGIN_LOCKOUT_THRESHOLD"],
                device_marks=_device_marks(), device_budget=known_device_budget,
            )
        except DomainError as exc:
            db.session.commit()  # the failure counter and audit entry are kept
            error = exc.message
        else:
            db.session.commit()
            if outcome.needs_second_factor:
                session.clear()
                session["pending_user"] = outcome.user.id
                session["pending_since"] = time.time()
                return redirect(url_for("auth.two_factor"))
            return _start_session(outcome.user)
    status = 200 if error is None and not form.errors else 422
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/login/two-factor", methods=["GET", "POST"])
@limiter.limit("30 per minute", key_func=lambda: "2fa:" + (request.remote_addr or "-"),
               methods=["POST"])
def two_factor():
    user_id = session.get("pending_user")
    started = session.get("pending_since", 0)
    if not user_id or time.time() - started > PENDING_SECONDS:
        session.clear()
        flash("Please sign in again.", "info")
        return redirect(url_for("auth.login"))
    user = db.session.get(StaffUser, user_id)
    if user is None or not user.is_enabled:
        session.clear()
        return redirect(url_for("auth.login"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        try:
            auth.check_second_factor(db.session, user, form.code.data,
                                     threshold=current_app.config["LOGIN_LOCKOUT_THRESHOLD"],
                                     device_marks=_device_marks(),
                                     device_budget=known_device_budget)
        except DomainError as exc:
            db.session.commit()
            error = exc.message
        else:
            db.session.commit()
            return _start_session(user)
    status = 200 if error is None and not form.errors else 422
    return render_template("auth/two_factor.html", form=form, error=error), status


@bp.route("/two-factor/setup", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    form = CodeForm()
    error = None
    user = current_user._get_current_object()
    if user.is_totp_enabled:
        # Moving to a new phone goes through an admin reset, never a second enrolment.
        return render_template("auth/two_factor_setup.html", form=form, error=None,
                               qr_svg=None, secret=None)
    if request.method == "GET" or not user.totp_secret:
        auth.start_totp_enrolment(user)  # a fresh secret each time the page is shown
        db.session.commit()
    if form.validate_on_submit():
        try:
            auth.confirm_totp_enrolment(db.session, user, form.code.data)
        except DomainError as exc:
            error = exc.message
        else:
            db.session.commit()
            flash("Two-step sign-in is on. You will need your app each time you sign in.",
                  "success")
            return redirect(_home_url(user))
    status = 200 if error is None and not form.errors else 422
    return render_template("auth/two_factor_setup.html", form=form, error=error,
                           qr_svg=auth.totp_qr_svg(user), secret=user.totp_secret), status


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    error = None
    # The user itself, not the proxy: re-signing in with the proxy makes it point at itself.
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            auth.change_password(db.session, user, form.current_password.data,
                                 form.password.data,
                                 threshold=current_app.config["LOGIN_LOCKOUT_THRESHOLD"])
        except auth.AccountLocked as exc:
            db.session.commit()  # the lock, the audit entry and the ended sessions
            logout_user()
            session.clear()
            flash(exc.message, "error")
            response = redirect(url_for("auth.login"))
            # Whoever guessed here must not then get past the lock as the owner's browser.
            response.delete_cookie(DEVICE_COOKIE, path=url_for("auth.login"))
            return response
        except DomainError as exc:
            db.session.commit()  # the failure counter and audit entry are kept
            error = exc.message
        else:
            db.session.commit()
            response = _start_session(user)  # the old session id no longer matches the account
            flash("Your password has been changed.", "success")
            return response
    status = 200 if error is None and not form.errors else 422
    return render_template("auth/change_password.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        # The cookie is the whole session: clearing it here leaves any copy of it (a
        # shared computer, a proxy) working. A new nonce makes every copy worthless.
        current_user.reset_sessions()
        audit.record(db.session, "auth.logout", school_id=current_user.school_id,
                     actor_id=current_user.id)
        db.session.commit()
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
@login_required
def home():
    return redirect(_home_url(current_user))
