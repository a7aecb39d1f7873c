"""Two session policies in one app: the student side and the staff side never share a cookie.

Student pages (``/s/...``) get their own cookie, scoped to ``/s/``, that lives
only as long as the browser session; the staff cookie
is scoped to ``/staff`` and lasts ``PERMANENT_SESSION_LIFETIME`` of inactivity.
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

STUDENT_PREFIX = "/s/"


def is_student_request() -> bool:
    return request.path.startswith(STUDENT_PREFIX)


class SplitSessionInterface(SecureCookieSessionInterface):
    def get_cookie_name(self, app: Flask) -> str:
        return "sr_student" if is_student_request() else "sr_staff"

    def get_cookie_path(self, app: Flask) -> str:
        return STUDENT_PREFIX if is_student_request() else "/staff"

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "Strict" if is_student_request() else app.config["SESSION_COOKIE_SAMESITE"]
