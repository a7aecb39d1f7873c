"""The student side: reporting and the case-key channel. No staff session is used here."""

from flask import Blueprint

bp = Blueprint("reporting", __name__, template_folder="templates", url_prefix="/s")

from app.reporting import views  # noqa: E402,F401
