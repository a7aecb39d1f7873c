"""The reporter's JSON API for a mobile app: the same services as the student pages.

The reporter is authenticated by ``Authorization: CaseKey <passphrase>``; there
are no cookies, so there is no CSRF token. Errors are RFC 9457 problem+json.
"""

from __future__ import annotations

import http
import json
from typing import Any

import flask
import marshmallow as ma
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest.utils import prepare_response
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

PROBLEM_JSON = "application/problem+json"


class FieldErrorSchema(ma.Schema):
    field = ma.fields.String(metadata={
        "description": "The field at fault, dotted for nested ones (e.g. `handles.0.platform`)"})
    reason = ma.fields.String()


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every API error is answered."""

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.List(ma.fields.Nested(FieldErrorSchema), metadata={
        "description": "One entry per field at fault"})


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class JSONParser(FlaskParser):
    """webargs' parser, refusing every malformed JSON body with a 400 instead of a 500.

    The standard library's decoder raises ``RecursionError`` for deeply nested
    arrays and a plain ``ValueError`` for integers of thousands of digits,
    which webargs does not catch; it also accepts ``NaN`` and ``Infinity``.
    """

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        raw = req.get_data(cache=True)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(f"Bytes decoding error : {exc.reason}", doc=str(raw),
                                       pos=exc.start) from exc
        try:
            return json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError:
            raise  # webargs answers it, or treats an empty body as no body
        except (RecursionError, ValueError) as exc:
            self._handle_invalid_json_error(exc, req)  # type: ignore[arg-type]


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = JSONParser()


class Api(_Api):
    """flask-smorest's Api, leaving error pages to :mod:`app.errors` (HTML and problem+json)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        return None

    def _register_responses(self) -> None:
        """Document the error responses as problem+json, as :mod:`app.errors` sends them."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


api = Api()
bp = Blueprint("api", __name__, url_prefix="/api/v1",
               description="Report and follow up bullying incidents with a case key")

from app.api import views  # noqa: E402,F401
