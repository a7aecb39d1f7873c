"""Real Celery processes for the worker tests: a migrated database, a broker, clean teardown."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.health.models import Heartbeat
from config import load_config
from config.base import PROJECT_ROOT
from tests.backends import REDIS_URL, RUN_ID
from workers.celery_app import celery_settings

BIN = Path(sys.executable).parent
#: Every wait in these tests gives up after this many seconds.
TIMEOUT = 40
#: Settings that must come from the test, never from the shell that runs pytest.
_INHERITED_SETTINGS = ("SAFE_REPORT_ENV", "DATABASE_URL", "REDIS_URL", "INSTANCE_PATH",
                       "SECRET_KEY", "DATA_ENCRYPTION_KEYS", "BLIND_INDEX_KEY",
                       "HEARTBEAT_INTERVAL_SECONDS", "FLASK_APP", "FLASK_DEBUG")


@pytest.fixture(scope="session")
def worker_database(backends) -> str:
    """A database for the worker processes, migrated by ``flask db upgrade`` as in production."""
    url = backends.new_database("workers")
    env = {k: v for k, v in os.environ.items()
           if k not in _INHERITED_SETTINGS and not k.startswith("CELERY_")}
    env.update(SAFE_REPORT_ENV="testing", DATABASE_URL=url,
               INSTANCE_PATH=str(backends.tmp / "workers-migrate"))
    done = subprocess.run([str(BIN / "flask"), "--app", "app", "db", "upgrade"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return url


@dataclass
class WorkerEnv:
    """The environment shared by the worker processes and the test that talks to them."""

    env: dict[str, str]
    tmp: Path

    @property
    def queue(self) -> str:
        return self.env["CELERY_TASK_QUEUE"]

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def sender(self) -> Celery:
        """A Celery app that publishes exactly where the workers consume."""
        settings = load_config("testing", self.env)
        settings.finalise()
        sender = Celery("safe-report-test-sender", set_as_current=False)
        sender.conf.update(celery_settings(settings.as_flask_mapping()))
        return sender

    @contextmanager
    def celery(self, *args: str, name: str) -> Iterator[subprocess.Popen]:
        """Run ``celery -A workers.main ARGS`` until the block ends, logging to a file."""
        log_path = self.tmp / f"{name}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([str(BIN / "celery"), "-A", "workers.main", *args],
                                    cwd=PROJECT_ROOT, env=self.env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log_path  # type: ignore[attr-defined]
        try:
            yield proc
        finally:
            stop(proc)

    def heartbeat(self, name: str) -> Heartbeat | None:
        engine = create_engine(self.database_url)
        try:
            with Session(engine) as session:
                return session.execute(
                    select(Heartbeat).where(Heartbeat.name == name)).scalar_one_or_none()
        finally:
            engine.dispose()


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process, SIGKILL its group if it lingers (pool children included)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what it started
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def log_of(proc: subprocess.Popen) -> str:
    return proc.log_path.read_text(errors="replace")  # type: ignore[attr-defined]


def wait_for(condition: Callable[[], object], what: str, procs: list[subprocess.Popen], *,
             timeout: float = TIMEOUT):  # noqa: ANN201
    """Poll ``condition`` until it is truthy; fail with the processes' logs on timeout or death."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"{proc.args[3:5]} exited ({proc.returncode}) waiting for {what}:\n"
                            + log_of(proc)[-4000:])
        time.sleep(0.05)
    logs = "\n".join(f"--- {p.args[3:5]}\n{log_of(p)[-3000:]}" for p in procs)
    pytest.fail(f"no {what} after {timeout} s\n{logs}")


@pytest.fixture(params=["filesystem", "redis"])
def broker(request, backends, tmp_path) -> Iterator[dict[str, str]]:
    """Broker settings for the worker and sender: the serverless one, and real Redis."""
    if request.param == "filesystem":
        yield {"CELERY_BROKER_URL": "filesystem://",
               "CELERY_BROKER_FOLDER": str(tmp_path / "broker")}
        return
    if not backends.has_redis:
        pytest.skip(f"Redis unreachable at {REDIS_URL} ({backends.redis_error}); "
                    "start it as ../shared/SERVICES.md says to run the Redis worker test")
    import redis

    prefix = f"sr-test-{RUN_ID}-{uuid.uuid4().hex[:6]}:"
    yield {"CELERY_BROKER_URL": REDIS_URL, "CELERY_BROKER_KEY_PREFIX": prefix}
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def worker_keys() -> dict[str, str]:
    """Secrets shared by the worker processes and this one, made for this run."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATA_ENCRYPTION_KEYS": "w1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "BLIND_INDEX_KEY": secrets.token_urlsafe(32),
    }


@pytest.fixture
def make_worker_env(worker_database, worker_keys, tmp_path) -> Callable[..., WorkerEnv]:
    """Return a builder of worker environments on a broker, with a queue unique to the test."""

    def build(broker: dict[str, str], **extra: str) -> WorkerEnv:
        env = {k: v for k, v in os.environ.items()
               if k not in _INHERITED_SETTINGS and not k.startswith("CELERY_")}
        env.update(worker_keys)
        env.update(
            SAFE_REPORT_ENV="testing",
            DATABASE_URL=worker_database,
            INSTANCE_PATH=str(tmp_path / "instance"),
            CELERY_TASK_QUEUE=f"sr-test-{RUN_ID}-{uuid.uuid4().hex[:6]}",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(broker)
        env.update(extra)
        return WorkerEnv(env=env, tmp=tmp_path)

    return build


def worker_args(env: WorkerEnv, *pool: str) -> list[str]:
    return ["worker", "--loglevel", "INFO", *(pool or ("--pool", "solo")),
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-Q", env.queue, "-n", f"{env.queue}@%h"]
