"""Reading filter values from a query string: a value that makes no sense is a clear 422."""

from __future__ import annotations

from datetime import date

from app.errors import ValidationFailed
from app.ids import parse_id

#: Dates outside this range are typing mistakes (and 0001-01-01 breaks timezone maths).
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def date_arg(args, name: str, default: date | None = None) -> date | None:  # noqa: ANN001
    """Return the ``YYYY-MM-DD`` value of ``name``, ``default`` when absent."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"Enter the {name} date as YYYY-MM-DD, for example 2025-09-01.",
                               field=name) from None
    if not EARLIEST <= value <= LATEST:
        raise ValidationFailed(f"Enter a {name} date between {EARLIEST.year} and {LATEST.year}.",
                               field=name)
    return value


def id_arg(args, name: str, message: str) -> int | None:  # noqa: ANN001
    """Return the database id in ``name``, or ``None`` when absent."""
    return parse_id(args.get(name), field=name, message=message)
