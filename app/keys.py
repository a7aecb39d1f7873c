"""Key rotation: re-encrypt every encrypted column under the newest data key.

Run ``flask rotate-keys`` after putting a new key first in DATA_ENCRYPTION_KEYS
(keep the old one after it until the command has finished everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import LargeBinary, column, select, table, update
from sqlalchemy.orm import Session

from app.db import Base, Encrypted
from app.security import keyring

BATCH = 500


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    primary_key: str
    column: str
    purpose: str


def encrypted_columns() -> list[EncryptedColumn]:
    """Every column stored through :class:`~app.db.Encrypted`, from the models."""
    found = []
    for mapper in Base.registry.mappers:
        tbl = mapper.local_table
        pk = list(tbl.primary_key.columns)[0].name
        for col in tbl.columns:
            if isinstance(col.type, Encrypted):
                found.append(EncryptedColumn(tbl.name, pk, col.name, col.type.purpose))
    return sorted(found, key=lambda c: (c.table, c.column))


def rotate(session: Session, *, batch: int = BATCH) -> dict[str, int]:
    """Re-encrypt values not under the current key; return counts per column. Commits per batch.

    Safe while the service runs: each row is rewritten only if it still holds the
    ciphertext that was read, so a value the app changed in between (already under
    the new key) is never overwritten with the old plaintext.
    """
    ring = keyring()
    current = ring.current.key_id
    counts: dict[str, int] = {}
    for enc in encrypted_columns():
        tbl = table(enc.table, column(enc.primary_key), column(enc.column, LargeBinary))
        pk_col, val_col = tbl.c[enc.primary_key], tbl.c[enc.column]
        last = None
        done = 0
        while True:
            stmt = select(pk_col, val_col).where(val_col.isnot(None)).order_by(pk_col).limit(batch)
            if last is not None:
                stmt = stmt.where(pk_col > last)
            rows = session.execute(stmt).all()
            if not rows:
                break
            for pk, blob in rows:
                last = pk
                blob = bytes(blob)
                if ring.key_id_of(blob) == current:
                    continue
                plain = ring.decrypt(blob, enc.purpose)
                result = session.execute(
                    update(tbl).where(pk_col == pk, val_col == blob)
                    .values({enc.column: ring.encrypt(plain, enc.purpose)}))
                done += result.rowcount
            session.commit()
        counts[f"{enc.table}.{enc.column}"] = done
    return counts
