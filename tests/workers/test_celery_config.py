"""The Celery app is built from the Flask settings: broker, queue, beat schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import load_config
from workers.beat import HEARTBEAT_TASK, beat_schedule
from workers.celery_app import celery_settings

pytestmark = pytest.mark.worker

PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 40,
    "DATABASE_URL": "postgresql://sr@db.internal/sr",
    "REDIS_URL": "redis://redis.internal:6379/2",
    "DATA_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
    "MAIL_SERVER": "smtp.internal",
    "SERVER_BASE_URL": "https://report.example",
}


def _settings(name: str, environ: dict[str, str]) -> dict:
    settings = load_config(name, environ)
    settings.finalise()
    return settings.as_flask_mapping()


def test_the_app_celery_runs_the_heartbeat_every_minute_on_the_app_queue(app):
    celery = app.extensions["celery"]

    entry = celery.conf.beat_schedule["heartbeat"]

    celery.loader.import_default_modules()  # what a worker does when it starts
    assert entry["task"] == HEARTBEAT_TASK
    assert HEARTBEAT_TASK in celery.tasks
    assert entry["schedule"] == timedelta(seconds=60)
    assert entry["kwargs"] == {"name": "beat"}
    assert entry["options"]["queue"] == app.config["CELERY_TASK_QUEUE"]
    assert celery.conf.task_default_queue == app.config["CELERY_TASK_QUEUE"]
    # A stale heartbeat expires before the next one is sent.
    assert entry["options"]["expires"] < 60


def test_every_periodic_task_is_one_a_worker_runs(app):
    celery = app.extensions["celery"]
    celery.loader.import_default_modules()

    schedule = celery.conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} <= set(celery.tasks)
    nightly = schedule["audit-chains"]
    assert nightly["task"] == "workers.tasks.maintenance.check_audit_chains"
    assert (nightly["schedule"].hour, nightly["schedule"].minute) == ({3}, {30})


def test_beat_schedule_follows_the_interval():
    entry = beat_schedule("q", 5)["heartbeat"]

    assert entry["schedule"] == timedelta(seconds=5)
    assert entry["options"] == {"queue": "q", "expires": 4.5}


def test_redis_is_broker_and_result_backend_when_redis_url_is_set():
    conf = celery_settings(_settings("production", PRODUCTION_ENV))

    assert conf["broker_url"] == "redis://redis.internal:6379/2"
    assert conf["result_backend"] == "redis://redis.internal:6379/2"
    assert conf["task_acks_late"] is True


def test_celery_broker_url_wins_over_redis_url():
    conf = celery_settings(_settings("production", {
        **PRODUCTION_ENV, "CELERY_BROKER_URL": "redis://other:6379/5",
        "CELERY_BROKER_KEY_PREFIX": "school-a:"}))

    assert conf["broker_url"] == "redis://other:6379/5"
    assert conf["broker_transport_options"] == {"global_keyprefix": "school-a:"}


def test_development_uses_the_filesystem_broker_under_instance(tmp_path):
    conf = celery_settings(_settings("development", {"INSTANCE_PATH": str(tmp_path)}))

    folder = str(tmp_path / "broker")
    assert conf["broker_url"].startswith("filesystem://")
    assert conf["broker_transport_options"] == {
        "data_folder_in": folder, "data_folder_out": folder, "control_folder": folder + "/control",
        "store_processed": False, "polling_interval": 0.1,
    }
    assert (tmp_path / "broker").is_dir()
    assert conf["result_backend"] is None
    assert conf["beat_schedule_filename"] == str(tmp_path / "celerybeat-schedule")


def test_development_uses_redis_when_redis_url_is_set(tmp_path):
    conf = celery_settings(_settings("development", {
        "INSTANCE_PATH": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/3"}))

    assert conf["broker_url"] == "redis://127.0.0.1:6379/3"
    assert not (tmp_path / "broker").exists()


def test_development_broker_folder_can_be_moved(tmp_path):
    conf = celery_settings(_settings("development", {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CELERY_BROKER_FOLDER": str(tmp_path / "elsewhere")}))

    assert conf["broker_transport_options"]["data_folder_in"] == str(tmp_path / "elsewhere")
