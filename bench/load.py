"""The load and soak test: ``python -m bench.load [--seconds 120]``.

50 students submit reports, come back with their case key and send messages;
10 counsellors work the queue, open cases and reply; all at once, against the
production configuration under gunicorn on loopback, for a bounded time.

Afterwards it checks, from the database itself, that nothing was lost or
doubled: every report and message that got a success answer is stored exactly
once (each carries a unique token, found by decrypting the stored text with the
app's keyring), nothing else was stored, and no answer was a server error.
Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from typing import Any

import psycopg

from bench import common, seed
from bench.client import (CASE_KEY, Client, LoadResult, Recorder, csrf, hidden_fields,
                          report_page_fields, sign_in)
from bench.servers import start_gunicorn

LOAD_DB = f"{common.DB_PREFIX}load"
TEMPLATE_CASES = 10_000
CASE_LINK = re.compile(r'href="/staff/cases/(\d+)"')


class Ledger:
    """What the server said it stored: tokens of reports, messages and replies."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reports: set[str] = set()
        self.messages: set[str] = set()
        self.replies: set[str] = set()
        self.checks = 0
        self.conflicts = 0

    def add(self, kind: str, token: str) -> None:
        with self.lock:
            getattr(self, kind).add(token)


def student(ledger: Ledger, schools: int, run: str):  # noqa: ANN201
    """One cycle: report, sign in with the key, read, send one or two messages."""
    def op(client: Client, rec: Recorder, n: int) -> bool:
        rng = random.Random(f"{run}-{n}")
        slug = seed.slug_of(1 + n % schools)
        token = f"load-{run}-r{n}"
        page = rec.request("report form", client.get(f"/s/{slug}/report"))
        form = [*report_page_fields(page), ("is_danger", "no"), ("is_self_harm", "no"),
                ("details", f"{seed._details(rng)} [{token}]"),
                ("reporter_role", "target"), ("identity", "anonymous"),
                ("kinds", rng.choice(seed.KINDS)), ("platforms", rng.choice(seed.PLATFORMS)),
                ("handles-0-platform", "instagram"), ("handles-0-handle", f"@load_{n % 40}")]
        answer = rec.request("submit", client.post(f"/s/{slug}/report", form=form))
        match = CASE_KEY.search(answer.text) if answer.status == 200 else None
        if match is None:
            rec.error(f"submit answered {answer.status}")
            return False
        ledger.add("reports", token)
        key = match.group(1).strip()
        page = rec.request("check form", client.get(f"/s/{slug}/check"))
        answer = rec.request("check", client.post(f"/s/{slug}/check",
                                                  form={"csrf_token": csrf(page), "case_key": key}))
        if answer.status != 303:
            rec.error(f"check answered {answer.status}")
            return False
        for m in range(rng.choice((1, 2))):
            page = rec.request("case page", client.get(f"/s/{slug}/check"))
            with ledger.lock:
                ledger.checks += 1
            fields = hidden_fields(page, "/check/message")
            if page.status != 200 or fields is None:
                rec.error(f"case page answered {page.status} without a message form")
                return False
            message = f"It happened again. [load-{run}-m{n}-{m}]"
            answer = rec.request("message", client.post(f"/s/{slug}/check/message",
                                                        form={**fields, "message": message}))
            if answer.status != 303:
                rec.error(f"message answered {answer.status}")
                return False
            ledger.add("messages", f"load-{run}-m{n}-{m}")
        return True

    return op


def counsellor(ledger: Ledger, run: str):  # noqa: ANN201
    """Work the queue: open the first page, open a case on it, reply to its reporter."""
    def op(client: Client, rec: Recorder, n: int) -> bool:
        rng = random.Random(f"staff-{run}-{n}")
        queue = rec.request("queue", client.get("/staff/cases/"))
        if queue.status != 200:
            rec.error(f"queue answered {queue.status}")
            return False
        ids = CASE_LINK.findall(queue.text)
        if not ids:
            return True
        case_id = rng.choice(ids[:20])
        page = rec.request("case", client.get(f"/staff/cases/{case_id}"))
        if page.status != 200:
            rec.error(f"case page answered {page.status}")
            return False
        fields = hidden_fields(page, f"/staff/cases/{case_id}/reply")
        if fields is None:
            return True  # someone else's case: nothing to reply
        token = f"load-{run}-s{n}"
        answer = rec.request("reply", client.post(
            f"/staff/cases/{case_id}/reply",
            form={**fields, "reply-message": f"Thank you, we are on it. [{token}]"}))
        if answer.status == 302:
            ledger.add("replies", token)
            return True
        if answer.status == 409:
            # Another counsellor changed the case since the page was read: correctly refused.
            with ledger.lock:
                ledger.conflicts += 1
            return True
        rec.error(f"reply answered {answer.status}")
        return False

    return op


