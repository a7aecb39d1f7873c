"""Evidence files: type from content, metadata stripped, encrypted storage.

Pictures are re-encoded from their pixels. PDFs are rewritten by qpdf (through
pikepdf), in a child process with its own memory and time limits, without what
names their maker or acts when staff open them (see ``pdf_clean``).

The store is an interface so an object store can replace the database later;
the default keeps encrypted bytes in the ``evidence_blob`` table, which every
web process and worker on any host can reach.
"""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
import subprocess
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.db import utcnow
from app.errors import DomainError, ValidationFailed
from app.reporting import pdf_clean
from app.reporting.evidence_models import Evidence, EvidenceBlob

ALLOWED = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP",
           "application/pdf": None}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
              "application/pdf": "pdf"}
#: Refuse images that would decompress into more than this many pixels.
MAX_PIXELS = 40_000_000

# Pillow logs every EXIF tag it reads or writes (GPS position, camera, owner) at DEBUG:
# a reporter's picture metadata must never reach the logs, whatever LOG_LEVEL says.
logging.getLogger("PIL").setLevel(logging.INFO)


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


PDF_TOO_COMPLEX = ("That PDF is too large or complex for us to check. Send screenshots of it "
                   "instead.")


def _strip_pdf(data: bytes) -> bytes:
    """Rewrite a PDF in a child process (see ``pdf_clean``); refuse one it cannot read."""
    try:
        # No environment: the child needs none, and so is not handed the app's secrets.
        done = subprocess.run([sys.executable, "-I", pdf_clean.__file__], input=data,
                              capture_output=True, env={}, timeout=pdf_clean.MAX_SECONDS,
                              check=False)
    except subprocess.TimeoutExpired:  # the child is killed
        raise ValidationFailed(PDF_TOO_COMPLEX, field="file") from None
    if done.returncode == 0:
        return done.stdout
    if done.returncode == pdf_clean.LOCKED:
        raise ValidationFailed("That PDF is locked with a password. Save a copy without one, "
                               "or send a screenshot.", field="file")
    if done.returncode == pdf_clean.UNREADABLE:
        raise ValidationFailed("We could not read that PDF. Save it again, or send a "
                               "screenshot.", field="file")
    # Over a limit, or stopped by one (out of memory or CPU time: killed by a signal).
    raise ValidationFailed(PDF_TOO_COMPLEX, field="file")


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


# -- PDFs stored as uploaded, before PDFs were cleaned (``flask clean-evidence``) -------
@dataclass(frozen=True)
class StoredPdfBatch:
    #: How many evidence rows the batch looked at, and the last one's id (the next cursor).
    seen: int
    last_id: int
    cleaned: int
    #: Evidence the cleaner refused (or whose bytes are missing or altered): left as it is.
    refused: list[int]


def clean_stored_pdfs(session: Session, *, after_id: int = 0, limit: int = 20,
                      now: datetime | None = None) -> StoredPdfBatch:
    """Clean up to ``limit`` PDFs stored as uploaded, after ``after_id``; the caller commits.

    The same cleaner as an upload; the clean bytes replace the blob (encrypted, under a
    new key, as an upload's) and ``stored_sha256`` and ``size`` follow them, while
    ``original_sha256`` stays the hash of the file as it was uploaded. A PDF the cleaner
    refuses is left as it is, never deleted. Runs for every school (no tenant scope).
    """
    now = now or utcnow()
    query = (select(Evidence)
             .where(Evidence.content_type == "application/pdf",
                    Evidence.is_metadata_stripped.is_(False), Evidence.id > after_id)
             .order_by(Evidence.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Evidence)  # the retention job may not delete it meanwhile
    rows = list(session.scalars(query))
    store = evidence_store()
    refused: list[int] = []
    entries = []
    for evidence in rows:
        clean = _clean_stored(session, store, evidence)
        if clean is None:
            refused.append(evidence.id)
            continue
        old_key = evidence.storage_key
        evidence.storage_key = store.put(session, clean.data)
        store.delete(session, old_key)
        evidence.size = len(clean.data)
        evidence.stored_sha256 = hashlib.sha256(clean.data).hexdigest()
        evidence.is_metadata_stripped = True
        entries.append({"school_id": evidence.school_id, "action": "evidence.metadata_stripped",
                        "actor_kind": "system", "case_id": evidence.case_id,
                        "target": f"evidence:{evidence.id}", "at": now,
                        "detail": {"sha256": evidence.stored_sha256, "size": evidence.size}})
    session.flush()
    audit.record_many(session, entries)
    return StoredPdfBatch(seen=len(rows), last_id=rows[-1].id if rows else after_id,
                          cleaned=len(entries), refused=refused)


def _clean_stored(session: Session, store: EvidenceStore, evidence: Evidence) -> CleanFile | None:
    """The stored file cleaned, or ``None`` if its bytes are missing, altered or refused."""
    try:
        data = store.get(session, evidence.storage_key)
    except KeyError:
        return None
    if hashlib.sha256(data).hexdigest() != evidence.stored_sha256:
        return None  # not the bytes the row describes
    try:
        return clean_upload(data, max_bytes=len(data))  # an accepted file: no size limit now
    except DomainError:
        return None
