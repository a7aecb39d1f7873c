"""Starting and stopping what the bench measures: gunicorn, Celery workers, an SMTP sink."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench import common

STARTUP_SECONDS = 60


@dataclass
class Gunicorn:
    """A running gunicorn (config/gunicorn.py: 2 sync workers unless told otherwise)."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def workers(self) -> list[int]:
        return common.children(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGINT: gunicorn's quick shutdown; nothing here needs draining.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_gunicorn(env: dict[str, str], *, app: str | None = None, name: str = "web",
                   workers: int = 2, cwd: Path | None = None) -> Gunicorn:
    """Start gunicorn with the project's config on a free port; wait until it answers.

    ``cwd``: serve the code of another checkout of the project (``bench.compare``).
    """
    port = common.free_port()
    env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers),
           # Recycling workers mid-run would drop their CPU time from the meter.
           "WEB_MAX_REQUESTS": "0"}
    log_path = Path(env.get("INSTANCE_PATH", "/tmp")) / f"gunicorn-{name}-{port}.log"
    command = [str(common.VENV_BIN / "gunicorn"), "-c", "config/gunicorn.py"]
    if app:
        command.append(app)
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, cwd=cwd or common.PROJECT_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT)
    server = Gunicorn(process, port, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_tail()}")
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz",
                                             headers={"X-Forwarded-Proto": "https"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200 and len(server.workers) >= workers:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer within {STARTUP_SECONDS} s:\n{server.log_tail()}")


@dataclass
class SmtpSink:
    """A local SMTP server that accepts and counts every message (aiosmtpd)."""

    port: int = 0
    received: int = 0
    recipients: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: object = None

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        with self._lock:
            self.received += 1
            self.recipients.extend(envelope.rcpt_tos)
        return "250 OK"

    def start(self) -> "SmtpSink":
        from aiosmtpd.controller import Controller

        # aiosmtpd's Controller does not take port 0: pick a free one first.
        self.port = common.free_port()
        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()  # type: ignore[attr-defined]
            self._controller = None
