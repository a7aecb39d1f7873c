"""Which real services this test run can use, and throwaway databases on them.

PostgreSQL and Redis are used when they answer on 127.0.0.1; otherwise the
run falls back to SQLite and in-process defaults and says so in its header
and summary. Each run works in its own database (``safereport_test_<id>``),
Redis key prefix and Celery queue, so parallel or repeated runs never meet.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

RUN_ID = uuid.uuid4().hex[:10]
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def postgres_reachable() -> str | None:
    """Return why PostgreSQL cannot be used, or ``None`` when it can."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"


def redis_reachable() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}"


@dataclass
class Backends:
    postgres_error: str | None
    redis_error: str | None
    tmp: Path
    created: list[str] = field(default_factory=list)

    @property
    def has_postgres(self) -> bool:
        return self.postgres_error is None

    @property
    def has_redis(self) -> bool:
        return self.redis_error is None

    def describe(self) -> list[str]:
        db = ("PostgreSQL at 127.0.0.1:5432 (database per run: safereport_test_" + RUN_ID + "_*)"
              if self.has_postgres else f"SQLite (PostgreSQL unavailable: {self.postgres_error})")
        rd = (f"Redis at {REDIS_URL} (key prefix sr-test-{RUN_ID})" if self.has_redis
              else f"in-memory rate limits, no Redis tests (Redis unavailable: {self.redis_error})")
        return [f"safe-report database: {db}", f"safe-report redis:    {rd}"]

    def new_database(self, label: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        if self.has_postgres:
            import psycopg

            name = f"safereport_test_{RUN_ID}_{label}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            base = PG_ADMIN_URL.rsplit("/", 1)[0]
            return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
        path = self.tmp / f"{label}.sqlite"
        return f"sqlite:///{path}"

    def drop_databases(self) -> None:
        if not self.has_postgres:
            return
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()
