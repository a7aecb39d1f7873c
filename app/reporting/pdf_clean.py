"""Rewrite an uploaded PDF without what names its maker, in a process of its own.

The document information, XMP metadata, note authors, application data, page
thumbnails and dates, signatures and attached files are left out, and so are the
actions that would make a reader contact someone or run code when staff open the
file (links to web addresses, programs and other files, form submissions, JavaScript,
media): the links keep their place on the page, and links within the file still work.
JPEG photos lose their EXIF, comments, and anything after the picture's end (a
phone's preview image). Left as they are: images inside a page's content stream
(inline images, small and rarely photos) and JPEG 2000 photos, which can carry
metadata of their own.

A PDF from an anonymous upload is hostile input for qpdf: a few kilobytes can unpack
into gigabytes (an object stream compressed many times over, or LZW, which qpdf
decodes without a limit) or hold millions of objects. So the web process never opens
one: it runs this file as ``python -I pdf_clean.py`` with the PDF on stdin, and the
child, limited in memory and CPU time, writes the clean PDF to stdout or exits with
one of the codes below. This module imports nothing of the app, so it starts quickly.
"""

from __future__ import annotations

import io
import logging
import resource
import sys
import warnings

import pikepdf
from pikepdf import Name

#: Exit codes of the child, besides 0 (the clean PDF is on stdout).
LOCKED, UNREADABLE, TOO_COMPLEX = 3, 4, 5
#: The child's limits: address space, and CPU seconds (the parent also stops waiting then).
MAX_MEMORY = 512 * 1024 * 1024
MAX_SECONDS = 10
#: qpdf unpacks object and cross-reference streams to read them (page content and images
#: are copied as they are); no honest one comes near these limits. LZW has no limit in
#: qpdf: the memory limit stops it.
QPDF_LIMITS = {"flate_max_memory": 32 * 1024 * 1024, "run_length_max_memory": 32 * 1024 * 1024}
#: A long report of several hundred pages has tens of thousands of objects; each takes
#: time to visit and, with what it holds, up to a few kilobytes of memory.
MAX_OBJECTS = 100_000

#: Keys that name who made, edited or signed a PDF, carry files inside it, or act when it is
#: opened, wherever they are: XMP streams, application data, associated and embedded files,
#: a page's thumbnail (an image of its own) and modification date, additional actions
#: (on opening, closing, printing, on a page, a field or a note), XFA forms (scripts).
PDF_REMOVED_KEYS = ("/Metadata", "/PieceInfo", "/AF", "/EF", "/RF", "/Thumb", "/LastModified",
                    "/AA", "/OpenAction", "/XFA")
#: Keys of the document catalog alone: a portfolio, signature permissions, the signers'
#: certificates, the addresses a web capture came from.
PDF_CATALOG_KEYS = ("/Collection", "/Perms", "/DSS", "/SpiderInfo")
#: JPEG segments a photo keeps: JFIF (APP0) and Adobe's colour transform (APP14) draw the
#: pixels; every other APPn (EXIF, GPS, XMP, IPTC, ICC) and comments go.
_JPEG_KEPT_APP = {0xE0, 0xEE}
#: What may follow 0xFF inside a JPEG scan's data: a stuffed zero, a restart marker.
_JPEG_IN_SCAN = {bytes([b]) for b in (0x00, *range(0xD0, 0xD8))}
#: How qpdf says it gave up on a stream to stay within a limit, in a warning only.
_QPDF_LIMIT_WARNINGS = ("memory limit exceeded", "limits error(", "bad_alloc")

# qpdf reports what it finds wrong in a damaged PDF as errors, quoting from the file at
# times; such a file is refused with a message, and its contents stay out of the logs.
logging.getLogger("pikepdf").setLevel(logging.CRITICAL)


class TooComplex(Exception):
    """The PDF needs more than the limits allow."""


