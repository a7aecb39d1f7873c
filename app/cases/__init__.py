"""Casework: the triage queue and the case page."""

from flask import Blueprint

bp = Blueprint("cases", __name__, template_folder="templates", url_prefix="/staff/cases")

from app.cases import views  # noqa: E402,F401
