"""The Celery app, configured from the same settings as the web app.

Every task runs inside the Flask app context, so tasks use the same services
and the same database session handling as the views. Tasks take ids, never
ORM objects.
"""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from workers.beat import beat_schedule

TASK_MODULES = ["workers.tasks.maintenance"]


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for ``app`` and keep it in ``app.extensions['celery']``."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):  # noqa: ANN002,ANN003
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.import_name, task_cls=FlaskTask, include=TASK_MODULES)
    config = app.config
    queue = config["CELERY_TASK_QUEUE"]
    celery.conf.update(
        broker_url=config["CELERY_BROKER_URL"],
        broker_transport_options=config["CELERY_BROKER_TRANSPORT_OPTIONS"],
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_default_queue=queue,
        task_ignore_result=True,
        result_backend=None,
        # A task is acknowledged only once it has run; one that dies with its
        # worker goes back to the broker (where the broker can redeliver).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=110,
        task_time_limit=120,
        worker_hijack_root_logger=False,
        worker_max_tasks_per_child=10_000,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=beat_schedule(queue),
        beat_schedule_filename=str(app.instance_path) + "/celerybeat-schedule",
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
