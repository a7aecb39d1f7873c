"""Evidence: type from content, metadata stripped, stored encrypted, opened only by staff on the case."""

from __future__ import annotations

import hashlib
import io
import resource
import time

import pikepdf
import pytest
from PIL import ExifTags, Image, PngImagePlugin
from sqlalchemy import select

from app.cases.models import CaseEvent, EventKind
from app.reporting.evidence import evidence_store
from app.reporting.evidence_models import Evidence
from tests.factories import AdminFactory, LeadFactory, SchoolFactory, StaffFactory
from tests.helpers import csrf_token, sign_in
from tests.pdfs import identifying_pdf, locked_pdf, object_stream_pdf, plain_text_of
from tests.reporting.conftest import (
    audit_actions,
    open_with_key,
    post_on_case_page,
    report_for_key,
    row_counts,
    submit,
    text,
    upload,
)

MARKER = "EXIF-MARKER-4711"


def png(marker: str = MARKER) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", marker)
    info.add_text("Author", marker)
    buf = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 30, 30)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_with_gps(marker: str = MARKER) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = marker
    exif[ExifTags.Base.Model] = "Phone " + marker
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.9)
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 220)).save(buf, "JPEG", exif=exif, quality=90)
    data = buf.getvalue()
    # the test picture really carries the location and the marker
    with Image.open(io.BytesIO(data)) as img:
        assert img.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert marker.encode() in data
    return data


def webp(marker: str = MARKER) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = marker
    buf = io.BytesIO()
    Image.new("RGBA", (40, 40), (10, 200, 10, 128)).save(buf, "WEBP", exif=exif)
    data = buf.getvalue()
    assert marker.encode() in data
    return data


def pdf(marker: str = MARKER) -> bytes:
    return identifying_pdf(marker)


@pytest.fixture
def opened(client, school, session):
    """A submitted report, opened with its key in ``client``; returns the report."""
    key = submit(client, school.slug)
    assert open_with_key(client, school.slug, key).status_code == 303
    return report_for_key(session, key)


@pytest.fixture
def counsellor_client(new_client, school):
    staff = new_client()
    sign_in(staff, StaffFactory(school=school))
    return staff


def _evidence(session, report):  # noqa: ANN001, ANN202
    return session.execute(select(Evidence).where(Evidence.report_id == report.id)
                           .order_by(Evidence.id)).scalars().all()


@pytest.mark.parametrize("make, name, content_type, fmt", [
    (png, "screenshot.png", "image/png", "PNG"),
    (jpeg_with_gps, "IMG_0001.JPG", "image/jpeg", "JPEG"),
    (webp, "chat.webp", "image/webp", "WEBP"),
    (pdf, "export.pdf", "application/pdf", None),
])
def test_accepted_evidence_is_stored_encrypted_and_downloads_without_metadata(
        client, school, session, opened, counsellor_client, make, name, content_type, fmt):
    data = make()
    response = upload(client, school.slug, data, name)
    assert response.status_code == 303, text(response)[:2000]
    assert "added=1" in response.headers["Location"]
    assert "Your file was added." in text(client.get(response.headers["Location"]))
    assert "1 of 5 files added" in text(client.get(f"/s/{school.slug}/check"))

    [item] = _evidence(session, opened)
    assert item.content_type == content_type
    assert item.original_sha256 == hashlib.sha256(data).hexdigest()
    assert item.filename == name
    assert item.is_metadata_stripped is True
    raw = session.connection().exec_driver_sql(
        "SELECT data FROM evidence_blob WHERE key = %s" if session.bind.dialect.name ==
        "postgresql" else "SELECT data FROM evidence_blob WHERE key = ?",
        (item.storage_key,)).scalar_one()
    raw = bytes(raw)
    for plain in (b"\x89PNG", b"\xff\xd8\xff", b"WEBP", b"%PDF", MARKER.encode(), name.encode()):
        assert plain not in raw
    assert audit_actions(session, opened.case_id)[-1] == "evidence.added"

    download = counsellor_client.get(f"/staff/cases/{opened.case_id}/evidence/{item.id}")
    assert download.status_code == 200
    assert download.mimetype == content_type
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert name not in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    # a file opened in place by mistake runs nothing and loads nothing
    csp = download.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp
    got = download.data
    assert hashlib.sha256(got).hexdigest() == item.stored_sha256
    assert MARKER.encode() not in got
    if fmt is None:
        assert MARKER.encode() in plain_text_of(data)
        assert MARKER.encode() not in plain_text_of(got)
        return
    with Image.open(io.BytesIO(got)) as img:
        assert img.format == fmt
        assert len(img.getexif()) == 0
        assert not img.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "Comment" not in img.info and "Author" not in img.info and "exif" not in img.info


