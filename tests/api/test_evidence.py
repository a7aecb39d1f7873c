"""POST /api/v1/report/evidence: type from content, metadata stripped, limits enforced."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image
from sqlalchemy import select, text

from app.audit.models import AuditEntry
from app.cases.models import CaseEvent, EventKind
from app.reporting.evidence import evidence_store
from app.reporting.evidence_models import Evidence
from tests.api.conftest import (assert_problem, error_fields, key_header, png_bytes, report_for,
                                row_counts, submit)
from tests.pdfs import identifying_pdf, locked_pdf, plain_text_of


@pytest.fixture
def submitted(client, session, school):
    answer = submit(client, school)
    return answer, report_for(session, answer["reference"])


def upload(client, case_key: str, data: bytes | None, filename: str = "shot.png"):  # noqa: ANN001
    form = {} if data is None else {"file": (io.BytesIO(data), filename)}
    return client.post("/api/v1/report/evidence", headers=key_header(case_key), data=form,
                       content_type="multipart/form-data")


def jpeg_with_exif(marker: str) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = marker  # ImageDescription
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPSInfo: latitude
    out = io.BytesIO()
    Image.new("RGB", (10, 10), (0, 90, 200)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_png_is_stored_encrypted_without_metadata(client, session, submitted):
    answer, report = submitted
    original = png_bytes(with_text_chunk="MARKER-in-a-png-text-chunk")

    response = upload(client, answer["case_key"], original, filename="Screenshot 2024-05-01.png")

    assert response.status_code == 201
    body = response.get_json()
    assert body["sha256"] == hashlib.sha256(original).hexdigest()
    assert body["metadata_stripped"] is True and body["content_type"] == "image/png"
    evidence = session.get(Evidence, body["id"])
    assert evidence.report_id == report.id and evidence.case_id == report.case_id
    assert evidence.original_sha256 == body["sha256"]
    assert evidence.filename == "Screenshot 2024-05-01.png"
    stored = evidence_store().get(session, evidence.storage_key)
    assert hashlib.sha256(stored).hexdigest() == evidence.stored_sha256 != body["sha256"]
    assert b"MARKER" not in stored and Image.open(io.BytesIO(stored)).size == (8, 6)
    raw = session.execute(text("SELECT data FROM evidence_blob WHERE key = :key"),
                          {"key": evidence.storage_key}).scalar_one()
    assert b"\x89PNG" not in bytes(raw)
    assert session.execute(select(CaseEvent).where(
        CaseEvent.case_id == report.case_id, CaseEvent.kind == EventKind.EVIDENCE_ADDED)
    ).scalar_one().data["evidence_id"] == evidence.id
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "evidence.added")).scalar_one()
    assert entry.target == f"evidence:{evidence.id}" and entry.detail["sha256"] == body["sha256"]
    status = client.get("/api/v1/report", headers=key_header(answer["case_key"])).get_json()
    assert status["evidence_count"] == 1


def test_jpeg_loses_exif_and_gps(client, session, submitted):
    answer, _ = submitted

    response = upload(client, answer["case_key"], jpeg_with_exif("MARKER-exif"), "photo.png")

    body = response.get_json()
    assert response.status_code == 201 and body["content_type"] == "image/jpeg"
    stored = evidence_store().get(session, session.get(Evidence, body["id"]).storage_key)
    assert b"MARKER-exif" not in stored
    assert not Image.open(io.BytesIO(stored)).getexif()


@pytest.mark.parametrize(("data", "filename"), [
    (b"just some text, honestly a picture", "shot.png"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20, "shot.png"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "a.svg"),
    (b"", "empty.png"),
])
def test_file_that_is_not_an_allowed_type_is_422(client, session, submitted, data, filename):
    answer, _ = submitted
    before = row_counts(session)

    response = upload(client, answer["case_key"], data, filename)

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"file"}
    assert row_counts(session) == before


def test_missing_file_is_422(client, session, submitted):
    answer, _ = submitted
    before = row_counts(session)

    no_part = upload(client, answer["case_key"], None)
    wrong_part = client.post("/api/v1/report/evidence", headers=key_header(answer["case_key"]),
                             data={"picture": (io.BytesIO(png_bytes()), "a.png")})
    as_json = client.post("/api/v1/report/evidence", headers=key_header(answer["case_key"]),
                          json={"file": "aGVsbG8="})

    assert error_fields(assert_problem(no_part, 422)) == {"file"}
    assert "file" in error_fields(assert_problem(wrong_part, 422))
    assert error_fields(assert_problem(as_json, 422)) == {"file"}
    assert row_counts(session) == before


def test_file_over_the_limit_is_413(app, client, session, submitted, monkeypatch):
    answer, _ = submitted
    monkeypatch.setitem(app.config, "EVIDENCE_MAX_BYTES", 2_000)
    before = row_counts(session)

    response = upload(client, answer["case_key"], png_bytes(size=(200, 200)) + b"\x00" * 2_000)

    problem = assert_problem(response, 413)
    assert "too large" in problem["detail"]
    assert error_fields(problem) == {"file"}
    assert row_counts(session) == before


def test_request_over_the_body_limit_is_413(app, client, session, submitted, monkeypatch):
    answer, _ = submitted
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4_000)
    before = row_counts(session)

    response = upload(client, answer["case_key"], b"\x89PNG\r\n\x1a\n" + b"\x00" * 8_000)

    problem = assert_problem(response, 413)
    assert "smaller" in problem["detail"]
    assert row_counts(session) == before


def test_more_than_the_max_files_is_422(app, client, session, submitted, monkeypatch):
    answer, report = submitted
    monkeypatch.setitem(app.config, "EVIDENCE_MAX_FILES", 2)
    for _ in range(2):
        assert upload(client, answer["case_key"], png_bytes()).status_code == 201
    before = row_counts(session)

    response = upload(client, answer["case_key"], png_bytes())

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"file"} and "at most 2" in problem["detail"]
    assert row_counts(session) == before
    assert len(session.execute(select(Evidence).where(Evidence.report_id == report.id))
               .scalars().all()) == 2


def test_a_pdf_is_stored_without_what_names_its_maker(client, session, submitted):
    answer, _ = submitted
    pdf = identifying_pdf("PDF-AUTHOR-MARKER")

    response = upload(client, answer["case_key"], pdf, "notes.pdf")

    body = response.get_json()
    assert response.status_code == 201
    assert (body["content_type"], body["metadata_stripped"]) == ("application/pdf", True)
    assert body["sha256"] == hashlib.sha256(pdf).hexdigest()
    stored = evidence_store().get(session, session.get(Evidence, body["id"]).storage_key)
    assert b"PDF-AUTHOR-MARKER" in plain_text_of(pdf)
    assert b"PDF-AUTHOR-MARKER" not in plain_text_of(stored)


@pytest.mark.parametrize("data, detail", [
    (locked_pdf(), "That PDF is locked with a password."),
    (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "We could not read that PDF."),
])
def test_a_pdf_that_cannot_be_read_is_422_and_nothing_is_stored(client, session, submitted,
                                                                  data, detail):
    answer, _ = submitted
    before = row_counts(session)

    response = upload(client, answer["case_key"], data, "notes.pdf")

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"file"} and detail in problem["detail"]
    assert row_counts(session) == before
