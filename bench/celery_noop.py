"""The Celery app of the workers plus one trivial task, for the worker memory figure.

    celery -A bench.celery_noop worker --pool solo -Q <queue>

The task does nothing, so what the figure shows is the worker's own memory
(broker, app, logging), not a task's.
"""

from workers.main import celery

NOOP_TASK = "bench.noop"


@celery.task(name=NOOP_TASK, ignore_result=True)
def noop() -> None:
    """Do nothing."""
