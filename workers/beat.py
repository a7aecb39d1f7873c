"""The beat schedule, in code."""

from __future__ import annotations

from datetime import timedelta


def beat_schedule(queue: str) -> dict:
    return {
        "heartbeat": {
            "task": "workers.tasks.maintenance.heartbeat",
            "schedule": timedelta(seconds=60),
            "options": {"queue": queue, "expires": 55},
        },
    }