def main() -> int:
    """Clean the PDF on stdin onto stdout, within the limits; return the exit code."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write the PDF to disk
    resource.setrlimit(resource.RLIMIT_AS, (MAX_MEMORY, MAX_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (MAX_SECONDS, MAX_SECONDS))
    pikepdf.settings.set_qpdf_limits(**QPDF_LIMITS)
    try:
        clean = strip_pdf(sys.stdin.buffer.read())
    except pikepdf.PasswordError:
        return LOCKED
    except (TooComplex, MemoryError, RecursionError):
        return TOO_COMPLEX
    except Exception:  # noqa: BLE001 - whatever breaks on a damaged file, it is unreadable
        return UNREADABLE
    sys.stdout.buffer.write(clean)
    return 0


def strip_pdf(data: bytes) -> bytes:
    """Rewrite a PDF without what names its maker or acts when it is opened."""
    with warnings.catch_warnings():
        # pikepdf warns about odd forms on save; the file is stored all the same.
        warnings.simplefilter("ignore", pikepdf.PikepdfWarning)
        limit_errors = pikepdf.settings.qpdf_limit_errors()
        with pikepdf.open(io.BytesIO(data)) as pdf:
            objects = pdf.objects
            if len(objects) > MAX_OBJECTS:
                raise TooComplex
            _remove_pdf_identity(pdf, objects)
            out = io.BytesIO()
            # Streams are copied as they are, never decompressed. Without /ID in the
            # trailer qpdf draws a new one.
            pdf.save(out, fix_metadata_version=False,
                     stream_decode_level=pikepdf.StreamDecodeLevel.none)
            # qpdf reads a stream over a limit as if it were empty and only warns: refuse
            # the file rather than keep it with parts missing.
            if pikepdf.settings.qpdf_limit_errors() > limit_errors or any(
                    sign in warning for warning in pdf.get_warnings()
                    for sign in _QPDF_LIMIT_WARNINGS):
                raise TooComplex
            return out.getvalue()


def _remove_pdf_identity(pdf: pikepdf.Pdf, objects: list) -> None:
    for key in ("/Info", "/ID"):
        if key in pdf.trailer:
            del pdf.trailer[key]
    root = pdf.Root
    for key in PDF_CATALOG_KEYS:
        if key in root:
            del root[key]
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        for key in ("/EmbeddedFiles", "/JavaScript"):  # attached files, scripts run on opening
            if key in names:
                del names[key]
    for page in pdf.pages:
        annots = page.obj.get("/Annots")
        if isinstance(annots, pikepdf.Array):
            # An attached file is another document with its own metadata: it is left out.
            page.obj.Annots = pikepdf.Array(
                [a for a in annots if not (isinstance(a, pikepdf.Dictionary)
                                           and a.get("/Subtype") == Name.FileAttachment)])
    for obj in _pdf_dictionaries(objects):
        keys = obj.keys()  # one call, not one per key: a long PDF has many dictionaries
        for key in keys.intersection(PDF_REMOVED_KEYS):
            del obj[key]
        if "/T" in keys and "/Rect" in keys and "/Subtype" in keys \
                and obj.Subtype != Name.Widget:
            del obj["/T"]  # the author of a note or markup (a form field's /T is its name)
        if "/FS" in keys and obj.get("/Subtype") == Name.FileAttachment:
            del obj["/FS"]  # an attachment note still reachable otherwise (from its popup)
        if "/V" in keys and obj.get("/FT") == Name.Sig:
            del obj["/V"]  # a signature names its signer (and no longer matches anyway)
        if "/I" in keys and obj.get("/Type") == Name.Thread:
            del obj["/I"]  # an article thread's own author and title
        if "/A" in keys:
            _keep_links_inside(obj)
        if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == Name.Image:
            _strip_pdf_jpeg(obj)


def _keep_links_inside(obj: pikepdf.Dictionary) -> None:
    """Drop the action of a link, field or outline entry unless it goes to a page of the file."""
    action = obj.A
    if not isinstance(action, pikepdf.Dictionary) or "/S" not in action:
        return  # not an action: a structure element's attributes are its /A too
    if action.S != Name.GoTo:
        del obj["/A"]
    elif "/Next" in action:
        del action["/Next"]  # what a link to a page would do next, anything at all


def _pdf_dictionaries(objects: list):  # noqa: ANN202
    """Yield every dictionary and stream of ``objects``, direct ones inside them included."""
    for top in objects:
        pending = [top]
        while pending:
            obj = pending.pop()
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                yield obj
                values = obj.values()
            elif isinstance(obj, pikepdf.Array):
                values = obj
            else:
                continue
            # Indirect objects are visited once each, from ``objects``.
            pending.extend(v for v in values
                           if isinstance(v, pikepdf.Dictionary | pikepdf.Array)
                           and not v.is_indirect)


def _strip_pdf_jpeg(image: pikepdf.Stream) -> None:
    """Drop the EXIF, XMP and comments of a JPEG photo inside a PDF, keeping its pixels."""
    filters, parms = image.get("/Filter"), image.get("/DecodeParms")
    if isinstance(filters, pikepdf.Array) and len(filters) == 1:
        filters = filters[0]
        parms = parms[0] if isinstance(parms, pikepdf.Array) and len(parms) == 1 else None
    if filters != Name.DCTDecode:
        return  # other filters before the JPEG's own are rare; such a photo is left as it is
    raw = image.read_raw_bytes()
    kept = _jpeg_without_metadata(raw)
    if kept != raw:
        parms = parms if isinstance(parms, pikepdf.Dictionary) else None
        image.write(kept, filter=Name.DCTDecode, decode_parms=parms)


def _jpeg_without_metadata(data: bytes) -> bytes:
    """The JPEG up to its end, less APPn (but JFIF, Adobe) and comments, between scans too.

    Whatever follows the end-of-image marker is left out: phones append a preview
    image there, with EXIF and GPS of its own.
    """
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    out = bytearray(data[:2])
    pos = 2
    while pos < len(data):  # a JPEG cut short keeps what it has
        while data[pos:pos + 2] == b"\xff\xff":
            pos += 1  # fill bytes before a marker
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise ValueError("damaged JPEG")
        marker = data[pos + 1]
        if marker == 0xD9:  # end of image
            out += data[pos:pos + 2]
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise ValueError("damaged JPEG")
        if not ((0xE0 <= marker <= 0xEF and marker not in _JPEG_KEPT_APP) or marker == 0xFE):
            out += data[pos:end]
        pos = end
        if marker == 0xDA:  # start of scan: its data runs to the next marker
            end = _jpeg_scan_end(data, pos)
            out += data[pos:end]
            pos = end
    return bytes(out)


def _jpeg_scan_end(data: bytes, pos: int) -> int:
    """Where the scan data from ``pos`` ends: at the next marker, or the end of ``data``."""
    while (pos := data.find(b"\xff", pos)) != -1:
        if data[pos + 1:pos + 2] not in _JPEG_IN_SCAN:
            return pos
        pos += 2
    return len(data)


if __name__ == "__main__":
    sys.exit(main())
