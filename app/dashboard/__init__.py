"""The safeguarding lead's dashboard."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__, template_folder="templates", url_prefix="/staff/dashboard")

from app.dashboard import views  # noqa: E402,F401
