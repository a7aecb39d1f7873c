"""Follow-up sessions: scheduling, outcomes, "My week" and the calendar feed."""

from flask import Blueprint

bp = Blueprint("scheduling", __name__, template_folder="templates", url_prefix="/staff/sessions")

#: The calendar feed lives at /ical/<token>.ics, outside the staff prefix: calendar apps
#: fetch it without signing in. Registered together with ``bp``.
feed_bp = Blueprint("calendar_feed", __name__)
bp.record_once(lambda state: state.app.register_blueprint(feed_bp))

from app.scheduling import views  # noqa: E402,F401
