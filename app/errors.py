"""Domain errors raised by services, and the error pages and JSON problems they become."""

from __future__ import annotations

import logging
import time

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain refused the action; the message is safe to show."""

    status_code = 400
    default_message = "That cannot be done."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.field = field


class ValidationFailed(DomainError):
    status_code = 422
    default_message = "Some of what was entered is not valid."


class Forbidden(DomainError):
    status_code = 403
    default_message = "You do not have permission to do that."


class NotFound(DomainError):
    status_code = 404
    default_message = "We could not find that page."


class Conflict(DomainError):
    status_code = 409
    default_message = (
        "Someone else changed this case while you were looking at it. "
        "Reload the page to see their change, then try again."
    )


TITLES = {
    400: "The request could not be understood",
    401: "Case key needed",
    403: "You do not have permission to see this",
    404: "Page not found",
    405: "That action is not allowed here",
    409: "Changed by someone else",
    413: "That file or form is too large",
    422: "Please check what you entered",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "The service is not ready",
}

MESSAGES = {
    400: "The form may have expired. Go back, reload the page and try again.",
    403: "If you think you should have access, ask your school's admin.",
    404: "The address may be mistyped, or the page may have moved.",
    405: "Go back and use the buttons on the page.",
    413: "Make it smaller and try again.",
    429: "Please wait a little and try again.",
    500: "The problem has been logged. Please try again in a few minutes.",
}


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json"
        and not request.accept_mimetypes.accept_html
    )


def _field_errors(messages, prefix: str = "") -> list[dict[str, str]]:
    """Flatten webargs/marshmallow messages into ``[{field, reason}]``."""
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key in ("json", "files", "query", "form", "headers") and not prefix:
                name = ""
            out.extend(_field_errors(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out.extend({"field": prefix or "body", "reason": m} for m in messages)
    elif isinstance(messages, list):
        for item in messages:
            out.extend(_field_errors(item, prefix))
    else:
        out.append({"field": prefix or "body", "reason": str(messages)})
    return out


def render_error(status: int, message: str | None = None, field: str | None = None,
                 errors: list[dict[str, str]] | None = None):
    title = TITLES.get(status, "Error")
    detail = message or MESSAGES.get(status, "")
    if _wants_json():
        body: dict = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        if field:
            body["errors"] = [{"field": field, "reason": detail}]
        if errors:
            body["errors"] = errors
        response = jsonify(body)
        response.status_code = status
        response.mimetype = "application/problem+json"
        if status == 401:
            response.headers["WWW-Authenticate"] = "CaseKey"
        return response
    template = "errors/error.html"
    return render_template(template, status=status, title=title, message=detail), status


def _retry_after_seconds() -> int:
    """Seconds until the breached rate limit lets this client try again (60 if unknown)."""
    from app.extensions import limiter

    try:
        limit = limiter.current_limit
        if limit is not None:
            return max(1, int(limit.reset_at - time.time()))
    except Exception:  # noqa: BLE001 - a missing hint must not turn a 429 into a 500
        log.warning("could not compute Retry-After")
    return 60


def register_error_handlers(app: Flask) -> None:
    @app.before_request
    def _refuse_nul_characters():
        """No text we store or look up may hold NUL (PostgreSQL refuses it): say so up front."""
        if "\x00" in request.path or any(
            "\x00" in key or "\x00" in value
            for source in ((request.args, request.form) if request.mimetype in _FORM_TYPES
                           else (request.args,))
            for key, value in source.items(multi=True)
        ):
            return render_error(400, "The request contains a character we cannot accept (NUL).")
        return None

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        return render_error(exc.status_code, exc.message, exc.field)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = None
        errors = None
        if status == 400 and "CSRF" in (exc.description or ""):
            message = "This form expired or was sent from somewhere else. Reload the page and try again."
        data = getattr(exc, "data", None)
        if isinstance(data, dict) and data.get("messages"):
            errors = _field_errors(data["messages"])
            message = "Some fields are missing or not valid: " + ", ".join(
                sorted({e["field"] or "body" for e in errors})) + "."
            if status == 400 and "json" in data["messages"]:
                message = "The body is not valid JSON (RFC 8259, UTF-8)."
        allowed = sorted(getattr(exc, "valid_methods", None) or []) if status == 405 else []
        if allowed and _wants_json():
            message = "This address accepts only: " + ", ".join(allowed) + "."
        response = app.make_response(render_error(status, message, errors=errors))
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        if status == 429:
            response.headers["Retry-After"] = str(_retry_after_seconds())
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return render_error(500)
