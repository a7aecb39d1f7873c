"""Row ids taken from a request: in a URL, a form field or a query string.

Every id column is a 32-bit ``integer``. A larger number is no row's id, but
looking it up is not a miss: PostgreSQL refuses to cast it (``integer out of
range``) and SQLite refuses numbers past 64 bits, so it answered 500. Such a
number is refused here, before any query, as a value that is not an id.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

from app.errors import ValidationFailed

#: The largest id a column can hold (PostgreSQL ``integer``, the type of every id column).
MAX_ID = 2**31 - 1
_MAX_DIGITS = len(str(MAX_ID))


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a number past :data:`MAX_ID` does not match, so it is a 404."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def parse_id(raw: str | None, *, field: str, message: str) -> int | None:
    """Return the id ``raw`` spells, ``None`` when blank; anything else gets ``message``.

    ASCII digits only: ``str.isdigit`` also takes "²", which ``int()`` then refuses;
    and the length first, as ``int()`` refuses thousands of digits too.
    """
    raw = (raw or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS
            and int(raw) <= MAX_ID):
        raise ValidationFailed(message, field=field)
    return int(raw)
