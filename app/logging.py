"""Structured logs with a request id, and nothing that identifies a reporter.

Logged per request: method, URL rule (the pattern, never the filled-in path,
which may carry a secret token), endpoint, status, duration, request id.
Never logged: client address, user agent, query strings, form data.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
import uuid

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class HideExceptionMessages(logging.Filter):
    """Keep an exception's type and frames in the log, never its message.

    Messages carry data: ``invalid literal for int(): '<what a student typed>'``,
    a driver's error quoting a value. Tracebacks of code frames do not. Celery's
    "Task ... raised unexpected: ValueError('...')" line is scrubbed the same way.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            frames = "".join(traceback.format_tb(tb))
            record.traceback = f"{frames}{exc_type.__name__}: (message hidden)"
            record.exc_info = None
            record.exc_text = None
        if isinstance(record.args, dict) and "exc" in record.args:
            record.args = {**record.args, "exc": "(hidden)"}
        return True


_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message key=value ...`` for development."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def configure_logging(level: str, fmt: str) -> None:
    """Set up the root logger once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(HideExceptionMessages())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_safe_report", False)]:
        root.removeHandler(old)
    handler._safe_report = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())  # gunicorn reads the same LOG_LEVEL, in any case
    # Werkzeug's own access log prints the client address: keep it quiet.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


access_log = logging.getLogger("safe_report.access")


def init_request_logging(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _log(response):
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
        rule = request.url_rule.rule if request.url_rule else "<unmatched>"
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "rule": rule,
                "endpoint": request.endpoint,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        return response
