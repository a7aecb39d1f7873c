"""Staff sessions: loading the user, idle timeout, school scoping, forced steps."""

from __future__ import annotations

import time

from flask import Flask, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user

from app.auth.models import StaffUser
from app.extensions import db, login_manager
from app.policy import scope_to_school

#: Endpoints a signed-in user may reach before finishing a forced step.
_ALWAYS_ALLOWED = {"auth.logout", "auth.change_password", "auth.two_factor_setup", "static",
                   "health.healthz", "health.readyz"}


@login_manager.user_loader
def _load_user(session_id: str) -> StaffUser | None:
    user_id, _, nonce = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(StaffUser, int(user_id))
    if user is None or not user.is_enabled or user.session_nonce != nonce:
        return None
    return user


def init_staff_sessions(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.session_protection = "strong"
    idle_seconds = app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    max_hours = app.config["STAFF_SESSION_MAX_HOURS"]

    @app.before_request
    def _staff_session():
        if request.endpoint in ("static", "health.healthz", "health.readyz"):
            return None
        last_seen = session.get("last_seen")
        now = time.time()
        if current_user.is_authenticated:
            if last_seen is not None and now - last_seen > idle_seconds:
                return _end_session("You were signed out because the page was left idle. "
                                    "Please sign in again.")
            # However active, a session does not last for ever (a session without the
            # time it began predates the limit: it ends too).
            if now - session.get("signed_in_at", 0) > max_hours * 3600:
                return _end_session(f"You were signed out because you signed in more than "
                                    f"{max_hours} hours ago. Please sign in again.")
            session["last_seen"] = now
            scope_to_school(db.session, current_user.school_id)
            if request.endpoint not in _ALWAYS_ALLOWED:
                if current_user.must_change_password:
                    return redirect(url_for("auth.change_password"))
                from app.auth.services import needs_two_factor_enrolment

                if needs_two_factor_enrolment(current_user,
                                              required=app.config["REQUIRE_TWO_FACTOR"]):
                    return redirect(url_for("auth.two_factor_setup"))
        return None


def _end_session(message: str):  # noqa: ANN202 - a redirect
    logout_user()
    session.clear()
    flash(message, "info")
    return redirect(url_for("auth.login"))
