"""/healthz, /readyz and ``flask workers-status`` against working and broken backends."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest

from app.db import utcnow
from app.extensions import db
from app.health.cli import format_age, workers_status
from app.health.models import Heartbeat
from config import load_config
from tests.backends import REDIS_URL
from tests.conftest import make_test_app

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"
CLOSED_PORT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/safereport_nowhere"


@pytest.fixture
def other_app(app, backends):
    """Build apps like the test app with some settings changed, and undo their globals after.

    They share the test app's keys, so the process-wide keyring stays the same, and
    the test app's Celery app is made current again at the end.
    """
    built = []
    keys = {k: app.config[k] for k in ("SECRET_KEY", "DATA_ENCRYPTION_KEYS", "BLIND_INDEX_KEY")}

    def build(database_url: str | None = None, **overrides):
        other = make_test_app(backends, database_url or app.config["SQLALCHEMY_DATABASE_URI"],
                              **keys, **overrides)
        built.append(other)
        return other

    yield build
    for other in built:
        with other.app_context():
            db.engine.dispose()
    celery = app.extensions["celery"]
    celery.set_current()
    celery.set_default()


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and then never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def timed_get(app, url: str):
    started = time.monotonic()
    response = app.test_client().get(url)
    return response, time.monotonic() - started


# --- /healthz ---------------------------------------------------------------------------


def test_healthz_answers_ok_even_when_the_database_and_broker_are_down(other_app):
    broken = other_app(CLOSED_PORT_POSTGRES, CELERY_BROKER_URL=CLOSED_PORT_REDIS)

    response, elapsed = timed_get(broken, "/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert elapsed < 1


# --- /readyz ----------------------------------------------------------------------------


def test_readyz_is_ok_with_the_filesystem_broker(other_app, tmp_path):
    ready = other_app(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_FOLDER=str(tmp_path))

    response = ready.test_client().get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    assert ready.config["CELERY_BROKER_TRANSPORT_OPTIONS"]["data_folder_in"] == str(tmp_path)


def test_readyz_is_ok_with_redis(other_app, backends):
    if not backends.has_redis:
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {backends.redis_error}")
    ready = other_app(CELERY_BROKER_URL=REDIS_URL)

    response = ready.test_client().get("/readyz")

    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_readyz_names_the_broker_when_redis_refuses(other_app):
    broken = other_app(CELERY_BROKER_URL="redis://:s3cret@127.0.0.1:1/0")

    response, elapsed = timed_get(broken, "/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["broker"]
    assert elapsed < 2
    assert "s3cret" not in response.get_data(as_text=True)


def test_readyz_names_the_broker_when_its_folder_is_gone(other_app, tmp_path):
    folder = tmp_path / "broker"
    broken = other_app(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_FOLDER=str(folder))
    folder.rmdir()

    response = broken.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["down"] == ["broker"]


def test_readyz_gives_up_on_a_redis_that_never_answers(other_app, silent_port):
    broken = other_app(CELERY_BROKER_URL=f"redis://127.0.0.1:{silent_port}/0")

    response, elapsed = timed_get(broken, "/readyz")

    assert response.status_code == 503
    assert response.get_json()["down"] == ["broker"]
    assert elapsed < 5


@pytest.mark.parametrize("database_url", [
    CLOSED_PORT_POSTGRES,
    "sqlite:////nonexistent-safe-report-dir/nowhere.sqlite",
], ids=["postgres-closed-port", "sqlite-missing-directory"])
def test_readyz_names_the_database_when_it_is_unreachable(other_app, database_url):
    broken = other_app(database_url)

    response, elapsed = timed_get(broken, "/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body == {"status": "unavailable", "down": ["database"],
                    "reasons": {"database": "OperationalError"}}
    assert elapsed < 2
    assert "nowhere" not in response.get_data(as_text=True)


def test_readyz_gives_up_on_a_postgres_that_never_answers(other_app, silent_port):
    broken = other_app(f"postgresql+psycopg://postgres@127.0.0.1:{silent_port}/x")

    response, elapsed = timed_get(broken, "/readyz")

    assert response.status_code == 503
    assert response.get_json()["down"] == ["database"]
    assert elapsed < 5


def test_readyz_names_both_when_both_are_down(other_app):
    broken = other_app(CLOSED_PORT_POSTGRES, CELERY_BROKER_URL=CLOSED_PORT_REDIS)

    response = broken.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["down"] == ["broker", "database"]


def test_postgres_connections_time_out_after_two_seconds_by_default():
    settings = load_config("testing", {"DATABASE_URL": "postgres://u@db.example/sr"})
    settings.finalise()

    options = settings.as_flask_mapping()["SQLALCHEMY_ENGINE_OPTIONS"]

    assert options["connect_args"] == {"connect_timeout": 2}
    assert options["hide_parameters"] is True


# --- flask workers-status ---------------------------------------------------------------


def test_workers_status_lists_heartbeats_with_age_and_flags_stale_ones(app, session):
    now = utcnow()
    session.add_all([
        Heartbeat(name="beat", last_seen_dt=now - timedelta(seconds=42), seen_by="web-1:4242"),
        Heartbeat(name="old-job", last_seen_dt=now - timedelta(hours=2, minutes=5),
                  seen_by="web-2:99"),
    ])
    session.commit()

    result = app.test_cli_runner().invoke(args=["workers-status"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "database: ok"
    assert lines[1].startswith("broker:   ok ")
    beat_line = next(line for line in lines if line.strip().startswith("beat "))
    old_line = next(line for line in lines if line.strip().startswith("old-job "))
    assert "by web-1:4242" in beat_line and "42s ago" in beat_line
    assert "STALE" not in beat_line
    assert "by web-2:99" in old_line and "2h 5m ago" in old_line and "STALE" in old_line


def test_workers_status_says_when_no_heartbeat_has_come_yet(app, session):
    result = app.test_cli_runner().invoke(workers_status)

    assert result.exit_code == 0, result.output
    assert "heartbeats: none yet (beat asks for one every 60 s)" in result.output


def test_workers_status_fails_and_names_a_broker_that_is_down(other_app):
    broken = other_app(CELERY_BROKER_URL="redis://:s3cret@127.0.0.1:1/0")

    result = broken.test_cli_runner().invoke(args=["workers-status"])

    assert result.exit_code == 1
    assert "database: ok" in result.output
    assert "broker:   DOWN (OperationalError) redis://:**@127.0.0.1:1/0" in result.output
    assert "s3cret" not in result.output


def test_workers_status_fails_when_the_database_is_down(other_app):
    broken = other_app(CLOSED_PORT_POSTGRES)

    result = broken.test_cli_runner().invoke(args=["workers-status"])

    assert result.exit_code == 1
    assert "database: DOWN (OperationalError)" in result.output
    assert "heartbeats: unknown, the database is down" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59, "59s"), (60, "1m 0s"), (303, "5m 3s"), (7440, "2h 4m"), (266400, "3d 2h"),
    (-5, "0s"),
])
def test_format_age(seconds, text):
    assert format_age(timedelta(seconds=seconds)) == text
