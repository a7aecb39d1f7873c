"""Logs keep what went wrong and where, never the data that was being handled."""

from __future__ import annotations

import io
import logging
import sys

from app.logging import HideExceptionMessages, RequestIdFilter, TextFormatter

MARKER = "Alex Smith typed this"


def _format(record: logging.LogRecord) -> str:
    RequestIdFilter().filter(record)
    HideExceptionMessages().filter(record)
    return TextFormatter().format(record)


def test_an_exception_is_logged_with_its_type_and_frames_but_not_its_message():
    try:
        int(MARKER)
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "unhandled error", None, exc_info=sys.exc_info())
    line = _format(record)

    assert MARKER not in line
    assert "ValueError: (message hidden)" in line
    assert "int(MARKER)" in line  # the failing frame is still there


def test_celerys_task_failure_line_loses_the_exception_repr():
    record = logging.LogRecord("celery.app.trace", logging.ERROR, __file__, 1,
                               "Task %(name)s[%(id)s] raised unexpected: %(exc)s",
                               ({"name": "t", "id": "1", "exc": f"ValueError({MARKER!r})"},), None)
    line = _format(record)

    assert MARKER not in line
    assert "raised unexpected: (hidden)" in line


def test_an_unhandled_error_gets_a_plain_500_and_a_log_without_its_message(app):
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "_safe_report", False)]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        with app.test_request_context("/staff/cases/"):
            try:
                int(MARKER)
            except ValueError as exc:
                response = app.make_response(app.handle_user_exception(exc))
    finally:
        handler.setStream(previous)
    captured = stream.getvalue()

    assert response.status_code == 500
    assert MARKER not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert "ValueError: (message hidden)" in captured
    assert MARKER not in captured