def stored_tokens(url: str, *, since: dict[str, int]) -> dict[str, Counter]:
    """Decrypt what was stored after ``since`` and count the tokens in it."""
    import os

    os.environ.update(common.server_env(url))
    from app.security import Keyring

    ring = Keyring(common.DATA_ENCRYPTION_KEYS, common.BLIND_INDEX_KEY)
    token = re.compile(r"\[(load-[^\]]+)\]")
    found: dict[str, Counter] = {"reports": Counter(), "messages": Counter(), "replies": Counter()}
    with psycopg.connect(url) as conn:
        for (blob,) in conn.execute("SELECT details FROM report WHERE id > %s", (since["report"],)):
            found["reports"].update(token.findall(ring.decrypt(bytes(blob), "report.details").decode()))
        for kind, label in (("message_from_reporter", "messages"),
                            ("message_to_reporter", "replies")):
            for (blob,) in conn.execute("SELECT body FROM case_event WHERE id > %s AND kind = %s",
                                        (since["case_event"], kind)):
                found[label].update(token.findall(ring.decrypt(bytes(blob), "case_event.body").decode()))
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--staff", type=int, default=10)
    parser.add_argument("--schools", type=int, default=50)
    args = parser.parse_args(argv)
    template = seed.default_name(TEMPLATE_CASES)
    seed.ensure_seeded(template, schools=args.schools, cases=TEMPLATE_CASES,
                       log=lambda m: print(m, file=sys.stderr))
    common.create_database(LOAD_DB, template=template)
    url = common.database_url(LOAD_DB)
    run = time.strftime("%H%M%S")
    ledger = Ledger()
    server = start_gunicorn(common.server_env(url), name="load")
    try:
        with psycopg.connect(url) as conn:
            since = {t: conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0]
                     for t in ("report", "case_event")}
        staff_schools = min(args.staff, args.schools)
        results: dict[str, LoadResult] = {}

        def students() -> None:
            from bench.client import run_load

            results["students"] = run_load(lambda i: Client(server.port),
                                           student(ledger, staff_schools, run),
                                           concurrency=args.students, seconds=args.seconds)

        def staff() -> None:
            from bench.client import run_load

            results["staff"] = run_load(
                lambda i: Client(server.port), counsellor(ledger, run), concurrency=args.staff,
                seconds=args.seconds,
                setup=lambda c, i: sign_in(c, seed.staff_email(1 + i % args.schools, "counsellor3"),
                                           common.STAFF_PASSWORD))

        print(f"load: {args.students} students and {args.staff} counsellors for "
              f"{args.seconds:.0f} s", file=sys.stderr)
        threads = [threading.Thread(target=students), threading.Thread(target=staff)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.stop()
    found = stored_tokens(url, since=since)
    # Every school written to keeps one unbroken audit chain up to its head (app.audit).
    chains = seed.verify_chains(url, list(range(1, staff_schools + 1)))
    common.drop_database(LOAD_DB)

    statuses = results["students"].statuses + results["staff"].statuses
    server_errors = sum(v for k, v in statuses.items() if k >= 500)
    checks = {}
    for kind in ("reports", "messages", "replies"):
        answered = getattr(ledger, kind)
        stored = found[kind]
        checks[kind] = {
            "successful_answers": len(answered), "stored": sum(stored.values()),
            "missing": len(answered - set(stored)),
            "doubled": sum(1 for n in stored.values() if n > 1),
            "stored_without_success_answer": len(set(stored) - answered)}
    requests = {name: {label: {"count": len(v), "p50_ms": round(common.percentile(v, 50) * 1000, 1),
                               "p95_ms": round(common.percentile(v, 95) * 1000, 1)}
                       for label, v in r.requests.items()} for name, r in results.items()}
    summary: dict[str, Any] = {
        "seconds": args.seconds, "students": args.students, "staff": args.staff,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": server_errors, "checks_of_case_page": ledger.checks,
        "reply_conflicts_409": ledger.conflicts, "stored": checks,
        "audit_chains_intact": f"{sum(chains.values())} of {len(chains)}", "requests": requests,
        "errors": (results["students"].errors + results["staff"].errors)[:10],
        "failed_operations": sum(1 for r in results.values() for _, _, ok in r.ops if not ok)}
    ok = server_errors == 0 and all(
        c["missing"] == 0 and c["doubled"] == 0 and c["stored_without_success_answer"] == 0
        for c in checks.values()) and all(chains.values())
    summary["passed"] = ok
    print(json.dumps(summary, indent=2))
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (common.RESULTS_DIR / f"load-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps(summary, indent=2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
