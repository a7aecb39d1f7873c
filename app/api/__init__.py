"""The reporter's JSON API for a mobile app: the same services as the student pages.

The reporter is authenticated by ``Authorization: CaseKey <passphrase>``; there
are no cookies, so there is no CSRF token. Errors are RFC 9457 problem+json.
"""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Api as _Api
from flask_smorest import Blueprint


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every API error is answered."""

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.List(ma.fields.Dict(), metadata={
        "description": "One entry per field at fault: {field, reason}"})


class Api(_Api):
    """flask-smorest's Api, leaving error pages to :mod:`app.errors` (HTML and problem+json)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        return None


api = Api()
bp = Blueprint("api", __name__, url_prefix="/api/v1",
               description="Report and follow up bullying incidents with a case key")

from app.api import views  # noqa: E402,F401
