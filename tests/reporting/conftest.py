"""Fixtures and helpers for the student side: submit through the form, come back with the key."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from app.security import keyring
from tests.factories import SchoolFactory
from tests.helpers import StatementCounter, csrf_token, unique_address

_CASE_KEY = re.compile(r"data-case-key>([^<]+)<")
@pytest.fixture
def new_client(app, session):
    """Make more clients (another browser, a staff member), each with its own address."""

    def make():
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = unique_address()
        return c

    return make


@pytest.fixture
def school(session):
    return SchoolFactory(emergency_number="112", helplines=[
        {"name": "Childline", "phone": "0800 1111", "hours": "any time"},
        {"name": "Kooth", "text": "Chat online with a counsellor"},
    ])


# -- the report form --------------------------------------------------------------------
def report_form(**overrides) -> dict:
    """Form fields of a plain, medium-risk, anonymous report; ``None`` leaves a field out."""
    data = {
        "is_danger": "no",
        "is_self_harm": "no",
        "details": "They keep leaving mean comments under my posts.",
        "kinds": ["harassment"],
        "platforms": ["instagram"],
        "occurred_period": "this_week",
        "is_ongoing": "no",
        "reporter_role": "target",
        "identity": "anonymous",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_report(client, slug: str, **overrides):  # noqa: ANN001
    token = csrf_token(client, f"/s/{slug}/report")
    return client.post(f"/s/{slug}/report", data={"csrf_token": token, **report_form(**overrides)})


def case_key_of(response) -> str:  # noqa: ANN001
    match = _CASE_KEY.search(response.get_data(as_text=True))
    assert match, f"no case key on the page (status {response.status_code})"
    return html.unescape(match.group(1)).strip()


def submit(client, slug: str, **overrides) -> str:  # noqa: ANN001
    """Submit a report through the form and return the case key the page showed."""
    response = post_report(client, slug, **overrides)
    assert response.status_code == 200, text(response)[:3000]
    return case_key_of(response)


def open_with_key(client, slug: str, key: str):  # noqa: ANN001
    token = csrf_token(client, f"/s/{slug}/check")
    return client.post(f"/s/{slug}/check", data={"csrf_token": token, "case_key": key})


def post_on_case_page(client, slug: str, path: str, data: dict, **kwargs):  # noqa: ANN001
    """POST one of the forms of the open case page (message, evidence, email, end)."""
    token = csrf_token(client, f"/s/{slug}/check")
    return client.post(f"/s/{slug}/check/{path}", data={"csrf_token": token, **data}, **kwargs)


def upload(client, slug: str, data: bytes, filename: str):  # noqa: ANN001
    return post_on_case_page(client, slug, "evidence", {"file": (io.BytesIO(data), filename)},
                             content_type="multipart/form-data")


def text(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True)


def report_for_key(session, key: str):  # noqa: ANN001
    from app.reporting.models import Report

    digest = keyring().case_key_digest(key)
    return session.execute(select(Report).where(Report.case_key_digest == digest)).scalar_one()


# -- looking at what was stored ---------------------------------------------------------
def table_names(connection) -> list[str]:  # noqa: ANN001
    return sorted(sa.inspect(connection).get_table_names())


def row_counts(session) -> dict[str, int]:  # noqa: ANN001
    """Rows in every table, to prove a refused request stored nothing."""
    connection = session.connection()
    return {name: connection.execute(select(func.count()).select_from(sa.table(name))).scalar_one()
            for name in table_names(connection)}


def _as_bytes(value) -> bytes:  # noqa: ANN001
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str).encode()
    return str(value).encode()


def raw_rows(connection) -> Iterator[tuple[str, str, bytes]]:  # noqa: ANN001
    """Every stored value of every table, as the database gives it back (no decryption)."""
    for name in table_names(connection):
        for row in connection.exec_driver_sql(f'SELECT * FROM "{name}"').mappings():
            for column, value in row.items():
                yield name, column, _as_bytes(value)


def raw_hits(connection, *needles: str) -> list[tuple[str, str, str]]:  # noqa: ANN001
    """Where any of ``needles`` occurs (any case) in the raw rows; empty when nowhere."""
    wanted = [n.lower().encode() for n in needles]
    hits = []
    for table, column, value in raw_rows(connection):
        low = value.lower()
        hits.extend((table, column, n.decode()) for n in wanted if n in low)
    return hits


def audit_actions(session, case_id: int | None = None) -> list[str]:  # noqa: ANN001
    from app.audit.models import AuditEntry

    stmt = select(AuditEntry.action).order_by(AuditEntry.id)
    if case_id is not None:
        stmt = stmt.where(AuditEntry.case_id == case_id)
    return list(session.execute(stmt).scalars())


@contextmanager
def counted_statements(engine) -> Iterator[list[str]]:  # noqa: ANN001
    """The SQL statements sent through ``engine`` inside the block, without transaction control."""
    with StatementCounter(engine, work_only=True) as counter:
        yield counter.statements


@contextmanager
def counted_flushes() -> Iterator[list[int]]:
    """Count the ORM flushes that wrote something inside the block (one entry each)."""
    from sqlalchemy.orm import Session

    flushes: list[int] = []

    def collect(session, flush_context):  # noqa: ANN001, ARG001
        flushes.append(len(session.new))

    sa.event.listen(Session, "after_flush", collect)
    try:
        yield flushes
    finally:
        sa.event.remove(Session, "after_flush", collect)
