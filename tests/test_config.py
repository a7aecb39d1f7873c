"""Settings from the environment: production refuses to start without its secrets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.security import KeyConfigurationError, new_data_key_spec
from config import ConfigurationError, load_config
from config.base import PROJECT_ROOT

REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DATA_ENCRYPTION_KEYS", "MAIL_SERVER",
            "SERVER_BASE_URL")
SECRET = "s" * 48


def production_environ(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    environ = {
        "SECRET_KEY": SECRET,
        "DATABASE_URL": "postgres://safe:pw@db.internal:5432/safe_report",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "DATA_ENCRYPTION_KEYS": new_data_key_spec("k2") + "," + new_data_key_spec("k1"),
        "MAIL_SERVER": "smtp.school.example",
        "SERVER_BASE_URL": "https://report.school.example",
        "INSTANCE_PATH": str(tmp_path),
    }
    for name, value in changes.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return environ


# -- production ------------------------------------------------------------------------
def test_production_without_anything_names_every_missing_variable(tmp_path):
    with pytest.raises(ConfigurationError) as error:
        load_config("production", {"INSTANCE_PATH": str(tmp_path)})
    for name in REQUIRED:
        assert name in error.value.message


@pytest.mark.parametrize("missing", REQUIRED)
def test_production_names_the_one_missing_variable(tmp_path, missing):
    with pytest.raises(ConfigurationError) as error:
        load_config("production", production_environ(tmp_path, **{missing: None}))
    message = error.value.message
    assert missing in message
    assert [name for name in REQUIRED if name in message] == [missing]


def test_blank_value_counts_as_missing(tmp_path):
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        load_config("production", production_environ(tmp_path, REDIS_URL="   "))


def test_complete_production_environ_loads_with_safe_defaults(tmp_path):
    settings = load_config("production", production_environ(tmp_path))
    assert settings.ENV_NAME == "production"
    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.REQUIRE_TWO_FACTOR is True
    assert settings.PREFERRED_URL_SCHEME == "https"
    assert settings.LOG_FORMAT == "json"
    assert settings.DEBUG is False and settings.TESTING is False
    assert settings.SECRET_KEY == SECRET
    assert settings.CELERY_BROKER_URL == "redis://cache.internal:6379/0"
    assert settings.SQLALCHEMY_DATABASE_URI == (
        "postgresql+psycopg://safe:pw@db.internal:5432/safe_report"
    )
    assert settings.SERVER_BASE_URL == "https://report.school.example"
    # Mail goes to the server, encrypted: never to files nobody reads.
    assert settings.MAIL_SERVER == "smtp.school.example" and settings.MAIL_OUTBOX_DIR is None
    assert settings.MAIL_USE_TLS is True and settings.MAIL_USE_SSL is False
    assert settings.MAIL_PORT == 25


def test_production_reads_the_environment_not_the_process(tmp_path, monkeypatch):
    # load_config(environ=...) must not fall back on os.environ for any required value.
    for name in REQUIRED:
        monkeypatch.setenv(name, "from-the-process-" + "x" * 40)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_config("production", production_environ(tmp_path, SECRET_KEY=None))


def test_short_secret_key_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="SECRET_KEY must be at least 32 characters"):
        load_config("production", production_environ(tmp_path, SECRET_KEY="too-short"))


def test_two_factor_and_secure_cookies_can_be_turned_off_only_explicitly(tmp_path):
    settings = load_config("production", production_environ(
        tmp_path, REQUIRE_TWO_FACTOR="false", SESSION_COOKIE_SECURE="0"))
    assert settings.REQUIRE_TWO_FACTOR is False
    assert settings.SESSION_COOKIE_SECURE is False


def test_overrides_count_as_set(tmp_path):
    settings = load_config(
        "production", production_environ(tmp_path, DATABASE_URL=None),
        overrides={"SQLALCHEMY_DATABASE_URI": "sqlite://", "REQUIRE_TWO_FACTOR": False},
    )
    assert settings.SQLALCHEMY_DATABASE_URI == "sqlite://"
    assert settings.REQUIRE_TWO_FACTOR is False


# -- production mail and links --------------------------------------------------------
def test_production_without_a_mail_server_refuses_to_start_rather_than_keep_mail_in_files(
        tmp_path):
    with pytest.raises(ConfigurationError) as error:
        load_config("production", production_environ(tmp_path, MAIL_SERVER=None))

    assert "MAIL_SERVER" in error.value.message


def test_production_never_uses_the_mail_folder_even_when_told_to(tmp_path):
    settings = load_config("production", production_environ(tmp_path),
                           overrides={"MAIL_OUTBOX_DIR": tmp_path / "mail"})

    assert settings.MAIL_OUTBOX_DIR is None


@pytest.mark.parametrize("url", ["http://report.school.example", "report.school.example",
                                 "https://", "https:///path", "ftp://report.school.example"])
def test_production_refuses_a_base_url_that_is_not_https(tmp_path, url):
    with pytest.raises(ConfigurationError) as error:
        load_config("production", production_environ(tmp_path, SERVER_BASE_URL=url))

    assert "SERVER_BASE_URL" in error.value.message and "https://" in error.value.message


def test_production_base_url_may_have_a_path_and_loses_its_trailing_slash(tmp_path):
    settings = load_config("production", production_environ(
        tmp_path, SERVER_BASE_URL="https://school.example/safe-report/"))

    assert settings.SERVER_BASE_URL == "https://school.example/safe-report"


def test_production_refuses_plain_smtp_to_another_host(tmp_path):
    with pytest.raises(ConfigurationError) as error:
        load_config("production", production_environ(tmp_path, MAIL_USE_TLS="0"))

    message = error.value.message
    assert "smtp.school.example" in message
    assert "MAIL_USE_TLS=1" in message and "MAIL_USE_SSL=1" in message


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_production_allows_plain_smtp_to_a_relay_on_this_host(tmp_path, host):
    default = load_config("production", production_environ(tmp_path, MAIL_SERVER=host))
    explicit = load_config("production", production_environ(tmp_path, MAIL_SERVER=host,
                                                            MAIL_USE_TLS="0"))

    assert default.MAIL_USE_TLS is False and explicit.MAIL_USE_TLS is False
    starttls = load_config("production", production_environ(tmp_path, MAIL_SERVER=host,
                                                            MAIL_USE_TLS="1"))
    assert starttls.MAIL_USE_TLS is True


def test_implicit_tls_on_port_465_replaces_starttls(tmp_path):
    settings = load_config("production", production_environ(tmp_path, MAIL_USE_SSL="1"))

    assert settings.MAIL_USE_SSL is True and settings.MAIL_USE_TLS is False
    assert settings.MAIL_PORT == 465
    assert load_config("production", production_environ(
        tmp_path, MAIL_USE_SSL="1", MAIL_PORT="2465")).MAIL_PORT == 2465


def test_starttls_and_implicit_tls_together_are_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="not both"):
        load_config("production", production_environ(tmp_path, MAIL_USE_SSL="1",
                                                     MAIL_USE_TLS="1"))


def test_development_keeps_its_embedded_defaults(tmp_path):
    settings = load_config("development", {"INSTANCE_PATH": str(tmp_path)})

    assert settings.SERVER_BASE_URL == "http://127.0.0.1:5000"
    assert settings.MAIL_SERVER is None and settings.MAIL_OUTBOX_DIR == tmp_path / "mail"
    assert settings.MAIL_USE_TLS is False and settings.MAIL_USE_SSL is False


@pytest.mark.parametrize("value", ["staging", "prod", "Production"])
def test_unknown_environment_name_is_a_clear_error(value):
    with pytest.raises(ConfigurationError) as error:
        load_config(environ={"SAFE_REPORT_ENV": value})
    assert repr(value) in error.value.message
    assert "development, production, testing" in error.value.message


def test_environment_name_comes_from_safe_report_env(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot start in production"):
        load_config(environ={"SAFE_REPORT_ENV": "production", "INSTANCE_PATH": str(tmp_path)})


@pytest.mark.parametrize("name", ["LOGIN_LOCKOUT_THRESHOLD", "STAFF_IDLE_TIMEOUT_MINUTES",
                                  "MAIL_PORT"])
def test_numbers_that_are_not_numbers_are_named(tmp_path, name):
    with pytest.raises(ConfigurationError, match=name):
        load_config("production", production_environ(tmp_path, **{name: "five"}))


# -- data keys -------------------------------------------------------------------------
@pytest.mark.parametrize("keys, message", [
    ("just-some-text", "comma-separated 'id:base64key' pairs"),
    ("k1:" + "QUJD", "must be 32 bytes"),
    ("bad id!:" + new_data_key_spec("x").split(":", 1)[1], "comma-separated 'id:base64key'"),
    (",", "holds no key"),
    ("k1:" + "A" * 43 + "," + "k1:" + "B" * 43, "repeats a key id"),
])
def test_malformed_data_keys_fail_with_a_clear_key_error(tmp_path, keys, message):
    with pytest.raises(KeyConfigurationError) as error:
        load_config("production", production_environ(tmp_path, DATA_ENCRYPTION_KEYS=keys))
    assert message in str(error.value)
    assert "DATA_ENCRYPTION_KEYS" in str(error.value)
    assert isinstance(error.value, ConfigurationError)  # so every entry point exits cleanly


def test_key_error_never_echoes_key_material(tmp_path):
    material = "c2VjcmV0LWtleS1tYXRlcmlhbA"  # 19 bytes: the wrong length
    with pytest.raises(KeyConfigurationError) as error:
        load_config("production", production_environ(tmp_path,
                                                     DATA_ENCRYPTION_KEYS=f"k1:{material}"))
    assert material not in str(error.value)


def test_malformed_keys_are_refused_in_development_too(tmp_path):
    with pytest.raises(KeyConfigurationError):
        load_config("development", {"INSTANCE_PATH": str(tmp_path),
                                    "DATA_ENCRYPTION_KEYS": "k1:short"})


# -- database URLs ---------------------------------------------------------------------
@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
    ("postgresql://u:p@h/d", "postgresql+psycopg://u:p@h/d"),
    ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ("sqlite:////var/lib/x.sqlite", "sqlite:////var/lib/x.sqlite"),
])
def test_database_urls_are_mapped_to_psycopg(tmp_path, given, expected):
    settings = load_config("production", production_environ(tmp_path, DATABASE_URL=given))
    assert settings.SQLALCHEMY_DATABASE_URI == expected


# -- development -----------------------------------------------------------------------
def test_development_makes_private_secrets_once_and_reuses_them(tmp_path):
    first = load_config("development", {"INSTANCE_PATH": str(tmp_path)})

    secrets_file = tmp_path / "dev-secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    stored = json.loads(secrets_file.read_text())
    assert stored["SECRET_KEY"] == first.SECRET_KEY and len(first.SECRET_KEY) >= 32
    assert stored["DATA_ENCRYPTION_KEYS"] == first.DATA_ENCRYPTION_KEYS
    assert first.SQLALCHEMY_DATABASE_URI == f"sqlite:///{tmp_path / 'safe-report.sqlite'}"
    assert first.CELERY_BROKER_URL.startswith("filesystem:")
    assert first.SESSION_COOKIE_SECURE is False and first.REQUIRE_TWO_FACTOR is False
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dev-secrets")]

    second = load_config("development", {"INSTANCE_PATH": str(tmp_path)})
    assert (second.SECRET_KEY, second.DATA_ENCRYPTION_KEYS, second.BLIND_INDEX_KEY) == (
        first.SECRET_KEY, first.DATA_ENCRYPTION_KEYS, first.BLIND_INDEX_KEY)

    other = load_config("development", {"INSTANCE_PATH": str(tmp_path / "elsewhere")})
    assert other.SECRET_KEY != first.SECRET_KEY  # random per checkout, never a default


def test_development_environment_values_win_over_the_secrets_file(tmp_path):
    settings = load_config("development", {"INSTANCE_PATH": str(tmp_path),
                                           "SECRET_KEY": SECRET})
    assert settings.SECRET_KEY == SECRET


@pytest.mark.parametrize("content", ["{not json", "[]", '{"SECRET_KEY": "x"}'])
def test_unreadable_development_secrets_are_a_clear_error(tmp_path, content):
    (tmp_path / "dev-secrets.json").write_text(content)
    with pytest.raises(ConfigurationError) as error:
        load_config("development", {"INSTANCE_PATH": str(tmp_path)})
    assert "dev-secrets.json" in error.value.message
    assert "delete the file" in error.value.message


# -- entry points ----------------------------------------------------------------------
def _run(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": environ["INSTANCE_PATH"],
           "SAFE_REPORT_ENV": "production", **environ}
    return subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


FLASK = str(Path(sys.executable).with_name("flask"))


def test_flask_cli_without_production_settings_exits_cleanly(tmp_path):
    result = _run([FLASK, "--app", "app", "routes"], {"INSTANCE_PATH": str(tmp_path)})

    assert result.returncode != 0
    for name in REQUIRED:
        assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_wsgi_entry_point_with_malformed_keys_exits_cleanly(tmp_path):
    environ = production_environ(tmp_path, DATA_ENCRYPTION_KEYS="k1:not-a-key")
    result = _run([sys.executable, "-c", "import app.wsgi"], environ)

    assert result.returncode != 0
    assert "DATA_ENCRYPTION_KEYS" in result.stderr
    assert "Traceback" not in result.stderr
    assert "not-a-key" not in result.stderr


_COOKIE_PROBE = """
from app import create_app
app = create_app()
response = app.test_client().get("/staff/login", base_url="https://school.example")
print(response.status_code)
print("\\n".join(response.headers.getlist("Set-Cookie")))
"""


def test_production_app_sets_a_secure_http_only_same_site_cookie(tmp_path):
    environ = production_environ(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'p.sqlite'}",
                                 REDIS_URL="redis://127.0.0.1:6379/0")
    result = _run([sys.executable, "-c", _COOKIE_PROBE], environ)

    assert result.returncode == 0, result.stderr
    status, *cookies = result.stdout.strip().splitlines()
    assert status == "200"
    [staff] = [c for c in cookies if c.startswith("sr_staff=")]
    attributes = {part.strip().split("=")[0] for part in staff.split(";")[1:]}
    assert {"Secure", "HttpOnly", "SameSite"} <= attributes
    assert "SameSite=Lax" in staff


@pytest.mark.parametrize("index_key, warned", [(None, True), ("a-separate-blind-index-key-0123456789", False)])
def test_production_warns_when_blind_index_key_is_derived_from_secret_key(tmp_path, index_key,
                                                                         warned):
    environ = production_environ(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'p.sqlite'}",
                                 REDIS_URL="redis://127.0.0.1:6379/0", BLIND_INDEX_KEY=index_key)
    result = _run([sys.executable, "-c", "from app import create_app; create_app()"], environ)

    assert result.returncode == 0, result.stderr
    assert ("BLIND_INDEX_KEY is not set" in result.stderr) is warned
