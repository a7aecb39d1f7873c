"""Evidence files and where their bytes live."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.db import Base, Encrypted, TenantScoped, utcnow


class Evidence(TenantScoped, Base):
    """A screenshot or PDF a reporter added. The bytes are in an :class:`EvidenceStore`."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    #: Detected from the content, never from the name: image/png, image/jpeg, image/webp, application/pdf.
    content_type: Mapped[str] = mapped_column(String(40))
    #: Size of the stored (metadata-stripped) file.
    size: Mapped[int]
    #: SHA-256 of the file exactly as uploaded, for integrity.
    original_sha256: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of what is stored (after metadata was stripped).
    stored_sha256: Mapped[str] = mapped_column(String(64))
    is_metadata_stripped: Mapped[bool] = mapped_column(default=False)
    #: The name the reporter's device gave the file (encrypted: names can identify).
    filename: Mapped[str | None] = mapped_column(Encrypted("evidence.filename"))
    #: Key of the bytes in the configured store.
    storage_key: Mapped[str] = mapped_column(String(100))


class EvidenceBlob(Base):
    """Encrypted evidence bytes kept in the database (the default store)."""

    __tablename__ = "evidence_blob"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    data: Mapped[bytes] = deferred(mapped_column(Encrypted("evidence_blob.data", raw=True),
                                                 nullable=False))
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
