"""Evidence files: type from content, metadata stripped, encrypted storage.

Pictures are re-encoded from their pixels. PDFs are rewritten by qpdf (through
pikepdf) without what names their maker: the document information, XMP
metadata, note authors, application data, signatures and attached files; the
JPEG photos inside them lose their EXIF as a picture upload does.

The store is an interface so an object store can replace the database later;
the default keeps encrypted bytes in the ``evidence_blob`` table, which every
web process and worker on any host can reach.
"""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
import warnings
from dataclasses import dataclass
from typing import Protocol

import pikepdf
from pikepdf import Name
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.orm import Session

from app.errors import DomainError, ValidationFailed
from app.reporting.evidence_models import EvidenceBlob

ALLOWED = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP",
           "application/pdf": None}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
              "application/pdf": "pdf"}
#: Refuse images that would decompress into more than this many pixels.
MAX_PIXELS = 40_000_000

# Pillow logs every EXIF tag it reads or writes (GPS position, camera, owner) at DEBUG:
# a reporter's picture metadata must never reach the logs, whatever LOG_LEVEL says.
logging.getLogger("PIL").setLevel(logging.INFO)
# qpdf reports what it finds wrong in a damaged PDF as errors, quoting from the file at
# times; such a file is refused with a message, and its contents stay out of the logs.
logging.getLogger("pikepdf").setLevel(logging.CRITICAL)


class FileTooLarge(DomainError):
    status_code = 413


def size_words(size: int) -> str:
    """Say a size limit in plain words: "10 MB", "500 KB"."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def sniff_type(data: bytes) -> str | None:
    """Return the MIME type the bytes really are, or ``None`` if not allowed."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "application/pdf"
    return None


@dataclass(frozen=True)
class CleanFile:
    content_type: str
    data: bytes
    original_sha256: str
    is_metadata_stripped: bool


def clean_upload(data: bytes, *, max_bytes: int) -> CleanFile:
    """Check an upload and strip its metadata (EXIF, GPS, text chunks; a PDF's authors)."""
    if not data:
        raise ValidationFailed("That file is empty.", field="file")
    if len(data) > max_bytes:
        raise FileTooLarge(f"That file is too large: the limit is {size_words(max_bytes)}.",
                           field="file")
    content_type = sniff_type(data)
    if content_type is None:
        raise ValidationFailed("Add a screenshot (PNG, JPEG or WebP) or a PDF.", field="file")
    original_sha256 = hashlib.sha256(data).hexdigest()
    fmt = ALLOWED[content_type]
    clean = _strip_pdf(data) if fmt is None else _strip_image(data, fmt)
    return CleanFile(content_type, clean, original_sha256, is_metadata_stripped=True)


