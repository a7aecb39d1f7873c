"""Declarative base, column types and mixins shared by every model."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Integer, LargeBinary, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, registry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone; PostgreSQL keeps ``timestamptz``. Naive values are
    refused so that a local time can never slip in unnoticed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Encrypted(TypeDecorator[Any]):
    """A value encrypted at rest with the data keys (see :mod:`app.security`).

    ``purpose`` is bound into the ciphertext as associated data, so a value
    copied into another column does not decrypt there. ``json=True`` stores
    any JSON-serialisable value, otherwise text; ``raw=True`` stores bytes.
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str, *, json: bool = False, raw: bool = False) -> None:
        super().__init__()
        self.purpose = purpose
        self.json = json
        self.raw = raw

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        from app.security import keyring

        if value is None:
            return None
        return keyring().encrypt_value(value, self.purpose, json=self.json, raw=self.raw)

    def process_result_value(self, value: bytes | None, dialect: Any) -> Any:
        from app.security import keyring

        if value is None:
            return None
        return keyring().decrypt_value(bytes(value), self.purpose, json=self.json, raw=self.raw)


def enum_column(enum_cls: type, length: int = 32) -> Enum:
    """Store a Python enum by its values as VARCHAR (no native type to migrate)."""
    return Enum(enum_cls, native_enum=False, length=length,
                values_callable=lambda e: [m.value for m in e])


class Base(DeclarativeBase):
    """Base of every model."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON},
    )


class TenantScoped:
    """Rows that belong to one school.

    Every ORM query in a request is filtered to the signed-in school by
    :func:`app.policy.scope_to_school`; see there.
    """

    @declared_attr
    def school_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(
            Integer, ForeignKey("school.id", ondelete="CASCADE"), index=True, nullable=False
        )


class CreatedMixin:
    #: When the row was made (UTC).
    created_dt: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
