"""Template filters: times shown in the school's zone, in plain words."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_login import current_user

from app.db import utcnow


def _duration_words(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 3600:
        minutes = max(1, int(seconds // 60))
        return f"{minutes} min"
    if seconds < 86400 * 2:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days = int(seconds // 86400)
    return f"{days} days"


def init_templating(app: Flask) -> None:
    @app.template_filter("ago")
    def ago(value: datetime | None) -> str:
        if value is None:
            return ""
        return _duration_words((utcnow() - value).total_seconds()) + " ago"

    @app.template_filter("timeleft")
    def timeleft(value: datetime | None) -> str:
        if value is None:
            return ""
        return _duration_words((value - utcnow()).total_seconds())

    @app.template_global("timedelta_days")
    def timedelta_days(days: int):  # noqa: ANN202
        from datetime import timedelta

        return timedelta(days=days)

    @app.template_filter("localtime")
    def localtime(value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M") -> str:
        if value is None:
            return ""
        if current_user and getattr(current_user, "is_authenticated", False):
            value = value.astimezone(current_user.school.tz)
        return value.strftime(fmt)
