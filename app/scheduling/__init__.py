"""Follow-up sessions (their pages and models arrive with the casework issue)."""

from flask import Blueprint

bp = Blueprint("scheduling", __name__, template_folder="templates", url_prefix="/staff/sessions")
