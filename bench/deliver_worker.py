"""One delivery worker process for the bench: ``python -m bench.deliver_worker``.

It builds the app as a Celery worker does (production settings from the
environment), says ``ready``, waits for ``go`` on standard input, then runs the
outbox sweep (:func:`app.notifications.delivery.deliver_due`, what the
``deliver_due`` task calls) until nothing due is left, and prints its counts
as JSON. The bench starts one or two of these side by side.
"""

from __future__ import annotations

import json
import sys
import time

BUDGET_SECONDS = 120


def main() -> None:
    from app import create_app
    from app.notifications import delivery

    app = create_app()
    with app.app_context():
        from app.extensions import db

        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return
        started = time.perf_counter()
        cpu = time.process_time()
        totals: dict[str, int] = {}
        while time.perf_counter() - started < BUDGET_SECONDS:
            stats = delivery.deliver_due(db.session, app.config, budget_seconds=BUDGET_SECONDS)
            for outcome, n in stats.counts.items():
                totals[outcome] = totals.get(outcome, 0) + n
            if not stats.counts:
                break
        print(json.dumps({"counts": totals, "seconds": time.perf_counter() - started,
                          "cpu_seconds": time.process_time() - cpu}), flush=True)


if __name__ == "__main__":
    main()
