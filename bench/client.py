"""A small HTTP client for the bench: one cookie jar per simulated person, no browser.

Built on :mod:`http.client` so its own cost is small and known. Every request
says it came through a TLS proxy (``X-Forwarded-Proto: https``), as production
traffic does, so the production settings (secure cookies, HTTPS redirects) apply.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urlsplit

import pyotp

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CASE_KEY = re.compile(r'data-case-key>([^<]+)<')
FORM_ID = re.compile(r'name="form_id" type="hidden" value="([^"]+)"')


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def location(self) -> str | None:
        where = self.headers.get("Location")
        if where is None:
            return None
        parts = urlsplit(where)
        return parts.path + (f"?{parts.query}" if parts.query else "")


class Client:
    """One simulated person: a keep-alive connection (when the server allows) and cookies."""

    def __init__(self, port: int, *, timeout: float = 30) -> None:
        self.port = port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, *, form: Any = None, json_body: Any = None,
                headers: dict[str, str] | None = None) -> Response:
        body = None
        send = {"Host": "safe-report.bench.invalid", "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "127.0.0.1", **(headers or {})}
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            send["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            send["Content-Type"] = "application/json"
        if self.cookies:
            send["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=send)
                raw = self.conn.getresponse()
                data = raw.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed a kept-alive connection between requests: reconnect once.
                self.conn.close()
                if attempt == 2:
                    raise
        seconds = time.perf_counter() - started
        for header in raw.headers.get_all("Set-Cookie") or []:
            self._remember(header)
        if raw.will_close:
            self.conn.close()
        return Response(raw.status, raw.headers, data, seconds)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def _remember(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        lowered = attributes.lower()
        if not value or "max-age=0" in lowered or "expires=thu, 01 jan 1970" in lowered:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def close(self) -> None:
        self.conn.close()


def csrf(page: Response) -> str:
    match = CSRF.search(page.text)
    if match is None:
        raise AssertionError(f"no CSRF token in the page (status {page.status})")
    return match.group(1)


def report_page_fields(page: Response) -> list[tuple[str, str]]:
    """What a browser sends back from the report form besides the answers: the CSRF token
    and the page's form id (the server refuses a form id sent before)."""
    match = FORM_ID.search(page.text)
    return [("csrf_token", csrf(page))] + ([("form_id", match.group(1))] if match else [])


class _Forms(HTMLParser):
    """Every form on a page: its action and the hidden inputs it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._current = {}
            self.forms.append((a.get("action") or "", self._current))
        elif tag == "input" and self._current is not None and a.get("type") == "hidden":
            self._current[a.get("name") or ""] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def hidden_fields(page: Response, action_suffix: str) -> dict[str, str] | None:
    """The hidden inputs of the first form whose action ends with ``action_suffix``."""
    parser = _Forms()
    parser.feed(page.text)
    for action, fields in parser.forms:
        if action.endswith(action_suffix):
            return fields
    return None


# -- staff sign-in -------------------------------------------------------------------------
def sign_in(client: Client, email: str, password: str, *, totp_secret: str | None = None) -> None:
    """Sign in through the login form (and the TOTP step when the account has one)."""
    page = client.get("/staff/login")
    answer = client.post("/staff/login", form={"csrf_token": csrf(page), "email": email,
                                               "password": password})
    if answer.status != 302:
        raise AssertionError(f"sign-in of {email} failed: {answer.status}")
    if answer.location and answer.location.startswith("/staff/login/two-factor"):
        if totp_secret is None:
            raise AssertionError(f"{email} needs a TOTP code")
        totp = pyotp.TOTP(totp_secret)
        for _ in range(3):
            page = client.get("/staff/login/two-factor")
            answer = client.post("/staff/login/two-factor",
                                 form={"csrf_token": csrf(page), "code": totp.now()})
            if answer.status == 302:
                break
            # Each time step is accepted once: a code just used waits for the next step.
            time.sleep(totp.interval - time.time() % totp.interval + 0.5)
        else:
            raise AssertionError(f"the TOTP step of {email} failed: {answer.status}")
    if answer.location and "/login" in answer.location:
        raise AssertionError(f"sign-in of {email} did not finish (sent to {answer.location})")


# -- a bounded load --------------------------------------------------------------------------
@dataclass
class LoadResult:
    seconds: float
    #: One entry per operation: (started offset, seconds, ok).
    ops: list[tuple[float, float, bool]] = field(default_factory=list)
    #: Latencies of single requests, by label ("get form", "post"...).
    requests: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(1 for _, _, ok in self.ops if ok)

    @property
    def request_count(self) -> int:
        return sum(len(v) for v in self.requests.values())


class Recorder:
    """Thread-safe collection of what the load threads saw."""

    def __init__(self, result: LoadResult) -> None:
        self.result = result
        self.lock = threading.Lock()

    def request(self, label: str, response: Response) -> Response:
        with self.lock:
            self.result.requests.setdefault(label, []).append(response.seconds)
            self.result.statuses[response.status] += 1
        return response

    def error(self, message: str) -> None:
        with self.lock:
            if len(self.result.errors) < 50:
                self.result.errors.append(message)


def run_load(make_client: Callable[[int], Client],
             operation: Callable[[Client, Recorder, int], bool], *, concurrency: int,
             seconds: float, max_ops: int | None = None,
             setup: Callable[[Client, int], None] | None = None,
             result: LoadResult | None = None) -> LoadResult:
    """Run ``operation`` from ``concurrency`` threads for ``seconds`` (or ``max_ops`` in all).

    Each thread has its own client (its own cookies). Returns every operation's
    latency and outcome; an exception in an operation counts as a failure. Pass
    ``result`` to watch it fill while the load runs.
    """
    result = result if result is not None else LoadResult(seconds=0.0)
    recorder = Recorder(result)
    clients = [make_client(i) for i in range(concurrency)]
    if setup is not None:
        for i, c in enumerate(clients):
            setup(c, i)
    counter = iter(range(max_ops if max_ops is not None else 10**12))
    counter_lock = threading.Lock()
    stop_at = 0.0
    begin = 0.0

    def worker(i: int) -> None:
        client = clients[i]
        while time.perf_counter() < stop_at:
            with counter_lock:
                n = next(counter, None)
            if n is None:
                return
            started = time.perf_counter()
            try:
                ok = operation(client, recorder, n)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                ok = False
                recorder.error(f"{type(exc).__name__}: {exc}")
                client.conn.close()
            ended = time.perf_counter()
            with recorder.lock:
                result.ops.append((started - begin, ended - started, ok))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    begin = time.perf_counter()
    stop_at = begin + seconds
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    result.seconds = time.perf_counter() - begin
    for c in clients:
        c.close()
    return result