def _strip_image(data: bytes, fmt: str) -> bytes:
    """Re-encode the pixels only: nothing of the original's metadata survives."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format != fmt:
                    raise ValidationFailed("That file is not the picture it claims to be.",
                                           field="file")
                if img.width * img.height > MAX_PIXELS:
                    raise ValidationFailed("That picture is too big; send a screenshot.",
                                           field="file")
                img.load()
                upright = ImageOps.exif_transpose(img)
                if upright.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                    upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
                if fmt == "JPEG" and upright.mode not in ("RGB", "L"):
                    upright = upright.convert("RGB")
                # Pillow writes some of ``info`` back on save (a JPEG comment, a PNG's ICC
                # profile): keep only what draws the pixels (a palette's transparency).
                upright.info = {k: v for k, v in upright.info.items() if k == "transparency"}
                out = io.BytesIO()
                options = {"quality": 92} if fmt in ("JPEG", "WEBP") else {"optimize": True}
                upright.save(out, format=fmt, **options)
                return out.getvalue()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombWarning,
            Image.DecompressionBombError, ValueError):
        raise ValidationFailed("We could not read that picture. Try another screenshot.",
                               field="file") from None


#: Keys that name who made, edited or signed a PDF, or carry files inside it, wherever
#: they are: XMP streams, application data, associated and embedded files.
PDF_IDENTITY_KEYS = ("/Metadata", "/PieceInfo", "/AF", "/EF", "/RF")
#: Keys of the document catalog alone: a portfolio, signature permissions, the signers'
#: certificates, the addresses a web capture came from.
PDF_CATALOG_KEYS = ("/Collection", "/Perms", "/DSS", "/SpiderInfo")
#: JPEG segments a photo keeps: JFIF (APP0) and Adobe's colour transform (APP14) draw the
#: pixels; every other APPn (EXIF, GPS, XMP, IPTC, ICC) and comments go.
_JPEG_KEPT_APP = {0xE0, 0xEE}


def _strip_pdf(data: bytes) -> bytes:
    """Rewrite a PDF without what names its maker; refuse one that cannot be read."""
    try:
        with warnings.catch_warnings():
            # pikepdf warns about odd forms on save; the file is stored all the same.
            warnings.simplefilter("ignore", pikepdf.PikepdfWarning)
            with pikepdf.open(io.BytesIO(data)) as pdf:
                _remove_pdf_identity(pdf)
                out = io.BytesIO()
                # Streams are copied as they are, never decompressed: a small file cannot
                # unpack into gigabytes here. Without /ID in the trailer qpdf draws a new one.
                pdf.save(out, fix_metadata_version=False,
                         stream_decode_level=pikepdf.StreamDecodeLevel.none)
                return out.getvalue()
    except pikepdf.PasswordError:
        raise ValidationFailed("That PDF is locked with a password. Save a copy without one, "
                               "or send a screenshot.", field="file") from None
    except (pikepdf.PikepdfError, ValueError, TypeError, AttributeError, KeyError,
            IndexError, RecursionError):
        # A damaged file breaks qpdf or holds objects of the wrong kind where we look.
        raise ValidationFailed("We could not read that PDF. Save it again, or send a "
                               "screenshot.", field="file") from None


def _remove_pdf_identity(pdf: pikepdf.Pdf) -> None:
    for key in ("/Info", "/ID"):
        if key in pdf.trailer:
            del pdf.trailer[key]
    root = pdf.Root
    for key in PDF_CATALOG_KEYS:
        if key in root:
            del root[key]
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary) and "/EmbeddedFiles" in names:
        del names["/EmbeddedFiles"]
    for page in pdf.pages:
        annots = page.obj.get("/Annots")
        if isinstance(annots, pikepdf.Array):
            # An attached file is another document with its own metadata: it is left out.
            page.obj.Annots = pikepdf.Array(
                [a for a in annots if not (isinstance(a, pikepdf.Dictionary)
                                           and a.get("/Subtype") == Name.FileAttachment)])
    for obj in _pdf_dictionaries(pdf):
        keys = obj.keys()  # one call, not one per key: a long PDF has many dictionaries
        for key in keys.intersection(PDF_IDENTITY_KEYS):
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
        if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == Name.Image:
            _strip_pdf_jpeg(obj)


def _pdf_dictionaries(pdf: pikepdf.Pdf):  # noqa: ANN202
    """Yield every dictionary and stream of ``pdf``, direct ones inside others included."""
    for top in pdf.objects:
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
            # Indirect objects are visited once each, from ``pdf.objects``.
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
    """The JPEG's segments up to its image data, less APPn (but JFIF, Adobe) and comments."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    out = bytearray(data[:2])
    pos = 2
    while True:
        while pos < len(data) and data[pos] == 0xFF and data[pos + 1:pos + 2] == b"\xff":
            pos += 1  # fill bytes before a marker
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise ValueError("damaged JPEG")
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is the picture itself
            out += data[pos:]
            return bytes(out)
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise ValueError("damaged JPEG")
        if not ((0xE0 <= marker <= 0xEF and marker not in _JPEG_KEPT_APP) or marker == 0xFE):
            out += data[pos:end]
        pos = end


class EvidenceStore(Protocol):
    def put(self, session: Session, data: bytes) -> str: ...
    def get(self, session: Session, key: str) -> bytes: ...
    def delete(self, session: Session, key: str) -> None: ...


class DatabaseStore:
    """Evidence bytes encrypted in the database (the default)."""

    def put(self, session: Session, data: bytes) -> str:
        key = "db:" + secrets.token_hex(16)
        session.add(EvidenceBlob(key=key, data=data))
        return key

    def get(self, session: Session, key: str) -> bytes:
        blob = session.get(EvidenceBlob, key)
        if blob is None:
            raise KeyError(key)
        return blob.data

    def delete(self, session: Session, key: str) -> None:
        blob = session.get(EvidenceBlob, key)
        if blob is not None:
            session.delete(blob)


def evidence_store() -> EvidenceStore:
    return DatabaseStore()