def test_a_pdf_keeps_its_page_but_nothing_that_says_who_made_it(client, school, session,
                                                                opened):
    data = identifying_pdf(MARKER)
    with pikepdf.open(io.BytesIO(data)) as before:
        # the test file really names its maker in each of these places
        assert before.docinfo.Author == MARKER and before.attachments
        assert MARKER in str(before.open_metadata().get("dc:creator"))
        assert before.pages[0].Annots[0].T == MARKER
        first_id = bytes(before.trailer.ID[0])
    assert upload(client, school.slug, data, "export.pdf").status_code == 303

    [item] = _evidence(session, opened)
    stored = evidence_store().get(session, item.storage_key)
    assert MARKER.encode() not in stored and MARKER.encode() not in plain_text_of(stored)
    assert item.size == len(stored) and item.is_metadata_stripped
    with pikepdf.open(io.BytesIO(stored)) as pdf:
        assert "/Info" not in pdf.trailer and "/Metadata" not in pdf.Root
        assert bytes(pdf.trailer.ID[0]) != first_id  # nothing links it to the file it came from
        assert not pdf.attachments and "/AF" not in pdf.Root
        [page] = pdf.pages
        assert "/PieceInfo" not in page.obj
        [note] = page.Annots
        assert "/T" not in note and str(note.Contents) == "what they sent"
        photo = page.Resources.XObject.Im0
        assert "/Metadata" not in photo
        with pikepdf.PdfImage(photo).as_pil_image() as img:
            assert img.size == (64, 48)
            assert not img.getexif() and "comment" not in img.info


def test_each_staff_download_is_audited_and_on_the_chronology(client, school, session, opened,
                                                               counsellor_client):
    assert upload(client, school.slug, png(), "a.png").status_code == 303
    [item] = _evidence(session, opened)
    url = f"/staff/cases/{opened.case_id}/evidence/{item.id}"
    for _ in range(2):
        assert counsellor_client.get(url).status_code == 200
    assert audit_actions(session, opened.case_id).count("evidence.opened") == 2
    viewed = session.execute(select(CaseEvent).where(
        CaseEvent.case_id == opened.case_id, CaseEvent.kind == EventKind.EVIDENCE_VIEWED)
    ).scalars().all()
    assert [e.data["evidence_id"] for e in viewed] == [item.id, item.id]
    assert all(e.actor_id is not None for e in viewed)


@pytest.mark.parametrize("who", ["admin", "other_school_counsellor", "other_school_lead"])
def test_staff_not_on_the_case_cannot_download_and_nothing_is_audited(
        client, new_client, school, session, opened, who):
    assert upload(client, school.slug, png(), "a.png").status_code == 303
    [item] = _evidence(session, opened)
    user = {"admin": lambda: AdminFactory(school=school),
            "other_school_counsellor": lambda: StaffFactory(school=SchoolFactory()),
            "other_school_lead": lambda: LeadFactory(school=SchoolFactory())}[who]()
    staff = new_client()
    sign_in(staff, user)
    response = staff.get(f"/staff/cases/{opened.case_id}/evidence/{item.id}")
    assert response.status_code == (403 if who == "admin" else 404)
    assert b"\x89PNG" not in response.data
    assert "evidence.opened" not in audit_actions(session)
    assert not session.execute(select(CaseEvent).where(
        CaseEvent.kind == EventKind.EVIDENCE_VIEWED)).all()


