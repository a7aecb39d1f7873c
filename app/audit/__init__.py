"""The audit log (viewer for leads: issue 6)."""

from flask import Blueprint

bp = Blueprint("audit", __name__, template_folder="templates", url_prefix="/staff/audit")

from app.audit import views  # noqa: E402,F401
