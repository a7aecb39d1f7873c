"""Notifications: a transactional outbox delivered by the workers."""

from flask import Blueprint

# "/staff": the staff's own list (/staff/notifications/), the workers page for admins
# (/staff/admin/workers) and the development mail folder (/staff/dev/mail).
bp = Blueprint("notifications", __name__, template_folder="templates", url_prefix="/staff")

from app.notifications import views  # noqa: E402,F401