def test_evidence_of_another_case_is_not_found_through_this_one(client, new_client, school,
                                                                session, opened,
                                                                counsellor_client):
    assert upload(client, school.slug, png(), "a.png").status_code == 303
    [item] = _evidence(session, opened)
    other = new_client()
    other_report = report_for_key(session, submit(other, school.slug))
    response = counsellor_client.get(f"/staff/cases/{other_report.case_id}/evidence/{item.id}")
    assert response.status_code == 404
    assert "evidence.opened" not in audit_actions(session)


def test_signed_out_visitors_cannot_download(client, new_client, school, session, opened):
    assert upload(client, school.slug, png(), "a.png").status_code == 303
    [item] = _evidence(session, opened)
    response = new_client().get(f"/staff/cases/{opened.case_id}/evidence/{item.id}")
    assert response.status_code in (302, 401)
    assert b"\x89PNG" not in response.data


@pytest.mark.parametrize("data, name, message", [
    (b"just some text, not a picture", "screenshot.png",
     "Add a screenshot (PNG, JPEG or WebP) or a PDF."),
    (b"GIF89a" + b"\x00" * 40, "funny.gif", "Add a screenshot (PNG, JPEG or WebP) or a PDF."),
    (b"<html><script>alert(1)</script></html>", "page.pdf",
     "Add a screenshot (PNG, JPEG or WebP) or a PDF."),
    (b"\x89PNG\r\n\x1a\n" + b"broken" * 10, "broken.png",
     "We could not read that picture. Try another screenshot."),
    (b"", "empty.png", "That file is empty."),
    (locked_pdf(), "locked.pdf",
     "That PDF is locked with a password. Save a copy without one, or send a screenshot."),
    (b"%PDF-1.7\n" + b"\x00 not really a PDF " * 20, "broken.pdf",
     "We could not read that PDF. Save it again, or send a screenshot."),
    (identifying_pdf(MARKER)[:700], "cut-short.pdf",
     "We could not read that PDF. Save it again, or send a screenshot."),
])
def test_wrong_files_are_refused_with_a_message_and_nothing_stored(client, school, session,
                                                                   opened, data, name, message):
    before = row_counts(session)
    response = upload(client, school.slug, data, name)
    assert response.status_code == 422
    assert message in text(response)
    assert row_counts(session) == before


TOO_COMPLEX = "That PDF is too large or complex for us to check. Send screenshots of it instead."


@pytest.mark.parametrize("make", [
    # an object stream of 768 MB of spaces, compressed twice: 2 KB
    lambda: object_stream_pdf([b"<<>>"], padding=768 << 20, layers=2),
    # LZW, which qpdf decodes without any memory limit: 430 KB that unpack to 590 MB
    lambda: object_stream_pdf([b"<<>>"], lzw_cycles=80),
    # 100,001 tiny objects, every one visited when the file is cleaned
    lambda: object_stream_pdf([b"<<>>"] * 100_001),
], ids=["stacked-flate", "lzw", "many-objects"])
def test_a_pdf_built_to_exhaust_the_server_is_refused_quickly_and_nothing_stored(
        client, school, session, opened, make):
    data = make()
    before = row_counts(session)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    response = upload(client, school.slug, data, "export.pdf")
    assert response.status_code == 422
    assert TOO_COMPLEX in text(response)
    assert row_counts(session) == before
    assert time.monotonic() - started < 5
    # the web process never holds the unpacked file: a child process opens it
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kb < 64 * 1024


def test_a_jpeg_named_png_is_stored_as_what_it_is(client, school, session, opened):
    assert upload(client, school.slug, jpeg_with_gps(), "looks.png").status_code == 303
    [item] = _evidence(session, opened)
    assert item.content_type == "image/jpeg"


def test_a_file_over_the_limit_gets_a_413_with_a_message(client, school, session, opened, app,
                                                         monkeypatch):
    monkeypatch.setitem(app.config, "EVIDENCE_MAX_BYTES", 2_000)
    data = png() + b"\x00" * 3_000
    before = row_counts(session)
    response = upload(client, school.slug, data, "big.png")
    assert response.status_code == 413
    page = text(response)
    assert "That file is too large: the limit is 2 KB." in page
    assert "up to 2 KB each" in page
    assert row_counts(session) == before


