"""Rows of several tables written together, in one statement on PostgreSQL.

A report arrives as a case, the report, its first event, blind indexes and
audit entries. Sent one INSERT at a time they cost a round trip and a
statement's overhead each, which was most of a submission's time on the web
and database side (bench/README.md). :func:`insert_together` writes them as
one PostgreSQL statement: a data-modifying CTE whose first INSERT is gated by
a unique key (``ON CONFLICT DO NOTHING``) and whose other INSERTs select
``FROM`` it, so that on a clash nothing at all is written. SQLite, the
development default, gets the same rows one INSERT per table.

Rows carry their own ids where other rows refer to them (the caller reserves
them first, e.g. with ``nextval``), so no INSERT waits for another's result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, bindparam, insert, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select


class Followup(NamedTuple):
    """An UPDATE that :func:`insert_together` makes with the first row, and only if it went in."""

    table: Table
    #: A column of ``table`` -> the first row's column it must equal.
    match: Mapping[str, str]
    values: dict[str, Any]


def full_row(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus every column not given that has a Python-side default, at that default.

    The database fills the rest (an id from its sequence, NULL). Rows made
    alike from the same keys share one prebuilt statement.
    """
    row: dict[str, Any] = {}
    for column in table.columns:
        key = column.key
        if key in values:
            row[key] = values[key]
        elif column.default is None:
            continue
        elif column.default.is_scalar:
            row[key] = column.default.arg
        elif column.default.is_callable:
            row[key] = column.default.arg(None)  # SQLAlchemy's wrapper takes a context
        else:  # a SQL expression default: none of the tables written this way has one
            raise ValueError(f"{table.name}.{key}: give a value for a column with a SQL default")
    return row


def insert_together(conn: Connection, first: Table, first_row: dict[str, Any], *,
                    unique: Sequence[str], rest: Sequence[tuple[Table, list[dict[str, Any]]]],
                    inherit: Mapping[str, str] = MappingProxyType({}),
                    then_update: Followup | None = None) -> int | None:
    """Insert ``first_row`` and, only if it went in, the ``rest``; return its id.

    ``None`` (and nothing written) when ``first_row`` clashes with a row on
    the ``unique`` columns. Rows are made with :func:`full_row`; the rows of
    one table share their keys. ``inherit`` maps a column of the other rows
    to the first row's column it copies (``{"case_id": "id"}``): those values
    are taken from the new row, not sent once per row. ``then_update`` sets
    ``values`` on the rows of ``table`` whose ``match`` columns equal the new
    row's (``Followup(audit_chain, {"chain_key": "school_id"}, {...})``),
    also only if it went in.
    """
    rest = [(table, rows) for table, rows in rest if rows]
    for table, rows in rest:
        for row in rows:
            for key, source in inherit.items():
                # A row that names another value (an audit entry hashed over it, say)
                # must not be stored with the first row's instead.
                if key in row and source in first_row and row[key] != first_row[source]:
                    raise ValueError(f"{table.name}.{key} differs from {first.name}.{source}")
    if conn.dialect.name == "sqlite":
        statement = _gated_insert(first, tuple(unique))
        new_id = conn.execute(statement, first_row).scalar()
        if new_id is not None:
            given = {**first_row, "id": new_id}
            for table, rows in rest:
                copied = {key: given[source] for key, source in inherit.items() if key in table.c}
                conn.execute(insert(table), [{**row, **copied} for row in rows])
            if then_update is not None:
                table, match, values = then_update
                conn.execute(update(table).where(
                    *[table.c[key] == given[source] for key, source in match.items()])
                    .values(values))
        return new_id
    shape = tuple((table, tuple(key for key in rows[0] if key not in inherit), len(rows))
                  for table, rows in rest)
    followup = None if then_update is None else (
        then_update.table, tuple(sorted(then_update.match.items())), tuple(then_update.values))
    statement = _together(first, tuple(first_row), tuple(unique), shape,
                          tuple(sorted(inherit.items())), followup)
    # Short names: psycopg converts a statement's placeholders once and keeps the result
    # only for statements of up to 50 parameters (and 4 KB).
    params = {f"a{key}": value for key, value in first_row.items()}
    for t, (table, keys, count) in enumerate(shape, start=1):
        for r, row in enumerate(rest[t - 1][1]):
            params.update({f"{_letter(t)}{r}{key}": row[key] for key in keys})
    if then_update is not None:
        params.update({f"z{key}": value for key, value in then_update.values.items()})
    return conn.execute(statement, params).scalar()


def _letter(t: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[t]


# Statements are built once per shape and kept: SQLAlchemy caches a statement's
# compiled form by the statement object, and building one costs more than sending it.
@lru_cache(maxsize=16)
def _gated_insert(table: Table, unique: tuple[str, ...]):  # noqa: ANN202
    return (sqlite.insert(table).on_conflict_do_nothing(index_elements=list(unique))
            .returning(table.c.id))


@lru_cache(maxsize=64)
def _together(first: Table, columns: tuple[str, ...], unique: tuple[str, ...],
              shape: tuple[tuple[Table, tuple[str, ...], int], ...],
              inherit: tuple[tuple[str, str], ...],
              followup: tuple[Table, tuple[tuple[str, str], ...], tuple[str, ...]] | None,
              ) -> Select:
    inherited = dict(inherit)
    returned = set(inherited.values()) | {source for _, source in (followup[1] if followup else ())}
    gate = (postgresql.insert(first)
            .values({key: bindparam(f"a{key}", type_=first.c[key].type) for key in columns})
            .on_conflict_do_nothing(index_elements=list(unique))
            .returning(first.c.id, *[first.c[source] for source in sorted(returned)
                                     if source != "id"])
            .cte(f"new_{first.name}"))
    writes = []
    for t, (table, keys, count) in enumerate(shape, start=1):
        copied = [key for key in inherited if key in table.c]
        rows = [select(*[gate.c[inherited[key]] for key in copied],
                       *[bindparam(f"{_letter(t)}{r}{key}", type_=table.c[key].type)
                         for key in keys])
                .select_from(gate) for r in range(count)]
        writes.append(insert(table)
                      .from_select([*copied, *keys],
                                   rows[0] if count == 1 else union_all(*rows),
                                   include_defaults=False)
                      .cte(f"new_{table.name}"))
    if followup is not None:
        table, match, keys = followup
        # UPDATE ... FROM the new row: no new row, nothing updated.
        writes.append(update(table)
                      .where(*[table.c[key] == gate.c[source] for key, source in match])
                      .values({key: bindparam(f"z{key}", type_=table.c[key].type)
                               for key in keys})
                      .cte(f"moved_{table.name}"))
    return select(gate.c.id).add_cte(*writes)
