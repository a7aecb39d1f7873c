"""School admin: staff accounts."""

from flask import Blueprint

bp = Blueprint("admin", __name__, template_folder="templates", url_prefix="/staff/admin")

from app.admin import views  # noqa: E402,F401
