"""The Celery app, configured from the same settings as the web app.

Every task runs inside the Flask app context, so tasks use the same services
and the same database session handling as the views. Tasks take ids, never
ORM objects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask

from workers.beat import beat_schedule

TASK_MODULES = ["workers.tasks.maintenance", "workers.tasks.notifications",
                "workers.tasks.scans", "workers.tasks.retention"]
#: Celery loggers that attach a task's arguments and result to their records.
TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.worker.request")


class HideTaskArguments(logging.Filter):
    """Drop task arguments and results from Celery's log records.

    Our formatters print every ``extra`` field, and Celery puts the task's args,
    kwargs and return value in one (``data``). Tasks take ids today, but a log
    line must never be where personal data could leak if one day they do not.
    """

    HIDDEN = frozenset({"args", "kwargs", "return_value"})

    def filter(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            # A copy: Celery formats the message from the same dict.
            record.data = {k: v for k, v in data.items() if k not in self.HIDDEN}
        if isinstance(record.args, dict) and "return_value" in record.args:
            # "Task ... succeeded in 0.02s: <return value>"
            record.args = {**record.args, "return_value": "(hidden)"}
        return True


def hide_task_arguments() -> None:
    """Install :class:`HideTaskArguments` on Celery's task loggers, once."""
    for name in TASK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideTaskArguments) for f in logger.filters):
            logger.addFilter(HideTaskArguments())


def celery_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return Celery's settings for the app settings ``config``.

    Kept apart from :func:`celery_init_app` so that a process that only sends
    tasks (a test, a script) configures its broker exactly as the workers do.
    """
    queue = config["CELERY_TASK_QUEUE"]
    return {
        "broker_url": config["CELERY_BROKER_URL"],
        "broker_transport_options": dict(config["CELERY_BROKER_TRANSPORT_OPTIONS"]),
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        # Results live in the database; the backend (Redis when REDIS_URL is set)
        # is there for a task that explicitly asks to keep its return value.
        "result_backend": config.get("CELERY_RESULT_BACKEND") or None,
        "task_ignore_result": True,
        "task_default_queue": queue,
        # A task is acknowledged only once it has run; one that dies with its
        # worker goes back to the broker (where the broker can redeliver).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": 110,
        "task_time_limit": 120,
        # The app's logging (request ids, JSON in production) applies to workers too.
        "worker_hijack_root_logger": False,
        "worker_max_tasks_per_child": 10_000,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(
            queue, config["HEARTBEAT_INTERVAL_SECONDS"],
            scan_seconds=config.get("WORKER_SCAN_INTERVAL_SECONDS", 60),
            daily_scan_seconds=config.get("WORKER_DAILY_SCAN_INTERVAL_SECONDS", 300)),
        "beat_schedule_filename": str(Path(config["INSTANCE_PATH"]) / "celerybeat-schedule"),
    }


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for ``app`` and keep it in ``app.extensions['celery']``."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    # beat keeps its schedule file in the instance folder; make sure the folder exists.
    try:
        os.makedirs(app.config["INSTANCE_PATH"], exist_ok=True)
    except OSError:
        pass  # read-only deployments point INSTANCE_PATH somewhere writable for beat
    celery = Celery(app.import_name, task_cls=FlaskTask, include=TASK_MODULES)
    celery.conf.update(celery_settings(app.config))
    hide_task_arguments()
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
