"""PDFs for the evidence tests, made with pikepdf: one that names its maker everywhere a PDF can."""

from __future__ import annotations

import io
import itertools
import zlib

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


def progressive_photo_with_trailer(marker: str) -> bytes:
    """A progressive JPEG naming ``marker`` where a picture's decoder never looks.

    A comment sits between its scans, and after its end comes a second JPEG with EXIF
    and GPS, as phones append a preview image.
    """
    out = io.BytesIO()
    Image.radial_gradient("L").resize((64, 48)).convert("RGB").save(out, "JPEG", progressive=True)
    data = out.getvalue()
    second_scan = data.find(b"\xff\xda", data.find(b"\xff\xda") + 2)
    comment = b"\xff\xfe" + (len(marker) + 2).to_bytes(2, "big") + marker.encode()
    return data[:second_scan] + comment + data[second_scan:] + _jpeg_with_gps(marker)


def photo_pdf(jpeg: bytes, *, thumbnail: bytes | None = None) -> bytes:
    """A one-page PDF showing ``jpeg``; the page has a last-modified date and a ``thumbnail``."""
    pdf = Pdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    page = pdf.pages[0]
    photo = pikepdf.Stream(pdf, jpeg, Type=Name.XObject, Subtype=Name.Image, Width=64, Height=48,
                           ColorSpace=Name.DeviceRGB, BitsPerComponent=8, Filter=Name.DCTDecode)
    page.obj.Resources = Dictionary(XObject=Dictionary(Im0=photo))
    page.obj.Contents = pikepdf.Stream(pdf, b"q 64 0 0 48 10 10 cm /Im0 Do Q")
    page.obj.LastModified = String("D:20261126144724+00'00'")
    if thumbnail is not None:
        page.obj.Thumb = pikepdf.Stream(pdf, thumbnail, Width=64, Height=48, BitsPerComponent=8,
                                        ColorSpace=Name.DeviceRGB, Filter=Name.DCTDecode)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def active_pdf(marker: str) -> bytes:
    """A two-page PDF whose actions would reach ``marker``'s site or run code when opened.

    The first page has five annotations: links to a web address, a program and a form
    submission, a link to page 2 (whose chained next action runs JavaScript) and a form
    field with an action of its own; the form has an XFA script. The outline has a web
    link and a link to page 2.
    """
    pdf = Pdf.new()
    for _ in range(2):
        pdf.add_blank_page(page_size=(200, 200))
    first, second = pdf.pages
    site = f"https://{marker}.example/"

    def script() -> Dictionary:
        return Dictionary(Type=Name.Action, S=Name.JavaScript,
                          JS=String(f"app.launchURL('{site}')"))

    def web() -> Dictionary:
        return Dictionary(S=Name.URI, URI=String(site))

    pdf.Root.OpenAction = script()
    pdf.Root.AA = Dictionary(WC=script())
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(
        Names=Array([String("hello"), pdf.make_indirect(script())])))
    first.obj.AA = Dictionary(O=web())
    actions = [web(), Dictionary(S=Name.Launch, F=String(f"{marker}.exe")),
               Dictionary(S=Name.SubmitForm, F=Dictionary(FS=Name.URL, F=String(site))),
               Dictionary(S=Name.GoTo, D=Array([second.obj, Name.Fit]), Next=script())]
    annots = [Dictionary(Type=Name.Annot, Subtype=Name.Link, A=action, Rect=[10, y, 30, y + 15])
              for y, action in zip(range(10, 100, 20), actions)]
    field = pdf.make_indirect(Dictionary(Type=Name.Annot, Subtype=Name.Widget, FT=Name.Tx,
                                         T=String("name"), Rect=[100, 10, 190, 30],
                                         P=first.obj, AA=Dictionary(K=script())))
    xfa = pikepdf.Stream(pdf, f"<xdp:xdp><script>app.launchURL('{site}')</script></xdp:xdp>"
                         .encode())
    pdf.Root.AcroForm = Dictionary(Fields=Array([field]), XFA=xfa)
    first.obj.Annots = pdf.make_indirect(Array([*annots, field]))
    with pdf.open_outline() as outline:
        outline.root.append(pikepdf.OutlineItem("Their site", action=web()))
        outline.root.append(pikepdf.OutlineItem("Page 2", 1))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


