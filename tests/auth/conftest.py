"""Fixtures and small readers for the staff sign-in tests."""

from __future__ import annotations

import html
import itertools
import re

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry

_addresses = itertools.count(1)


@pytest.fixture
def client(app, session):
    """A test client with an address of its own.

    Sign-in is rate limited per client address; these tests sign in a lot, so
    each client gets its own bucket instead of sharing 127.0.0.1's with the
    rest of the suite.
    """
    client = app.test_client()
    n = next(_addresses)
    client.environ_base["REMOTE_ADDR"] = f"10.77.{n // 250}.{n % 250 + 1}"
    return client


@pytest.fixture
def other_client(app, session):
    """A second browser, e.g. the member of staff whose account an admin changes."""
    client = app.test_client()
    n = next(_addresses)
    client.environ_base["REMOTE_ADDR"] = f"10.78.{n // 250}.{n % 250 + 1}"
    return client


def page_text(response) -> str:  # noqa: ANN001
    """The response body with HTML entities decoded (``school&#39;s`` -> ``school's``)."""
    return html.unescape(response.get_data(as_text=True))


_SUMMARY = re.compile(r'<div class="error-summary".*?<ul>(.*?)</ul>', re.S)


def error_summary(response) -> str:  # noqa: ANN001
    """The text of the page's error summary, tags stripped, or ``""``."""
    match = _SUMMARY.search(response.get_data(as_text=True))
    if not match:
        return ""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def audit_entries(session, action: str | None = None, **where) -> list[AuditEntry]:  # noqa: ANN001
    """Audit entries written in this test, oldest first, filtered by column values."""
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    for column, value in where.items():
        attr = getattr(AuditEntry, column)
        stmt = stmt.where(attr.is_(None) if value is None else attr == value)
    return list(session.execute(stmt).scalars())


_ANY_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def page_csrf_token(client, url: str) -> str:  # noqa: ANN001
    """The CSRF token of any form on ``url`` (the sign-out button has one on every page)."""
    response = client.get(url)
    match = _ANY_CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {url} (status {response.status_code})"
    return match.group(1)


def is_signed_in(client) -> bool:  # noqa: ANN001
    """Whether the client's staff session is a signed-in one (asked of the server)."""
    response = client.get("/staff/")
    return response.status_code == 302 and "/staff/login" not in response.headers["Location"]


def fresh(session, obj):  # noqa: ANN001, ANN201
    """Reload ``obj`` from the database: requests wrote it through other sessions."""
    session.expire_all()
    return session.get(type(obj), obj.id)
