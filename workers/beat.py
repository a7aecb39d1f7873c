"""The beat schedule, in code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

HEARTBEAT_TASK = "workers.tasks.maintenance.heartbeat"


def beat_schedule(queue: str, heartbeat_seconds: float = 60) -> dict[str, dict[str, Any]]:
    """Return the periodic tasks beat sends to ``queue``."""
    return {
        "heartbeat": {
            "task": HEARTBEAT_TASK,
            "schedule": timedelta(seconds=heartbeat_seconds),
            "kwargs": {"name": "beat"},
            # A heartbeat that waited longer than its interval is stale: drop it,
            # the next one is already on its way.
            "options": {"queue": queue, "expires": heartbeat_seconds * 0.9},
        },
    }
