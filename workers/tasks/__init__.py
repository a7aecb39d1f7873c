"""Tasks are thin: they open the app context (see FlaskTask), call a service, commit."""

import time
from collections.abc import Callable

from app.extensions import db


def run_in_batches(step: Callable[[int], int], *, batch: int, budget_seconds: float) -> int:
    """Call ``step(batch)`` and commit, until it does less than a batch or time runs out.

    Each batch is its own short transaction, so a crash loses at most one batch's
    work (which the next run redoes: every step is safe to repeat).
    """
    total = 0
    stop_at = time.monotonic() + budget_seconds
    while True:
        done = step(batch)
        db.session.commit()
        total += done
        if done < batch or time.monotonic() >= stop_at:
            return total