# -- PDFs built to exhaust a server that opens them --------------------------------------
def _deflated(head: bytes, spaces: int) -> bytes:
    """zlib data of ``head`` then ``spaces`` spaces, made a megabyte at a time, never held whole."""
    mega = b" " * (1 << 20)
    packer = zlib.compressobj(9)
    start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the compressor starts afresh: each megabyte packs to the same bytes.
    block = packer.compress(mega) + packer.flush(zlib.Z_FULL_FLUSH)
    checksum = zlib.adler32(head)
    for _ in range(spaces >> 20):
        checksum = zlib.adler32(mega, checksum)
    return start + block * (spaces >> 20) + packer.flush()[:-4] + checksum.to_bytes(4, "big")


def _lzw_runs(cycles: int) -> bytes:
    """LZW codes that unpack to about 7 MB of ``A`` per cycle, from about 5 KB each."""
    out, bits, count, width = bytearray(), 0, 0, 9

    def put(code: int) -> None:
        nonlocal bits, count
        bits, count = (bits << width) | code, count + width
        while count >= 8:
            count -= 8
            out.append((bits >> count) & 0xFF)
        bits &= (1 << count) - 1

    for _ in range(cycles):
        put(256)  # clear the table
        width = 9
        put(ord("A"))
        for code in range(258, 4095):  # each code is the last one plus an A: runs of 2, 3, ...
            put(code)
            if code + 1 in (511, 1023, 2047):
                width += 1
    put(257)
    put(0)  # pad the last byte
    return bytes(out)


def object_stream_pdf(objects: list[bytes], *, padding: int = 0, layers: int = 1,
                      lzw_cycles: int = 0) -> bytes:
    """A one-page PDF whose objects 5, 6, ... are ``objects``, packed in one object stream.

    ``padding`` spaces follow them and the stream is compressed ``layers`` times: a
    small file that unpacks into a large one. With ``lzw_cycles`` the stream is instead
    LZW data of that many runs of ``A`` (qpdf has no memory limit for LZW).
    """
    offsets = list(itertools.accumulate((len(obj) + 1 for obj in objects[:-1]), initial=0))
    body = b" ".join(objects)
    head = b" ".join(b"%d %d" % (5 + i, at) for i, at in enumerate(offsets)) + b" "
    if lzw_cycles:
        data, filters = _lzw_runs(lzw_cycles), b"/LZWDecode"
    else:
        data, filters = _deflated(head + body, padding), b"/FlateDecode" * layers
        for _ in range(layers - 1):
            data = zlib.compress(data, 9)
    plain = [b"<</Type/Catalog/Pages 2 0 R/Extra 5 0 R>>",
             b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
             b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Resources<<>>>>",
             b"<</Type/ObjStm/N %d/First %d/Filter[%s]/Length %d>>stream\n"
             % (len(objects), len(head), filters, len(data)) + data + b"\nendstream"]
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    rows = [b"\x00" + bytes(4) + b"\xff\xff\xff\xff"]
    for number, obj in enumerate(plain, 1):
        rows.append(b"\x01" + len(out).to_bytes(4, "big") + bytes(4))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    rows += [b"\x02" + (4).to_bytes(4, "big") + i.to_bytes(4, "big") for i in range(len(objects))]
    xref_number, xref_at = 5 + len(objects), len(out)
    rows.append(b"\x01" + xref_at.to_bytes(4, "big") + bytes(4))
    table = zlib.compress(b"".join(rows))
    out += (b"%d 0 obj\n<</Type/XRef/Size %d/W[1 4 4]/Root 1 0 R/Filter/FlateDecode/Length %d>>"
            b"stream\n" % (xref_number, xref_number + 1, len(table)) + table
            + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at)
    return bytes(out)
