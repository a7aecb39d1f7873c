"""Small helpers for tests: HTTP forms, sign-in, counting SQL statements, writers at once."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable

from sqlalchemy import event

from tests.factories import PASSWORD

_ADDRESSES = itertools.count(1)


def unique_address() -> str:
    """A client address no other test of the run uses: rate limits are counted per address."""
    n = next(_ADDRESSES)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client, url: str) -> str:  # noqa: ANN001
    response = client.get(url)
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {url} (status {response.status_code})"
    return match.group(1)


def sign_in(client, user, password: str = PASSWORD):  # noqa: ANN001
    token = csrf_token(client, "/staff/login")
    return client.post("/staff/login", data={"csrf_token": token, "email": user.email,
                                             "password": password})


def post_form(client, url: str, data: dict, *, form_url: str | None = None):  # noqa: ANN001
    token = csrf_token(client, form_url or url)
    return client.post(url, data={"csrf_token": token, **data})


class StatementCounter:
    """Collects the SQL statements sent through the engine while active.

    With ``work_only``, transaction control (BEGIN, SAVEPOINT, RELEASE, ROLLBACK)
    is left out, since the test session turns each request's transaction into a
    savepoint, and whitespace is squeezed.
    """

    _CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")

    def __init__(self, engine, *, work_only: bool = False) -> None:  # noqa: ANN001
        self.engine = engine
        self.work_only = work_only
        self.statements: list[str] = []

    def _count(self, conn, cursor, statement, *args) -> None:  # noqa: ANN001, ANN002
        if not self.work_only:
            self.statements.append(statement)
        elif not statement.lstrip().upper().startswith(self._CONTROL):
            self.statements.append(" ".join(statement.split()))

    def __enter__(self) -> "StatementCounter":
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        event.remove(self.engine, "before_cursor_execute", self._count)


def all_at_once(work: Callable[[int], None], writers: int, *,
                timeout: float = 60) -> list[BaseException]:
    """Run ``work(0)`` ... ``work(writers - 1)`` in threads released together; what they raised."""
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            start.wait()
            work(writer)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors
