"""Fixtures and small helpers for the reporter API tests."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.cases.models import Case, CaseEvent
from app.cases.identifier_models import CaseIdentifier
from app.notifications.models import Notification
from app.reporting.evidence_models import Evidence, EvidenceBlob
from app.reporting.models import Report
from tests.factories import LeadFactory, SchoolFactory

#: Every table a reporter's request may write to; "nothing stored" compares these.
WRITTEN_BY_API = (Case, CaseEvent, CaseIdentifier, Report, Evidence, EvidenceBlob, Notification,
                  AuditEntry)


@pytest.fixture
def school(session):
    """A school with one safeguarding lead, committed on the test's connection."""
    school = SchoolFactory()
    LeadFactory(school=school)
    session.commit()
    return school


def report_body(**overrides) -> dict:
    """A valid anonymous report, as the mobile app sends it."""
    body = {
        "is_danger": False,
        "is_self_harm": False,
        "details": "Someone keeps posting mean comments under my photos.",
        "reporter_role": "target",
        "kinds": ["harassment"],
        "platforms": ["instagram"],
    }
    body.update(overrides)
    return body


def submit(client, school, **overrides) -> dict:  # noqa: ANN001
    """Submit a valid report through the API and return its JSON answer."""
    response = client.post(f"/api/v1/schools/{school.slug}/reports", json=report_body(**overrides))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def key_header(case_key: str) -> dict[str, str]:
    return {"Authorization": f"CaseKey {case_key}"}


def row_counts(session) -> dict[str, int]:  # noqa: ANN001
    """How many rows each table a reporter can write to holds right now."""
    return {model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in WRITTEN_BY_API}


def report_for(session, reference: str) -> Report:  # noqa: ANN001
    """The report behind a case reference, read fresh from the database."""
    session.expire_all()
    return session.execute(
        select(Report).join(Case, Report.case_id == Case.id).where(Case.reference == reference)
    ).scalar_one()


def assert_problem(response, status: int) -> dict:  # noqa: ANN001
    """Check an RFC 9457 problem answer and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def error_fields(problem: dict) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


def png_bytes(*, with_text_chunk: str | None = None, size: tuple[int, int] = (8, 6)) -> bytes:
    """A small real PNG, optionally carrying a text chunk (metadata to strip)."""
    from PIL import PngImagePlugin

    info = None
    if with_text_chunk:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", with_text_chunk)
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()
