"""Uploaded pictures and PDFs keep none of their metadata, whatever the format keeps it in.

Regression: a JPEG's comment (COM segment, where some apps write a user or
device name) and a PNG's embedded ICC profile survived the re-encoding, because
Pillow writes them back from the opened image on save.
"""

from __future__ import annotations

import io

import pikepdf
from PIL import Image, PngImagePlugin

from app.reporting.evidence import clean_upload
from tests.pdfs import active_pdf, photo_pdf, plain_text_of, progressive_photo_with_trailer


def _jpeg_with_comment() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 30, 30)).save(out, "JPEG", comment=b"OWNER-MARKER Jo's phone")
    return out.getvalue()


def _png_with_profile_and_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "AUTHOR-MARKER")
    out = io.BytesIO()
    Image.new("RGB", (16, 8), (30, 200, 30)).save(out, "PNG", pnginfo=info,
                                                   icc_profile=b"PROFILE-MARKER" * 8)
    return out.getvalue()


def test_a_jpeg_comment_is_removed(app):
    data = _jpeg_with_comment()
    assert b"OWNER-MARKER" in data
    clean = clean_upload(data, max_bytes=1_000_000)
    assert clean.is_metadata_stripped and clean.content_type == "image/jpeg"
    assert b"OWNER-MARKER" not in clean.data
    with Image.open(io.BytesIO(clean.data)) as img:
        assert "comment" not in img.info and img.size == (16, 8)


def test_a_png_profile_and_text_chunks_are_removed(app):
    data = _png_with_profile_and_text()
    assert b"AUTHOR-MARKER" in data and b"iCCP" in data
    clean = clean_upload(data, max_bytes=1_000_000)
    assert b"AUTHOR-MARKER" not in clean.data and b"iCCP" not in clean.data


def test_a_palette_png_keeps_its_transparency(app):
    img = Image.new("P", (8, 8), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    out = io.BytesIO()
    img.save(out, "PNG", transparency=1)
    clean = clean_upload(out.getvalue(), max_bytes=1_000_000)
    with Image.open(io.BytesIO(clean.data)) as again:
        assert again.info.get("transparency") == 1


# -- PDFs ----------------------------------------------------------------------------------
def test_a_photo_in_a_pdf_keeps_nothing_after_its_end_or_between_its_scans(app):
    photo = progressive_photo_with_trailer("GPS-MARKER")
    data = photo_pdf(photo)
    assert b"GPS-MARKER" in plain_text_of(data)
    clean = clean_upload(data, max_bytes=1_000_000)
    assert b"GPS-MARKER" not in clean.data and b"GPS-MARKER" not in plain_text_of(clean.data)
    with pikepdf.open(io.BytesIO(clean.data)) as pdf:
        image = pikepdf.PdfImage(pdf.pages[0].Resources.XObject.Im0)
        with image.as_pil_image() as kept, Image.open(io.BytesIO(photo)) as sent:
            assert kept.tobytes() == sent.tobytes()  # the same picture, every scan of it


def test_page_thumbnails_and_dates_are_left_out(app):
    data = photo_pdf(progressive_photo_with_trailer("GPS-MARKER"), thumbnail=_jpeg_with_comment())
    assert b"OWNER-MARKER" in plain_text_of(data)  # the thumbnail's JPEG comment
    clean = clean_upload(data, max_bytes=1_000_000)
    assert b"OWNER-MARKER" not in plain_text_of(clean.data)
    with pikepdf.open(io.BytesIO(clean.data)) as pdf:
        [page] = pdf.pages
        assert "/Thumb" not in page.obj and "/LastModified" not in page.obj
        assert "/Im0" in page.Resources.XObject


def test_actions_that_reach_out_or_run_code_are_removed_and_links_inside_kept(app):
    data = active_pdf("SITE-MARKER")
    assert plain_text_of(data).count(b"SITE-MARKER") > 5
    clean = clean_upload(data, max_bytes=1_000_000)
    assert b"SITE-MARKER" not in plain_text_of(clean.data)
    assert b"JavaScript" not in plain_text_of(clean.data)
    with pikepdf.open(io.BytesIO(clean.data)) as pdf:
        assert "/OpenAction" not in pdf.Root and "/AA" not in pdf.Root
        assert "/JavaScript" not in pdf.Root.Names
        first, second = pdf.pages
        assert "/AA" not in first.obj
        web, program, form, inside, field = first.Annots
        assert all("/A" not in link and link.Subtype == "/Link" for link in (web, program, form))
        assert inside.A.S == "/GoTo" and inside.A.D[0] == second.obj and "/Next" not in inside.A
        assert field.Subtype == "/Widget" and "/AA" not in field
        assert pdf.Root.AcroForm.Fields == [field] and "/XFA" not in pdf.Root.AcroForm
        with pdf.open_outline() as outline:
            site, page_two = outline.root
            assert site.title == "Their site" and site.action is None
            assert page_two.destination[0] == second.obj
