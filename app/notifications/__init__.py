"""Notifications: a transactional outbox delivered by the workers."""

from flask import Blueprint

bp = Blueprint("notifications", __name__, template_folder="templates",
               url_prefix="/staff/notifications")

from app.notifications import views  # noqa: E402,F401
