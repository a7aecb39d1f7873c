"""A real ``celery worker`` (and ``celery beat``) runs tasks through a real broker."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from app.db import utcnow
from config.base import PROJECT_ROOT
from tests.workers.conftest import log_of, wait_for, worker_args
from workers.beat import HEARTBEAT_TASK

pytestmark = pytest.mark.worker


def _ppid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def test_worker_runs_a_task_sent_by_name_inside_the_app_context(broker, make_worker_env):
    env = make_worker_env(broker)
    tag = f"test-{uuid.uuid4().hex[:8]}"
    started = utcnow()

    with env.celery(*worker_args(env), name="worker") as worker:
        wait_for(lambda: " ready." in log_of(worker), what="worker ready", procs=[worker])
        sender = env.sender()
        try:
            sender.send_task(HEARTBEAT_TASK, kwargs={"name": tag}, queue=env.queue)
        finally:
            sender.close()
        beat = wait_for(lambda: env.heartbeat(tag), what=f"heartbeat {tag!r}", procs=[worker])
        log = log_of(worker)

    # The worker process wrote it (the heartbeat service records host and pid), through
    # db.session, which works only inside the app context that FlaskTask pushes.
    assert beat.seen_by == f"{socket.gethostname()}:{worker.pid}"
    assert beat.seen_by != f"{socket.gethostname()}:{os.getpid()}"
    assert started <= beat.last_seen_dt <= utcnow()
    assert f"Task {HEARTBEAT_TASK}[" in log and "succeeded" in log
    assert "Traceback" not in log
    # Task arguments and results stay out of the logs (they could one day hold personal data).
    assert "kwargs" not in log and "return_value" not in log
    transport = "filesystem" if broker["CELERY_BROKER_URL"].startswith("filesystem") else "redis"
    assert f"Connected to {transport}://" in log
    if transport == "filesystem":
        # Everything the broker keeps is under its folder, nothing in the working directory.
        folder = Path(broker["CELERY_BROKER_FOLDER"])
        assert (folder / "control" / f"{env.queue}.exchange").is_file()
        assert not (PROJECT_ROOT / "control" / f"{env.queue}.exchange").exists()
    else:
        # Every key the run made is under its prefix, so parallel runs never meet.
        import redis

        prefix = broker["CELERY_BROKER_KEY_PREFIX"]
        with redis.Redis.from_url(broker["CELERY_BROKER_URL"]) as client:
            keys = {k.decode() for k in client.scan_iter(match=f"*{env.queue}*")}
        assert f"{prefix}_kombu.binding.{env.queue}" in keys
        assert all(key.startswith(prefix) for key in keys), keys


def test_beat_schedules_the_heartbeat_and_a_prefork_worker_records_it(make_worker_env, tmp_path):
    # The broker, pool and processes of `make run`, with a one-second beat interval.
    env = make_worker_env({"CELERY_BROKER_URL": "filesystem://",
                           "CELERY_BROKER_FOLDER": str(tmp_path / "broker")},
                          HEARTBEAT_INTERVAL_SECONDS="1")
    started = utcnow()

    with env.celery(*worker_args(env, "--pool", "prefork", "--concurrency", "1"),
                    name="worker") as worker, \
         env.celery("beat", "--loglevel", "INFO", name="beat") as beat_proc:
        beat = wait_for(
            lambda: (row := env.heartbeat("beat")) and row.last_seen_dt >= started and row,
            what="heartbeat from beat", procs=[worker, beat_proc])
        # A prefork pool runs the task in a child of the worker's main process.
        pid = int(beat.seen_by.rsplit(":", 1)[1])
        assert pid != worker.pid and _ppid(pid) == worker.pid
        beat_log = log_of(beat_proc)

    assert beat.seen_by.startswith(socket.gethostname() + ":")
    assert "beat: Starting..." in beat_log
    assert f"Sending due task heartbeat ({HEARTBEAT_TASK})" in beat_log
    # beat keeps its schedule state in the instance folder (a shelve: one or more files).
    assert list(Path(env.env["INSTANCE_PATH"]).glob("celerybeat-schedule*"))
