"""What every bench module shares: databases, settings, process meters and statistics.

The bench only ever creates, reads and drops PostgreSQL databases whose names
start with ``safereport_bench_``, and uses its own Redis database number and key
prefix, so it can run beside the test suite without touching its data.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import socket
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"

#: Any database of the server will do for CREATE/DROP DATABASE; never written to.
ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
DB_PREFIX = "safereport_bench_"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/9"
#: Celery and the rate limiter keep their keys under this prefix in the bench's Redis database.
REDIS_PREFIX = "safereport-bench:"

# Fixed, public keys: seeded databases are reused across runs, so the keys must be
# too. They protect nothing but generated data and must never be used for real.
SECRET_KEY = "safe-report-bench-secret-key-never-use-in-production"
DATA_ENCRYPTION_KEYS = "bench1:" + base64.urlsafe_b64encode(
    hashlib.sha256(b"safe-report bench data key v1").digest()).decode()
BLIND_INDEX_KEY = "safe-report-bench-blind-index-key-never-use-in-production"
#: Every seeded staff account has this password.
STAFF_PASSWORD = "bench staff password 2024"

#: Variables passed through to the servers; everything else they see is set here.
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


# -- databases --------------------------------------------------------------------------
def database_url(name: str) -> str:
    _check_name(name)
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def _check_name(name: str) -> None:
    if not name.startswith(DB_PREFIX) or not name.replace("_", "").isalnum():
        raise ValueError(f"bench databases are named {DB_PREFIX}<letters, digits, _>, not {name!r}")


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def _admin() -> psycopg.Connection:
    return psycopg.connect(ADMIN_URL, autocommit=True)


def database_exists(name: str) -> bool:
    _check_name(name)
    with _admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def create_database(name: str, *, template: str | None = None) -> None:
    """Create ``name`` (dropping a previous one); ``template`` copies a seeded database."""
    _check_name(name)
    drop_database(name)
    with _admin() as conn:
        if template is not None:
            _check_name(template)
            # A template must have no other sessions while it is copied.
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE datname = %s AND pid <> pg_backend_pid()", (template,))
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    _check_name(name)
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def server_env(database_url_: str, **extra: str) -> dict[str, str]:
    """The environment of a production server (web or worker) against a bench database."""
    env = {key: os.environ[key] for key in PASSTHROUGH if key in os.environ}
    instance = Path(os.environ.get("BENCH_INSTANCE") or "/tmp/safereport-bench-instance")
    instance.mkdir(parents=True, exist_ok=True)
    env.update({
        "SAFE_REPORT_ENV": "production",
        "DATABASE_URL": database_url_,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_KEY_PREFIX": REDIS_PREFIX,
        "CELERY_TASK_QUEUE": "safereport-bench",
        "RATELIMIT_KEY_PREFIX": REDIS_PREFIX + "ratelimit",
        "RATELIMIT_ENABLED": "0",
        "SECRET_KEY": SECRET_KEY,
        "DATA_ENCRYPTION_KEYS": DATA_ENCRYPTION_KEYS,
        "BLIND_INDEX_KEY": BLIND_INDEX_KEY,
        # The web processes never send mail; a closed port makes a mistake loud.
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": "9",
        "INSTANCE_PATH": str(instance),
        # As deployed behind a TLS proxy: the bench client sends X-Forwarded-Proto.
        "PROXY_FIX_X_FOR": "1",
        "SERVER_BASE_URL": "https://safe-report.bench.invalid",
        "LOG_LEVEL": "info",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def migrate(url: str) -> None:
    """Create or update the schema the way a deployment does: ``flask db upgrade``."""
    result = subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "db", "upgrade"],
                            env=server_env(url), cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{result.stdout}\n{result.stderr}")


# -- processes --------------------------------------------------------------------------
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    # Fields after the command: state is [0], utime [11], stime [12].
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def backend_pids(dbname: str) -> list[int]:
    """PostgreSQL server processes serving ``dbname`` now (to add database CPU to the app's)."""
    with _admin() as conn:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,))]


class CpuMeter:
    """CPU seconds spent by some processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids_of) -> None:  # noqa: ANN001 - a callable returning pids
        self.pids_of = pids_of
        self.before: dict[int, float] = {}

    def start(self) -> None:
        self.before = {pid: cpu_seconds(pid) for pid in self.pids_of()}

    def stop(self) -> float:
        after = {pid: cpu_seconds(pid) for pid in self.pids_of()}
        # A process that appeared meanwhile counts from zero.
        return sum(t - self.before.get(pid, 0.0) for pid, t in after.items())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- statistics -------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Iterable[float | None], digits: int = 2) -> dict[str, Any]:
    """Median of repeated runs with its spread (min and max)."""
    clean = [v for v in values if v is not None]
    if not clean:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {"median": round(statistics.median(clean), digits), "min": round(min(clean), digits),
            "max": round(max(clean), digits), "runs": len(clean)}


def fmt(stat: dict[str, Any] | None, unit: str = "") -> str:
    """``12.3 (11.9–13.0) unit`` for a table cell."""
    if not stat or stat.get("median") is None:
        return "n/a"
    if stat["runs"] == 1:
        return f"{stat['median']:g}{unit}"
    return f"{stat['median']:g} ({stat['min']:g}–{stat['max']:g}){unit}"
