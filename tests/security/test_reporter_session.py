"""The student cookie alone never opens a report: the case key must have been typed.

Regression: the signed (readable, not encrypted) ``sr_student`` cookie held only
the report's id, so anyone holding SECRET_KEY could sign a cookie for every
report id and read every conversation; a purged report's open session also
kept working until it went idle.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from app.cases.models import CaseEvent
from app.cases.retention import purge_case
from app.db import utcnow
from tests.reporting.conftest import open_with_key, post_on_case_page, report_for_key, submit, text

CASE_PAGE = "Send a message to the school"


def test_a_cookie_naming_a_report_without_the_key_opens_nothing(client, school, session,
                                                                new_client):
    report = report_for_key(session, submit(client, school.slug))
    forger = new_client()
    forger.get(f"/s/{school.slug}/check")
    with forger.session_transaction(f"/s/{school.slug}/check") as data:
        data["reporter"] = {"school": school.id, "report": report.id, "seen": time.time()}
    assert CASE_PAGE not in text(forger.get(f"/s/{school.slug}/check"))
    before = session.scalar(select(func.count()).select_from(CaseEvent))
    response = post_on_case_page(forger, school.slug, "message", {"message": "forged"})
    assert response.status_code == 303
    assert session.scalar(select(func.count()).select_from(CaseEvent)) == before
    with forger.session_transaction(f"/s/{school.slug}/check") as data:
        assert "reporter" not in data  # the forged entry was thrown away


def test_the_key_opens_the_report_and_a_purge_ends_the_open_session(client, school, session):
    key = submit(client, school.slug)
    assert open_with_key(client, school.slug, key).status_code == 303
    assert CASE_PAGE in text(client.get(f"/s/{school.slug}/check"))

    purge_case(session, report_for_key(session, key).case, now=utcnow())
    session.commit()
    assert CASE_PAGE not in text(client.get(f"/s/{school.slug}/check"))
