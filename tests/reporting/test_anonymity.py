"""Anonymity (issue 3, item 9): no address, user agent or tracking cookie, in logs or rows."""

from __future__ import annotations

import io
import logging

import pytest

from tests.reporting.conftest import (
    case_key_of,
    open_with_key,
    post_on_case_page,
    post_report,
    raw_hits,
    report_for_key,
    report_form,
    text,
    upload,
)
from tests.reporting.test_evidence import jpeg_with_gps

ADDRESS = "203.0.113.77"
USER_AGENT = "UA-MARKER-123"
DETAILS = "DETAILS-MARKER-9 they wait for me after the bus"
NAME = "Jordan NAME-MARKER-Q"
MESSAGE = "MESSAGE-MARKER-3 it happened again"
#: Made before any log is captured: only the server's handling of it is under test.
PICTURE = jpeg_with_gps()


@pytest.fixture
def captured_logs(caplog, capfd):
    """Everything logged: records (with their extras) and what the app's own handler writes."""
    caplog.set_level(logging.DEBUG)
    for name in ("werkzeug", "flask_limiter", "sqlalchemy", "safe_report", "app"):
        caplog.set_level(logging.DEBUG, logger=name)
    # configure_logging gave the root logger a stderr handler bound to whatever stderr was
    # then; point it (and any other stream handler) at a buffer for the test.
    buffers = []
    swapped = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler) and handler is not caplog.handler:
            buf = io.StringIO()
            swapped.append((handler, handler.setStream(buf)))
            buffers.append(buf)

    def read() -> str:
        records = "\n".join(f"{r.getMessage()} {vars(r)!r}" for r in caplog.records)
        out, err = capfd.readouterr()
        return "\n".join([records, out, err, *(b.getvalue() for b in buffers)])

    yield read
    for handler, stream in swapped:
        handler.setStream(stream)


def test_a_whole_visit_leaves_no_trace_of_the_reporter_in_logs_or_rows(
        app, client, school, session, captured_logs):
    client.environ_base.update({"REMOTE_ADDR": ADDRESS, "HTTP_USER_AGENT": USER_AGENT,
                                "HTTP_X_FORWARDED_FOR": ADDRESS})
    response = post_report(client, school.slug, details=DETAILS, identity="confidential",
                           reporter_name=NAME, year_group="10", is_danger="yes")
    assert response.status_code == 200
    key = case_key_of(response)
    # a wrong key first (logged by the limiter's machinery, if at all), then the right one
    assert open_with_key(client, school.slug, "wrong wrong wrong words").status_code == 422
    assert open_with_key(client, school.slug, key).status_code == 303
    assert client.get(f"/s/{school.slug}/check").status_code == 200
    assert post_on_case_page(client, school.slug, "message",
                             {"message": MESSAGE}).status_code == 303
    assert post_on_case_page(client, school.slug, "message",
                             {"message": f"oops {key}"}).status_code == 422
    assert upload(client, school.slug, PICTURE, "IMG_NAME-MARKER.jpg").status_code == 303
    assert client.get("/s/nope/check").status_code == 404

    logs = captured_logs()
    assert "request" in logs and "/s/<slug>/report" in logs  # the access log was captured
    for secret in (ADDRESS, USER_AGENT, DETAILS, "DETAILS-MARKER", NAME, "NAME-MARKER",
                   MESSAGE, "MESSAGE-MARKER", key, key.split()[0] + " " + key.split()[1],
                   "EXIF-MARKER", school.slug + "/check?"):
        assert secret not in logs, f"{secret!r} is in the logs"

    report = report_for_key(session, key)
    assert report.details == DETAILS  # the visit did store the report ...
    assert raw_hits(session.connection(), ADDRESS, USER_AGENT, "UA-MARKER", "203.0.113") == []


STUDENT_PAGES = ["/s/{slug}/", "/s/{slug}/report", "/s/{slug}/check"]


def test_student_pages_set_only_the_student_cookie_and_it_is_strict_and_session_only(
        client, school):
    responses = [client.get(p.format(slug=school.slug)) for p in STUDENT_PAGES]
    key = case_key_of(post_report(client, school.slug))
    responses.append(open_with_key(client, school.slug, key))
    # now with a session holding an open report, every page again
    responses += [client.get(p.format(slug=school.slug)) for p in STUDENT_PAGES]
    responses.append(post_on_case_page(client, school.slug, "message", {"message": "hello"}))
    responses.append(post_on_case_page(client, school.slug, "end", {}))

    seen = 0
    for response in responses:
        assert response.status_code < 500
        for header in response.headers.getlist("Set-Cookie"):
            seen += 1
            name = header.split("=", 1)[0]
            assert name == "sr_student", header
            attributes = [a.strip().lower() for a in header.split(";")[1:]]
            assert "httponly" in attributes, header
            assert "samesite=strict" in attributes, header
            assert "path=/s/" in attributes, header
            if "max-age=0" in attributes:  # "close my report" deletes the cookie
                assert header.startswith("sr_student=;"), header
                continue
            assert not [a for a in attributes if a.startswith(("expires", "max-age"))], header
            assert not [a for a in attributes if a.startswith("domain")], header
    assert seen >= 2
    assert responses[-1].headers["Set-Cookie"].startswith("sr_student=;")


def test_student_pages_load_nothing_from_other_sites(client, school):
    for path in STUDENT_PAGES:
        page = text(client.get(path.format(slug=school.slug)))
        for attribute in ("src=", "href="):
            for chunk in page.split(attribute)[1:]:
                url = chunk[1:].split(chunk[0], 1)[0]
                if url.startswith(("http://", "https://", "//")):
                    # the only way out is the quick exit link, and it sends no referrer
                    assert 'data-quick-exit rel="noreferrer"' in page
                    assert attribute == "href="
    response = client.get(f"/s/{school.slug}/report")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_student_error_pages_keep_the_quick_exit_and_never_point_to_staff_sign_in(client,
                                                                                  school):
    pages = [client.get("/s/nope/report"),  # 404
             client.post(f"/s/{school.slug}/report", data=report_form())]  # 400, no CSRF token
    for response in pages:
        assert response.status_code in (400, 404)
        page = text(response)
        assert "data-quick-exit" in page and "Leave this site quickly" in page
        assert "/staff" not in page