def test_a_body_over_the_server_limit_gets_a_413_page(client, school, session, opened, app,
                                                      monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 10_000)
    before = row_counts(session)
    response = upload(client, school.slug, b"\x89PNG\r\n\x1a\n" + b"\x00" * 20_000, "huge.png")
    assert response.status_code == 413
    assert "too large" in text(response)
    assert row_counts(session) == before


def test_no_more_than_the_file_limit(client, school, session, opened, app, monkeypatch):
    monkeypatch.setitem(app.config, "EVIDENCE_MAX_FILES", 2)
    for i in range(2):
        assert upload(client, school.slug, png(f"m{i}"), f"{i}.png").status_code == 303
    page = text(client.get(f"/s/{school.slug}/check"))
    assert "2 of 2 files added" in page
    assert "/check/evidence" not in page  # the form is gone ...
    before = row_counts(session)
    response = upload(client, school.slug, png("m3"), "3.png")  # ... and a forged post refused
    assert response.status_code == 422
    assert "A report can have at most 2 files." in text(response)
    assert row_counts(session) == before


def test_uploading_without_an_open_report_stores_nothing(client, school, session):
    before = row_counts(session)
    response = upload(client, school.slug, png(), "a.png")
    assert response.status_code == 303
    assert row_counts(session) == before


# -- identity -------------------------------------------------------------------------------
def test_revealing_a_confidential_identity_is_audited(client, school, session, counsellor_client):
    key = submit(client, school.slug, identity="confidential", reporter_name="Sam Reveal-Marker",
                 year_group="8", contact="Form 8B")
    report = report_for_key(session, key)
    url = f"/staff/cases/{report.case_id}"
    page = text(counsellor_client.get(url))
    assert "Sam Reveal-Marker" not in page
    assert f"/staff/cases/{report.case_id}/identity" in page
    assert "case.identity_revealed" not in audit_actions(session, report.case_id)

    token = csrf_token(counsellor_client, url)
    response = counsellor_client.post(f"{url}/identity",
                                      data={"csrf_token": token, "report_id": report.id})
    assert response.status_code == 200
    page = text(response)
    assert "Sam Reveal-Marker" in page and "Form 8B" in page
    assert audit_actions(session, report.case_id).count("case.identity_revealed") == 1


def test_an_anonymous_report_has_no_identity_to_reveal(client, school, session,
                                                      counsellor_client):
    report = report_for_key(session, submit(client, school.slug))
    url = f"/staff/cases/{report.case_id}"
    page = text(counsellor_client.get(url))
    assert f"/staff/cases/{report.case_id}/identity" not in page
    token = csrf_token(counsellor_client, url)
    response = counsellor_client.post(f"{url}/identity",
                                      data={"csrf_token": token, "report_id": report.id})
    assert response.status_code == 422
    assert "This report is anonymous" in text(response)
    assert "case.identity_revealed" not in audit_actions(session)


def test_an_admin_cannot_reveal_an_identity(client, new_client, school, session):
    report = report_for_key(session, submit(client, school.slug, identity="confidential",
                                            reporter_name="Hidden Name"))
    admin = new_client()
    sign_in(admin, AdminFactory(school=school))
    token = csrf_token(admin, "/staff/admin/staff")
    response = admin.post(f"/staff/cases/{report.case_id}/identity",
                          data={"csrf_token": token, "report_id": report.id})
    assert response.status_code == 403
    assert "Hidden Name" not in text(response)
    assert "case.identity_revealed" not in audit_actions(session)


