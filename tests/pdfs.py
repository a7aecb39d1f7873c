"""PDFs for the evidence tests, made with pikepdf: one that names its maker everywhere a PDF can."""

from __future__ import annotations

import io

import pikepdf
from PIL import ExifTags, Image
from pikepdf import AttachedFileSpec, Array, Dictionary, Name, Pdf, StreamDecodeLevel, String


def _jpeg_with_gps(marker: str) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = marker
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.5)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 220)).save(out, "JPEG", exif=exif, comment=marker.encode())
    return out.getvalue()


def identifying_pdf(marker: str) -> bytes:
    """A one-page PDF whose author, XMP creator, note author, attachment and photo name ``marker``.

    The page shows a photo (with EXIF and GPS inside its JPEG bytes) and a note
    annotation whose text is ``"what they sent"``.
    """
    pdf = Pdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    page = pdf.pages[0]
    pdf.docinfo[Name.Author] = marker
    pdf.docinfo[Name.Creator] = f"Word for {marker}"
    with pdf.open_metadata(set_pikepdf_as_editor=False) as xmp:
        xmp["dc:creator"] = [marker]
        xmp["pdf:Producer"] = f"Office of {marker}"
    photo = pikepdf.Stream(pdf, _jpeg_with_gps(marker), Type=Name.XObject, Subtype=Name.Image,
                           Width=64, Height=48, ColorSpace=Name.DeviceRGB, BitsPerComponent=8,
                           Filter=Name.DCTDecode)
    photo.Metadata = pikepdf.Stream(pdf, f"<x:xmpmeta>{marker}</x:xmpmeta>".encode(),
                                    Type=Name.Metadata, Subtype=Name.XML)
    page.obj.Resources = Dictionary(XObject=Dictionary(Im0=photo))
    page.obj.Contents = pikepdf.Stream(pdf, b"q 64 0 0 48 10 10 cm /Im0 Do Q")
    page.obj.PieceInfo = Dictionary(Word=Dictionary(Private=String(marker)))
    note = Dictionary(Type=Name.Annot, Subtype=Name.Text, Rect=[10, 150, 30, 170],
                      T=String(marker), Contents=String("what they sent"))
    page.obj.Annots = pdf.make_indirect(Array([note]))
    pdf.attachments[f"{marker}.docx"] = AttachedFileSpec(pdf, f"homework by {marker}".encode(),
                                                         filename=f"{marker}.docx")
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def locked_pdf() -> bytes:
    """A PDF that opens only with a password."""
    pdf = Pdf.new()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    return out.getvalue()


def plain_text_of(data: bytes) -> bytes:
    """Every object and every stream of a PDF, decompressed: what a curious reader could dig out."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        out = io.BytesIO()
        pdf.save(out, qdf=True, stream_decode_level=StreamDecodeLevel.generalized)
        return out.getvalue()
