"""Staff sign-in, two-factor and passwords."""

from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates", url_prefix="/staff")

from app.auth import views  # noqa: E402,F401
