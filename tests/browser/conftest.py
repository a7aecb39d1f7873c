"""Browser test fixtures: the real service under gunicorn, driven by Debian's Chromium.

The server runs as separate processes, exactly as deployed: migrated with
``flask db upgrade``, seeded with ``flask seed-demo``, served by gunicorn with
the project's own config/gunicorn.py. Playwright cannot download browsers here,
so it is pointed at /usr/bin/chromium (``make test`` installs it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.backends import RUN_ID, Backends

#: Debian's Chromium; BROWSER_TEST_CHROMIUM points elsewhere (e.g. /usr/bin/chromium-browser).
CHROMIUM = Path(os.environ.get("BROWSER_TEST_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
#: Variables passed through from the caller; everything else the server sees is set here,
#: so a developer's own DATABASE_URL or REDIS_URL can never leak into the test server.
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")
DEMO_PASSWORD = "correct horse battery staple 42"
STARTUP_SECONDS = 20
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: `make browser` (or "
                                   "`apt-get install -y chromium`) installs it")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Launch Debian's Chromium headless; Playwright's own download is not available."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM),
            "headless": browser_type_launch_args.get("headless", True), "args": CHROMIUM_ARGS}


@dataclass(frozen=True)
class LiveServer:
    """A running Safe Report: where it answers, and the environment it was started with."""

    url: str
    demo_password: str
    env: dict[str, str]
    database_url: str
    log_path: Path

    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``flask --app app ARGS`` against the server's database and settings."""
        return _run([str(VENV_BIN / "flask"), "--app", "app", *args], self.env, check=check)

    def log_tail(self, lines: int = 40) -> str:
        """Return the end of the server's log, for failure messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _run(command: list[str], env: dict[str, str], *, check: bool = True
         ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command[1:])} failed ({result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}", pytrace=False)
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_healthy(url: str, process: subprocess.Popen, server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode} while starting:\n"
                        f"{server.log_tail()}", pytrace=False)
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"{url}/healthz did not answer within {STARTUP_SECONDS} s:\n"
                f"{server.log_tail()}", pytrace=False)


@pytest.fixture(scope="session")
def live_server(backends: Backends, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[LiveServer]:
    """Migrate and seed a fresh database, serve it with gunicorn, stop it afterwards."""
    from app.security import new_data_key_spec

    tmp = tmp_path_factory.mktemp("live-server")
    database_url = backends.new_database("browser")
    port = _free_port()
    env = {key: os.environ[key] for key in PASSTHROUGH if key in os.environ}
    env.update({
        "SAFE_REPORT_ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": f"browser-tests-{RUN_ID}-secret-key-not-for-production",
        "DATA_ENCRYPTION_KEYS": new_data_key_spec("b1"),
        "BLIND_INDEX_KEY": f"browser-tests-{RUN_ID}-blind-index-key",
        "DEMO_PASSWORD": DEMO_PASSWORD,
        "INSTANCE_PATH": str(tmp / "instance"),
        "RATELIMIT_STORAGE_URI": "memory://",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "4",
        "LOG_LEVEL": "warning",
        "PYTHONUNBUFFERED": "1",
    })
    server = LiveServer(url=f"http://127.0.0.1:{port}", demo_password=DEMO_PASSWORD, env=env,
                        database_url=database_url, log_path=tmp / "gunicorn.log")
    server.flask("db", "upgrade")
    server.flask("seed-demo")

    with server.log_path.open("w") as log:
        process = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.py"],
                                   env=env, cwd=PROJECT_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(server.url, process, server)
        yield server
    finally:
        # SIGINT is gunicorn's quick shutdown: nothing here is worth draining, and the
        # browser's keep-alive connections would otherwise hold a graceful stop open.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict, live_server: LiveServer) -> dict:
    """Resolve relative URLs (``page.goto("/staff/login")``) against the live server."""
    return {**browser_context_args, "base_url": live_server.url}


@pytest.fixture
def phone_page(new_context):  # noqa: ANN001
    """A page in a phone-sized, touch, mobile-viewport context (390 x 844 CSS pixels)."""
    return new_context(**PHONE).new_page()


@pytest.fixture(scope="session")
def server_db(live_server: LiveServer):  # noqa: ANN201
    """An engine on the live server's database, to check what a page stored."""
    from sqlalchemy import create_engine

    engine = create_engine(live_server.database_url)
    yield engine
    engine.dispose()