def test_sending_the_form_without_a_file_asks_for_one(client, school, session, opened):
    before = row_counts(session)
    response = post_on_case_page(client, school.slug, "evidence", {},
                                 content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose a file to add." in text(response)
    assert row_counts(session) == before


# -- flask clean-evidence: PDFs stored as uploaded, before uploaded PDFs were cleaned --------
def _stored_as_uploaded(session, report, data: bytes, content_type: str = "application/pdf",
                        *, is_stripped: bool = False) -> Evidence:  # noqa: ANN001
    """An evidence row as an upload wrote it before PDFs were cleaned: the bytes as sent."""
    digest = hashlib.sha256(data).hexdigest()
    evidence = Evidence(school_id=report.school_id, case_id=report.case_id, report_id=report.id,
                        content_type=content_type, size=len(data), original_sha256=digest,
                        stored_sha256=digest, is_metadata_stripped=is_stripped,
                        filename=f"{MARKER}.pdf",
                        storage_key=evidence_store().put(session, data))
    session.add(evidence)
    session.flush()
    return evidence


def _system_audits(session, evidence_id: int) -> list[str]:  # noqa: ANN001
    from app.audit.models import AuditEntry

    return list(session.scalars(select(AuditEntry.action).where(
        AuditEntry.target == f"evidence:{evidence_id}", AuditEntry.actor_kind == "system")))


def test_clean_evidence_strips_pdfs_stored_as_uploaded_and_leaves_what_it_cannot(app, session):
    from flask.cli import FlaskGroup

    from app.audit.services import verify_chain
    from app.reporting.evidence_models import EvidenceBlob
    from tests.factories import make_case

    reports = [make_case(session, SchoolFactory()).reports[0] for _ in range(2)]
    original = identifying_pdf(MARKER)
    old = [_stored_as_uploaded(session, report, original) for report in reports]  # two schools
    locked = _stored_as_uploaded(session, reports[0], locked_pdf())
    picture = _stored_as_uploaded(session, reports[0], png(), "image/png")
    done = _stored_as_uploaded(session, reports[1], original, is_stripped=True)
    session.commit()
    old_keys = [e.storage_key for e in old]
    untouched = {e.id: (e.storage_key, e.stored_sha256, e.is_metadata_stripped)
                 for e in (locked, picture, done)}

    def run():  # noqa: ANN202
        # A batch of one: every PDF is its own transaction, and the refused one is passed over.
        return app.test_cli_runner().invoke(FlaskGroup(), ["clean-evidence", "--batch", "1"])

    result = run()

    assert result.exit_code == 0, result.output
    assert "PDFs cleaned: 2." in result.output
    assert "could not be cleaned (left as they are): 1." in result.output
    assert f"evidence ids: {locked.id}" in result.output
    assert MARKER not in result.output
    session.expire_all()
    for evidence, old_key in zip(old, old_keys, strict=True):
        evidence = session.get(Evidence, evidence.id)
        stored = evidence_store().get(session, evidence.storage_key)
        assert evidence.is_metadata_stripped and evidence.storage_key != old_key
        assert session.get(EvidenceBlob, old_key) is None  # the file as uploaded is gone
        assert MARKER.encode() not in plain_text_of(stored)
        assert evidence.size == len(stored)
        assert evidence.stored_sha256 == hashlib.sha256(stored).hexdigest()
        # still the hash of the file as it was uploaded, as shown on the case page
        assert evidence.original_sha256 == hashlib.sha256(original).hexdigest()
        assert _system_audits(session, evidence.id) == ["evidence.metadata_stripped"]
        raw = session.connection().exec_driver_sql(
            "SELECT data FROM evidence_blob WHERE key = %s", (evidence.storage_key,)).scalar_one()
        assert b"%PDF" not in bytes(raw)  # stored encrypted, as an upload is
    for evidence_id, before in untouched.items():
        evidence = session.get(Evidence, evidence_id)
        assert (evidence.storage_key, evidence.stored_sha256,
                evidence.is_metadata_stripped) == before
        assert _system_audits(session, evidence_id) == []
    assert all(verify_chain(session, r.school_id).is_intact for r in reports)
    kept = evidence_store().get(session, locked.storage_key)  # never deleted
    assert hashlib.sha256(kept).hexdigest() == locked.original_sha256
    cleaned_keys = [session.get(Evidence, e.id).storage_key for e in old]

    again = run()

    assert again.exit_code == 0, again.output
    assert "PDFs cleaned: 0." in again.output and f"evidence ids: {locked.id}" in again.output
    session.expire_all()
    assert [session.get(Evidence, e.id).storage_key for e in old] == cleaned_keys
    assert all(_system_audits(session, e.id) == ["evidence.metadata_stripped"] for e in old)
    assert session.get(Evidence, locked.id).storage_key == untouched[locked.id][0]
